"""NIfTI loading: orientation to display, acquisition axis, scaling, 4D, NaN, broken and huge headers."""

from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import InputTooLargeError, ScanReadError, UnsupportedFormatError
from mediqa_sdk.io import ReadLimits, load_scan
from mediqa_sdk.io._stack import ArrayStack

from .io_fixtures import marker_volume, patch_nifti_pixdim, write_nifti, write_nifti_header_only


def _where(scan) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    arr = np.asarray(scan.slices[:])
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(arr)), arr.shape))  # type: ignore[return-value]


def _rotation_x(deg: float) -> np.ndarray:
    t = math.radians(deg)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
    return rot


# a 20 (x) x 24 (y) x 10 (z) volume, 3 mm slices: marker near patient left (small x), anterior (large y),
# superior (large z)
SHAPE = (20, 24, 10)
MARK = (4, 18, 7)
# axial display: slice = k (inferior first), row = Y-1-j (anterior at top), col = X-1-i (right on the left)
AXIAL_EXPECTED = (7, 24 - 1 - 18, 20 - 1 - 4)


def test_ras_affine_axial_display(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "ras.nii.gz", marker_volume(SHAPE, MARK), np.diag([1.0, 1.0, 3.0, 1.0]))
    scan = load_scan(path)
    assert scan.axis == "axial" and scan.dim == "3d" and scan.format == "nifti"
    assert scan.slices.shape == (10, 24, 20)
    assert scan.spacing == pytest.approx((3.0, 1.0, 1.0))
    assert _where(scan) == AXIAL_EXPECTED


def test_lps_affine_same_anatomy_same_display(tmp_path: Path) -> None:
    # voxel axes run right->left and anterior->posterior: the same anatomical point is at (X-1-i, Y-1-j, k)
    affine = np.diag([-1.0, -1.0, 3.0, 1.0])
    affine[:3, 3] = (19.0, 23.0, 0.0)  # keeps the world extent of the RAS case
    flipped = (SHAPE[0] - 1 - MARK[0], SHAPE[1] - 1 - MARK[1], MARK[2])
    scan = load_scan(write_nifti(tmp_path / "lps.nii", marker_volume(SHAPE, flipped), affine))
    assert scan.axis == "axial"
    assert _where(scan) == AXIAL_EXPECTED


def test_stored_zyx_order_is_transposed_back(tmp_path: Path) -> None:
    # voxel axis 0 is z (superior), axis 2 is x: the loader must find the slice axis in the affine
    affine = np.zeros((4, 4))
    affine[0, 2], affine[1, 1], affine[2, 0], affine[3, 3] = 1.0, 1.0, 3.0, 1.0
    vol = marker_volume((SHAPE[2], SHAPE[1], SHAPE[0]), (MARK[2], MARK[1], MARK[0]))
    scan = load_scan(write_nifti(tmp_path / "zyx.nii.gz", vol, affine))
    assert scan.axis == "axial"
    assert scan.slices.shape == (10, 24, 20)
    assert _where(scan) == AXIAL_EXPECTED


def test_slightly_oblique_affine_keeps_display(tmp_path: Path) -> None:
    affine = _rotation_x(15.0) @ np.diag([1.0, 1.0, 3.0, 1.0])
    scan = load_scan(write_nifti(tmp_path / "tilted.nii.gz", marker_volume(SHAPE, MARK), affine))
    assert scan.axis == "axial"
    assert _where(scan) == AXIAL_EXPECTED
    assert scan.spacing == pytest.approx((3.0, 1.0, 1.0))


def test_strongly_oblique_affine_is_named_oblique(tmp_path: Path) -> None:
    affine = _rotation_x(45.0) @ np.diag([1.0, 1.0, 3.0, 1.0])
    scan = load_scan(write_nifti(tmp_path / "oblique.nii.gz", marker_volume(SHAPE, MARK), affine))
    assert scan.axis == "oblique"
    assert scan.slices.shape[0] in (10, 24)  # displayed along the nearest anatomical axis


def test_sagittal_acquisition(tmp_path: Path) -> None:
    # 8 sagittal slices of 4 mm along x; marker at x index 2 (left of centre), anterior, superior
    vol = marker_volume((8, 30, 40), (2, 25, 30))
    scan = load_scan(write_nifti(tmp_path / "sag.nii.gz", vol, np.diag([4.0, 1.0, 1.0, 1.0])))
    assert scan.axis == "sagittal"
    assert scan.slices.shape == (8, 40, 30)  # rows = S->I (z), cols = A->P (y)
    assert scan.spacing == pytest.approx((4.0, 1.0, 1.0))
    # slice = i (left to right), row = Z-1-k (superior at top), col = Y-1-j (anterior on the left)
    assert _where(scan) == (2, 40 - 1 - 30, 30 - 1 - 25)


def test_coronal_acquisition(tmp_path: Path) -> None:
    vol = marker_volume((30, 8, 40), (5, 6, 33))
    scan = load_scan(write_nifti(tmp_path / "cor.nii.gz", vol, np.diag([1.0, 4.0, 1.0, 1.0])))
    assert scan.axis == "coronal"
    assert scan.slices.shape == (8, 40, 30)
    # slice = Y-1-j (anterior first), row = Z-1-k (superior at top), col = X-1-i (patient right on left)
    assert _where(scan) == (8 - 1 - 6, 40 - 1 - 33, 30 - 1 - 5)


def test_isotropic_ties_choose_axial(tmp_path: Path) -> None:
    scan = load_scan(write_nifti(tmp_path / "iso.nii.gz", marker_volume((12, 14, 16), (1, 2, 3)), np.eye(4)))
    assert scan.axis == "axial" and scan.slices.shape == (16, 14, 12)


def test_coarse_in_plane_epi_picks_the_odd_axis(tmp_path: Path) -> None:
    # EPI: 3.75 mm square pixels, 3 mm slices: the slice axis is the odd one out, not the largest
    scan = load_scan(
        write_nifti(tmp_path / "epi.nii", np.zeros((16, 16, 6), np.int16), np.diag([3.75, 3.75, 3.0, 1.0]))
    )
    assert scan.axis == "axial" and scan.slices.shape == (6, 16, 16)
    assert scan.spacing == pytest.approx((3.0, 3.75, 3.75))


def test_scaling_is_lazy_and_physical(tmp_path: Path) -> None:
    vol = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = write_nifti(tmp_path / "ct.nii.gz", vol, np.diag([1.0, 1.0, 2.0, 1.0]), slope=2.0, inter=-1024.0)
    scan = load_scan(path)
    assert isinstance(scan.slices, ArrayStack)
    assert scan.slices.stored_dtype == np.int16  # not copied to float32 as a whole
    one = scan.slices[0]
    assert one.dtype == np.float32 and one.shape == (5, 4)
    expected = vol.astype(np.float32)[:, :, 0].T[::-1, ::-1] * 2.0 - 1024.0
    np.testing.assert_array_equal(one, expected)
    sub = scan.slices[:, ::2, ::2]
    assert sub.dtype == np.float32 and sub.shape == (6, 3, 2)
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert scan.files == (path,) and scan.metadata["stored_dtype"] == "int16"


def test_4d_uses_first_volume_with_warning(tmp_path: Path) -> None:
    vol = np.zeros((6, 6, 4, 25), dtype=np.float32)
    vol[..., 0] = 5.0
    vol[..., 1:] = 9.0
    scan = load_scan(write_nifti(tmp_path / "fmri.nii.gz", vol, np.diag([3.0, 3.0, 4.0, 1.0])))
    assert scan.slices.shape == (4, 6, 6)
    assert np.all(scan.slices[:] == 5.0)
    assert any("4D NIfTI (t=25): scored the first volume" in w for w in scan.warnings)


def test_singleton_fourth_dimension_is_plain_3d(tmp_path: Path) -> None:
    scan = load_scan(write_nifti(tmp_path / "v.nii", np.ones((5, 5, 3, 1), np.int16), np.eye(4)))
    assert scan.slices.shape == (3, 5, 5) and scan.warnings == ()


def test_single_slice_is_2d(tmp_path: Path) -> None:
    scan = load_scan(
        write_nifti(tmp_path / "one.nii", np.ones((8, 9, 1), np.int16), np.diag([0.5, 0.5, 5, 1]))
    )
    assert scan.dim == "2d" and scan.slices.shape == (1, 9, 8)


def test_nan_replaced_with_finite_minimum(tmp_path: Path) -> None:
    vol = np.full((4, 4, 3), 10.0, dtype=np.float32)
    vol[0, 0, 0] = -5.0
    vol[1, 1, 1] = np.nan
    vol[2, 2, 2] = np.inf
    scan = load_scan(write_nifti(tmp_path / "nan.nii", vol, np.eye(4)))
    arr = scan.slices[:]
    assert np.isfinite(arr).all()
    assert sorted(np.unique(arr)) == [-5.0, 10.0]
    assert any("NaN or infinite" in w for w in scan.warnings)


def test_all_nan_is_an_error(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "allnan.nii", np.full((3, 3, 3), np.nan, np.float32), np.eye(4))
    with pytest.raises(ScanReadError, match=r"^allnan\.nii: every voxel is NaN"):
        load_scan(path)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_bad_pixdim_is_an_error(tmp_path: Path, bad: float) -> None:
    path = write_nifti(tmp_path / "bad.nii", np.ones((4, 4, 4), np.int16), np.eye(4))
    patch_nifti_pixdim(path, [1.0, bad, 1.0])
    with pytest.raises(ScanReadError, match=r"^bad\.nii: invalid voxel size"):
        load_scan(path)


def test_header_claiming_huge_volume_refused_before_decoding(tmp_path: Path) -> None:
    path = write_nifti_header_only(tmp_path / "huge.nii.gz", (4000, 4000, 4000))
    with pytest.raises(InputTooLargeError, match=r"^huge\.nii\.gz: header claims a 4000x4000x4000 volume"):
        load_scan(path)
    small = ReadLimits(max_voxels=100)
    with pytest.raises(InputTooLargeError):
        load_scan(write_nifti(tmp_path / "s.nii", np.ones((5, 5, 5), np.int16), np.eye(4)), limits=small)


def test_header_without_data_is_truncated(tmp_path: Path) -> None:
    path = write_nifti_header_only(tmp_path / "empty.nii", (10, 10, 10))
    with pytest.raises(ScanReadError, match=r"^empty\.nii: file ends before the image data"):
        load_scan(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    full = write_nifti(
        tmp_path / "full.nii.gz", rng.integers(0, 1000, (32, 32, 16)).astype(np.int16), np.eye(4)
    )
    cut = tmp_path / "scan.nii.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ScanReadError) as info:
        load_scan(cut)
    assert str(info.value) == "scan.nii.gz: truncated gzip stream (file ends early)"
    assert "\n" not in str(info.value)


def test_corrupt_gzip(tmp_path: Path) -> None:
    full = write_nifti(
        tmp_path / "full.nii.gz", np.arange(4096, dtype=np.int16).reshape(16, 16, 16), np.eye(4)
    )
    raw = bytearray(full.read_bytes())
    for k in range(60, min(len(raw) - 8, 400)):
        raw[k] ^= 0x5A
    bad = tmp_path / "corrupt.nii.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ScanReadError, match=r"^corrupt\.nii\.gz: "):
        load_scan(bad)


def test_nifti2_and_extensionless(tmp_path: Path) -> None:
    path = write_nifti(
        tmp_path / "v2.nii", marker_volume(SHAPE, MARK), np.diag([1.0, 1.0, 3.0, 1.0]), nifti2=True
    )
    renamed = path.rename(tmp_path / "volume_without_extension")
    scan = load_scan(renamed)
    assert scan.format == "nifti" and _where(scan) == AXIAL_EXPECTED


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    src = write_nifti(tmp_path / "a.nii", marker_volume(SHAPE, MARK), np.diag([1.0, 1.0, 3.0, 1.0]))
    odd = tmp_path / "a.dat"
    odd.write_bytes(gzip.compress(src.read_bytes()))
    assert _where(load_scan(odd)) == AXIAL_EXPECTED


def test_nifti_pair_header_is_unsupported(tmp_path: Path) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Pair(np.ones((3, 3, 3), np.int16), np.eye(4)), str(tmp_path / "pair.img"))
    with pytest.raises(UnsupportedFormatError, match=r"^pair\.hdr: .*pair"):
        load_scan(tmp_path / "pair.hdr")


def test_dim_info_slice_axis_is_used(tmp_path: Path) -> None:
    # isotropic voxels, but the header records y as the slice direction (coronal acquisition)
    scan = load_scan(write_nifti(tmp_path / "c.nii", np.zeros((6, 7, 8), np.int16), np.eye(4), slice_dim=1))
    assert scan.axis == "coronal" and scan.slices.shape == (7, 8, 6)
