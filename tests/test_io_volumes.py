"""NRRD and MetaImage readers: encodings, detached data, orientation (LPS world), clear refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import ScanReadError, UnsupportedFormatError
from mediqa_sdk.io import load_scan

from .io_fixtures import marker_volume, write_mha, write_nifti, write_nrrd

SHAPE = (20, 24, 10)
MARK = (4, 18, 7)


def _lps_reference(tmp_path: Path) -> np.ndarray:
    """Display slices of a NIfTI holding the same voxels with the LPS identity geometry (ITK default)."""
    affine = np.diag([-1.0, -1.0, 3.0, 1.0])  # LPS identity directions, expressed in RAS
    return write_nifti(tmp_path / "ref.nii", marker_volume(SHAPE, MARK), affine)  # type: ignore[return-value]


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
@pytest.mark.parametrize("detached", [False, True])
def test_nrrd_matches_nifti(tmp_path: Path, encoding: str, detached: bool) -> None:
    ref = load_scan(_lps_reference(tmp_path))
    path = write_nrrd(
        tmp_path / ("v.nhdr" if detached else "v.nrrd"),
        marker_volume(SHAPE, MARK),
        spacing=(1.0, 1.0, 3.0),
        encoding=encoding,
        detached=detached,
    )
    scan = load_scan(path)
    assert scan.format == "nrrd" and scan.axis == "axial"
    np.testing.assert_array_equal(scan.slices[:], ref.slices[:])
    assert scan.spacing == pytest.approx((3.0, 1.0, 1.0))
    assert len(scan.files) == (2 if detached else 1)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("detached", [False, True])
def test_metaimage_matches_nifti(tmp_path: Path, compressed: bool, detached: bool) -> None:
    ref = load_scan(_lps_reference(tmp_path))
    path = write_mha(
        tmp_path / ("v.mhd" if detached else "v.mha"),
        marker_volume(SHAPE, MARK),
        spacing=(1.0, 1.0, 3.0),
        compressed=compressed,
        detached=detached,
    )
    scan = load_scan(path)
    assert scan.format == "metaimage" and scan.axis == "axial"
    np.testing.assert_array_equal(scan.slices[:], ref.slices[:])


def test_metaimage_direction_matrix(tmp_path: Path) -> None:
    # axis 0 along +z (superior), axis 2 along +x: a volume stored z-fastest
    matrix = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # columns = axis directions (LPS)
    vol = marker_volume((SHAPE[2], SHAPE[1], SHAPE[0]), (MARK[2], MARK[1], MARK[0]))
    scan = load_scan(write_mha(tmp_path / "zyx.mha", vol, spacing=(3.0, 1.0, 1.0), matrix=matrix))
    ref = load_scan(_lps_reference(tmp_path))
    np.testing.assert_array_equal(scan.slices[:], ref.slices[:])


def test_nrrd_without_orientation_and_2d(tmp_path: Path) -> None:
    path = tmp_path / "plain.nrrd"
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)  # (x, y)
    header = "NRRD0001\ntype: uchar\ndimension: 2\nsizes: 3 4\nencoding: raw\nspacings: 0.5 0.5\n\n"
    path.write_bytes(header.encode() + data.tobytes(order="F"))
    scan = load_scan(path)
    assert scan.dim == "2d" and scan.slices.shape == (1, 4, 3)
    np.testing.assert_array_equal(scan.slices[0], data.T.astype(np.float32))
    assert any("no orientation" in w for w in scan.warnings)
    assert math.isnan(scan.spacing[0]) and scan.spacing[1:] == (0.5, 0.5)


def test_nrrd_4d_list_axis_first_volume(tmp_path: Path) -> None:
    path = tmp_path / "dwi.nrrd"
    data = np.zeros((4, 5, 6, 3), np.int16)  # x, y, z, gradients
    data[..., 0] = 1
    data[..., 1:] = 9
    header = (
        "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior\nsizes: 4 5 6 3\n"
        "space directions: (1,0,0) (0,1,0) (0,0,2) none\nkinds: space space space list\n"
        "endian: little\nencoding: raw\nspace origin: (0,0,0)\n\n"
    )
    path.write_bytes(header.encode() + data.tobytes(order="F"))
    scan = load_scan(path)
    assert scan.slices.shape == (6, 5, 4) and np.all(scan.slices[:] == 1)
    assert any("non-spatial axes (3 list)" in w for w in scan.warnings)


def test_nrrd_unsupported_encoding(tmp_path: Path) -> None:
    path = tmp_path / "z.nrrd"
    path.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: zstd\n\n" + b"\x00" * 16)
    with pytest.raises(UnsupportedFormatError, match=r"^z\.nrrd: NRRD encoding 'zstd' is not supported"):
        load_scan(path)


def test_nrrd_truncated(tmp_path: Path) -> None:
    full = write_nrrd(tmp_path / "full.nrrd", np.ones((8, 8, 8), np.int16))
    cut = tmp_path / "cut.nrrd"
    cut.write_bytes(full.read_bytes()[:-100])
    with pytest.raises(ScanReadError, match=r"^cut\.nrrd: the file holds .* it is truncated"):
        load_scan(cut)


def test_metaimage_missing_data_file(tmp_path: Path) -> None:
    path = write_mha(tmp_path / "v.mhd", np.ones((3, 3, 3), np.int16), detached=True)
    path.with_suffix(".raw").unlink()
    with pytest.raises(ScanReadError, match=r"^v\.mhd: the data file it names \(v\.raw\) is missing"):
        load_scan(path)


def test_metaimage_slice_list_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "list.mhd"
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\n"
        "ElementDataFile = LIST\nslice0.raw\nslice1.raw\n"
    )
    with pytest.raises(UnsupportedFormatError, match=r"^list\.mhd: MetaImage data split over several files"):
        load_scan(path)


def test_detached_data_files_are_not_failures_in_a_folder(tmp_path: Path) -> None:
    from mediqa_sdk.io import discover_inputs

    write_nrrd(tmp_path / "d" / "a.nhdr", np.ones((3, 3, 3), np.int16), encoding="gzip", detached=True)
    write_mha(tmp_path / "d" / "b.mhd", np.ones((3, 3, 3), np.int16), detached=True)
    items, failures = discover_inputs([tmp_path / "d"])
    assert [i.path.name for i in items] == ["a.nhdr", "b.mhd"] and failures == []
