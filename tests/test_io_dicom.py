"""DICOM loading: slice sorting, rescale, MONOCHROME1, series handling, 4D, mosaics, enhanced, codecs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import (
    MissingDependencyError,
    MultipleSeriesError,
    ScanReadError,
    UnsupportedFormatError,
)
from mediqa_sdk.io import discover_inputs, load_input, load_scan
from mediqa_sdk.io._stack import LazyStack

from .io_fixtures import (
    CORONAL,
    SAGITTAL,
    new_uid,
    write_dicom_file,
    write_dicom_no_pixels,
    write_dicom_series,
    write_dicomdir,
    write_enhanced_dicom,
    write_mosaic_dicom,
    write_nifti,
)


def _numbered_volume(n: int = 6, rows: int = 8, cols: int = 10) -> np.ndarray:
    """Slice k holds the stored value 100 * (k + 1) everywhere."""
    return np.stack([np.full((rows, cols), 100 * (k + 1), np.int16) for k in range(n)])


def _slice_values(scan) -> list[float]:  # type: ignore[no-untyped-def]
    return [float(np.asarray(scan.slices[k]).mean()) for k in range(scan.n_slices)]


def test_sorted_by_position_not_names_or_instance_numbers(tmp_path: Path) -> None:
    vol = _numbered_volume()
    write_dicom_series(
        tmp_path / "ct",
        vol,
        (2.5, 0.5, 0.5),
        slope=1.0,
        intercept=0.0,
        shuffle_names=True,
        shuffle_instances=True,
        seed=3,
    )
    scan = load_scan(tmp_path / "ct")
    assert _slice_values(scan) == [100.0 * (k + 1) for k in range(6)]
    assert scan.spacing == pytest.approx((2.5, 0.5, 0.5))
    assert scan.axis == "axial" and scan.dim == "3d" and scan.format == "dicom"
    assert scan.warnings == ()


def test_rescale_to_hounsfield_units(tmp_path: Path) -> None:
    hu = np.array([[-1000, 0], [40, 1000]], dtype=np.int16)
    stored = ((hu + 1024) // 2).astype(np.int16)  # slope 2, intercept -1024
    write_dicom_series(tmp_path / "ct", np.stack([stored, stored]), slope=2.0, intercept=-1024.0)
    scan = load_scan(tmp_path / "ct")
    np.testing.assert_array_equal(scan.slices[0], hu.astype(np.float32))
    assert scan.slices[0].dtype == np.float32


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    stored = np.array([[0, 1000], [4095, 2000]], dtype=np.uint16)
    path = write_dicom_file(
        tmp_path / "cr.dcm", stored, modality="CR", photometric="MONOCHROME1", BitsStored=12, HighBit=11
    )
    scan = load_scan(path)
    np.testing.assert_array_equal(scan.slices[0], (4095 - stored).astype(np.float32))


def test_pixels_are_decoded_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    calls: list[object] = []
    real = pydicom.pixels.pixel_array

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", counting)
    write_dicom_series(tmp_path / "s", _numbered_volume(8, 16, 16))
    scan = load_scan(tmp_path / "s")
    assert isinstance(scan.slices, LazyStack) and calls == []
    assert scan.slices[3].shape == (16, 16) and len(calls) == 1
    assert scan.slices[:, ::4, ::4].shape == (8, 4, 4)


def test_sha256_and_files_in_slice_order(tmp_path: Path) -> None:
    paths = write_dicom_series(tmp_path / "s", _numbered_volume(4), shuffle_names=True, seed=5)
    scan = load_scan(tmp_path / "s")
    assert scan.files == tuple(paths)
    assert scan.sha256 == hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()
    assert len(scan.metadata["sop_instance_uids"]) == 4


def test_metadata_keys(tmp_path: Path) -> None:
    write_dicom_series(
        tmp_path / "s",
        _numbered_volume(3),
        modality="CT",
        description="CHEST 1mm",
        series_number=3,
        extra={
            "KVP": "120",
            "XRayTubeCurrent": 200,
            "ExposureTime": 500,
            "BodyPartExamined": "CHEST",
            "ConvolutionKernel": "B30f",
            "Manufacturer": "ACME",
            "CTDIvol": 5.5,
        },
    )
    meta = load_scan(tmp_path / "s").metadata
    assert meta["modality"] == "ct" and meta["body_part"] == "CHEST"
    assert meta["series_description"] == "CHEST 1mm" and meta["series_number"] == 3
    assert meta["kvp"] == 120.0 and meta["tube_current_ma"] == 200.0 and meta["ctdi_vol"] == 5.5
    assert meta["exposure_mas"] == pytest.approx(100.0)  # 200 mA x 500 ms
    assert meta["convolution_kernel"] == "B30f" and meta["manufacturer"] == "ACME"
    assert meta["photometric"] == "MONOCHROME2" and "series_uid" in meta
    assert "protocol_name" not in meta  # only keys present in the header


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    study = new_uid(99)
    write_dicom_series(
        tmp_path / "study",
        _numbered_volume(3),
        series_number=2,
        description="SOFT",
        prefix="A",
        study_uid=study,
        seed=1,
    )
    write_dicom_series(
        tmp_path / "study",
        _numbered_volume(5),
        series_number=3,
        description="LUNG",
        prefix="B",
        study_uid=study,
        seed=2,
    )
    items, failures = discover_inputs([tmp_path / "study"])
    assert failures == []
    assert [i.label for i in items] == ["study [series 2: SOFT]", "study [series 3: LUNG]"]
    assert [len(i.files) for i in items] == [3, 5]
    with pytest.raises(MultipleSeriesError) as info:
        load_scan(tmp_path / "study")
    assert len(info.value.series) == 2 and "\n" not in str(info.value)
    assert {s[2] for s in info.value.series} == {3, 5}
    assert load_scan(tmp_path / "study", series="3").n_slices == 5
    assert load_scan(tmp_path / "study", series=items[0].series_uid).n_slices == 3
    with pytest.raises(MultipleSeriesError, match="no DICOM series '9'"):
        load_scan(tmp_path / "study", series="9")


def test_mixed_sizes_in_one_uid_are_split(tmp_path: Path) -> None:
    uid = new_uid(5)
    write_dicom_series(tmp_path / "d", _numbered_volume(4, 8, 8), series_uid=uid, prefix="A", seed=1)
    write_dicom_series(tmp_path / "d", _numbered_volume(2, 6, 12), series_uid=uid, prefix="B", seed=2)
    items, _ = discover_inputs([tmp_path / "d"])
    assert len(items) == 2 and all(i.series_uid == uid for i in items)
    assert sorted(len(i.files) for i in items) == [2, 4]
    assert all("part" in i.label for i in items)
    shapes = sorted(load_input(i).slices.shape for i in items)
    assert shapes == [(2, 6, 12), (4, 8, 8)]
    with pytest.raises(MultipleSeriesError, match="split"):
        load_scan(tmp_path / "d", series=uid)
    assert load_scan(tmp_path / "d", series="1#2").n_slices in (2, 4)


def test_mixed_orientations_in_one_uid_are_split(tmp_path: Path) -> None:
    uid = new_uid(6)
    write_dicom_series(tmp_path / "d", _numbered_volume(4), series_uid=uid, prefix="A", seed=1)
    write_dicom_series(
        tmp_path / "d", _numbered_volume(3), series_uid=uid, prefix="B", seed=2, orientation=SAGITTAL
    )
    items, _ = discover_inputs([tmp_path / "d"])
    assert sorted(load_input(i).axis for i in items) == ["axial", "sagittal"]


def test_missing_slice_warning(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "s", _numbered_volume(8), (3.0, 1.0, 1.0), skip_slices=(4,))
    scan = load_scan(tmp_path / "s")
    assert scan.n_slices == 7 and scan.spacing[0] == pytest.approx(3.0)
    assert any("1 missing slice" in w and "gap of 6.00 mm" in w for w in scan.warnings)


def test_non_uniform_spacing_and_tilt_warnings(tmp_path: Path) -> None:
    positions = [(0.0, 0.0, 0.0), (0.0, 0.0, 2.0), (0.0, 0.0, 4.0), (0.0, 0.0, 7.1), (0.0, 0.0, 9.0)]
    write_dicom_series(tmp_path / "nu", _numbered_volume(5), positions=positions)
    scan = load_scan(tmp_path / "nu")
    assert any("non-uniform slice spacing" in w for w in scan.warnings)
    tilted = [(0.0, k * 0.7, k * 2.0) for k in range(5)]  # positions drift 19 degrees off the normal
    write_dicom_series(tmp_path / "tilt", _numbered_volume(5), positions=tilted)
    scan = load_scan(tmp_path / "tilt")
    assert any("gantry tilt of 19.3 degrees" in w for w in scan.warnings)
    assert scan.spacing[0] == pytest.approx(2.0)


def test_4d_series_keeps_first_volume(tmp_path: Path) -> None:
    n = 4
    first = _numbered_volume(n)
    second = first + 7
    both = np.concatenate([first, second])
    positions = [(0.0, 0.0, 2.0 * (k % n)) for k in range(2 * n)]
    write_dicom_series(
        tmp_path / "dti",
        both,
        positions=positions,
        instance_numbers=list(range(1, 2 * n + 1)),
        slope=None,
        intercept=None,
    )
    scan = load_scan(tmp_path / "dti")
    assert scan.n_slices == n
    assert _slice_values(scan) == [100.0 * (k + 1) for k in range(n)]
    assert any("2 volumes at the same 4 slice positions" in w for w in scan.warnings)


def test_duplicate_positions_with_unequal_counts_are_dropped(tmp_path: Path) -> None:
    positions = [(0.0, 0.0, 0.0), (0.0, 0.0, 2.0), (0.0, 0.0, 2.0), (0.0, 0.0, 4.0)]
    write_dicom_series(tmp_path / "d", _numbered_volume(4), positions=positions)
    scan = load_scan(tmp_path / "d")
    assert scan.n_slices == 3
    assert any("repeated positions dropped" in w for w in scan.warnings)


def test_coronal_and_sagittal_series_match_nifti_display(tmp_path: Path) -> None:
    """The same anatomy written as DICOM and as NIfTI shows the same display slices."""
    rng = np.random.default_rng(0)
    for name, orientation in (("cor", CORONAL), ("sag", SAGITTAL)):
        vol = rng.integers(0, 1000, (5, 6, 7)).astype(np.int16)  # (slice, row, col)
        spacing = (3.0, 0.8, 0.6)
        origin = np.array([10.0, -20.0, 30.0])
        write_dicom_series(
            tmp_path / name, vol, spacing, orientation=orientation, origin=origin, slope=None, intercept=None
        )
        row_cos, col_cos = np.array(orientation[:3]), np.array(orientation[3:])
        normal = np.cross(row_cos, col_cos)
        lps = np.eye(4)
        lps[:3, 0] = row_cos * spacing[2]  # voxel i = column index
        lps[:3, 1] = col_cos * spacing[1]  # voxel j = row index
        lps[:3, 2] = normal * spacing[0]
        lps[:3, 3] = origin
        ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
        nii = write_nifti(tmp_path / f"{name}.nii.gz", np.transpose(vol, (2, 1, 0)), ras)
        from_dicom, from_nifti = load_scan(tmp_path / name), load_scan(nii)
        assert from_dicom.axis == from_nifti.axis == {"cor": "coronal", "sag": "sagittal"}[name]
        np.testing.assert_array_equal(from_dicom.slices[:], from_nifti.slices[:])
        assert from_dicom.spacing == pytest.approx(from_nifti.spacing)


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = write_dicom_no_pixels(tmp_path / "report.dcm", "SR")
    with pytest.raises(ScanReadError) as info:
        load_scan(path)
    assert str(info.value) == "report.dcm: DICOM without pixel data (Modality SR): nothing to score"


def test_dicomdir_given_as_file(tmp_path: Path) -> None:
    path = write_dicomdir(tmp_path / "DICOMDIR")
    with pytest.raises(UnsupportedFormatError, match=r"^DICOMDIR: a DICOMDIR is an index"):
        load_scan(path)
    items, failures = discover_inputs([path])
    assert items == [] and "DICOMDIR is an index" in str(failures[0][1])


def test_colour_dicom_is_a_2d_colour_scan(tmp_path: Path) -> None:
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 10
    scan = load_scan(write_dicom_file(tmp_path / "photo.dcm", rgb, modality="OP"))
    assert scan.is_color and scan.slices.shape == (1, 6, 8, 3) and scan.dim == "2d" and scan.axis == "none"
    px = scan.slices[0]
    assert px[0, 0, 0] == 200 and px[0, 0, 2] == 10


def test_gzip_wrapped_and_preambleless_dicom(tmp_path: Path) -> None:
    img = np.arange(12, dtype=np.int16).reshape(3, 4)
    gz = write_dicom_file(tmp_path / "a.dcm.gz", img, gz=True, RescaleSlope="1", RescaleIntercept="-10")
    raw = write_dicom_file(tmp_path / "b.bin", img, preamble=False, RescaleSlope="1", RescaleIntercept="-10")
    for path in (gz, raw):
        scan = load_scan(path)
        assert scan.format == "dicom"
        np.testing.assert_array_equal(scan.slices[0], img.astype(np.float32) - 10)


def test_compressed_without_codec_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    write_dicom_series(tmp_path / "rle", _numbered_volume(3), compress=RLELossless)
    assert load_scan(tmp_path / "rle").n_slices == 3  # with the codec
    decoder = get_decoder(RLELossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg", "pylibjpeg-rle")})
    with pytest.raises(MissingDependencyError) as info:
        load_scan(tmp_path / "rle")
    message = str(info.value)
    assert (
        message
        == 'rle [series 1]: compressed DICOM (RLE Lossless) needs a codec: pip install "mediqa-sdk[dicom]"'
    )
    assert isinstance(info.value, ImportError)


def test_mosaic_is_demosaiced(tmp_path: Path) -> None:
    slices = np.stack([np.full((4, 5), 10 * (k + 1), np.uint16) for k in range(7)])  # 3x3 grid, 7 used
    scan = load_scan(write_mosaic_dicom(tmp_path / "mosaic.dcm", slices, spacing=(3.0, 2.0, 2.0)))
    assert scan.slices.shape == (7, 4, 5)
    assert _slice_values(scan) == [10.0 * (k + 1) for k in range(7)]
    assert scan.spacing == pytest.approx((3.0, 2.0, 2.0)) and scan.axis == "axial"


def test_enhanced_multiframe_sorted_and_4d_reduced(tmp_path: Path) -> None:
    # 3 positions x 2 volumes, frames stored in shuffled position order
    z = [4.0, 0.0, 2.0, 4.0, 0.0, 2.0]
    frames = np.stack([np.full((4, 4), int(v * 10 + 1 + (k >= 3) * 500), np.uint16) for k, v in enumerate(z)])
    path = write_enhanced_dicom(
        tmp_path / "enh.dcm", frames, [(0.0, 0.0, v) for v in z], slope=2.0, intercept=1.0
    )
    scan = load_scan(path)
    assert scan.slices.shape == (3, 4, 4)
    assert _slice_values(scan) == [(v * 10 + 1) * 2.0 + 1.0 for v in (0.0, 2.0, 4.0)]
    assert scan.spacing[0] == pytest.approx(2.0)
    assert any("2 volumes at the same 3 slice positions" in w for w in scan.warnings)


def test_text_file_named_dcm_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is not an image\n")
    with pytest.raises(UnsupportedFormatError, match=r"^notes\.dcm: not a recognised image format"):
        load_scan(path)


def test_damaged_dicom_header(tmp_path: Path) -> None:
    good = write_dicom_file(tmp_path / "good.dcm", np.zeros((4, 4), np.int16))
    bad = tmp_path / "cut.dcm"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ScanReadError, match=r"^cut\.dcm: "):
        load_scan(bad)
