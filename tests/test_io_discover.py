"""Discovery: format detection by content, directory expansion, failures, symlink loops, odd paths."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import MediqaError, ScanReadError, UnsupportedFormatError
from mediqa_sdk.io import InputItem, discover_inputs, load_input, load_scan
from mediqa_sdk.io._sniff import detect_format

from .io_fixtures import (
    write_dicom_file,
    write_dicom_no_pixels,
    write_dicom_series,
    write_dicomdir,
    write_jpeg,
    write_mha,
    write_nifti,
    write_nrrd,
    write_png16,
    write_tiff,
)

EXTENSIONS = [
    ".nii",
    ".nii.gz",
    ".dcm",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".nrrd",
    ".mha",
    ".mhd",
    "",
]


@pytest.fixture()
def mixed_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_dicom_series(root / "ct", np.zeros((3, 4, 4), np.int16), series_number=4, description="HEAD")
    write_nifti(root / "vol.nii.gz", np.zeros((4, 4, 3), np.int16))
    write_png16(root / "xray.png", np.zeros((5, 5), np.uint16))
    (root / "notes.txt").write_text("companion file")
    (root / "sub.json").write_text("{}")
    (root / ".hidden.nii").write_bytes(b"junk")
    write_dicomdir(root / "DICOMDIR")
    write_dicom_no_pixels(root / "ct" / "dose_report.dcm")
    return root


def test_formats_detected_by_content(tmp_path: Path) -> None:
    cases = {
        "dicom": write_dicom_file(tmp_path / "a.png", np.zeros((4, 4), np.int16)),
        "nifti": write_nifti(tmp_path / "a.dcm", np.zeros((3, 3, 3), np.int16)),
        "png": write_png16(tmp_path / "p.tif", np.zeros((3, 3), np.uint16)),
        "jpeg": write_jpeg(tmp_path / "j.nii", np.zeros((8, 8, 3), np.uint8)),
        "tiff": write_tiff(tmp_path / "t.jpg", np.zeros((3, 3), np.float32)),
        "nrrd": write_nrrd(tmp_path / "n.mha", np.zeros((3, 3, 3), np.int16)),
        "metaimage": write_mha(tmp_path / "m.nrrd", np.zeros((3, 3, 3), np.int16)),
    }
    for kind, path in cases.items():
        assert detect_format(path) == kind, path.name
        assert load_scan(path).n_slices >= 1


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_random_bytes_with_each_extension(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"random{ext}"
    path.write_bytes(np.random.default_rng(len(ext)).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    items, failures = discover_inputs([path])
    assert items == []
    [(failed, error)] = failures
    assert failed == path and isinstance(error, UnsupportedFormatError)
    assert str(error).startswith(f"random{ext}: not a recognised image format") and "\n" not in str(error)
    with pytest.raises(UnsupportedFormatError):
        load_scan(path)


def test_text_file_named_dcm(tmp_path: Path) -> None:
    path = tmp_path / "report.dcm"
    path.write_text("Patient was scanned.\n" * 20)
    items, failures = discover_inputs([path])
    assert items == [] and "report.dcm: not a recognised image format" in str(failures[0][1])


def test_missing_path_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    good = write_nifti(tmp_path / "ok.nii", np.zeros((3, 3, 3), np.int16))
    items, failures = discover_inputs([tmp_path / "nope.nii.gz", good])
    assert [i.path for i in items] == [good]
    assert len(failures) == 1 and isinstance(failures[0][1], ScanReadError)
    assert str(failures[0][1]).endswith("nope.nii.gz: no such file or directory")
    with pytest.raises(ScanReadError, match="no such file"):
        load_scan(tmp_path / "nope.nii.gz")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_a_failure(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "locked.nii", np.zeros((3, 3, 3), np.int16))
    path.chmod(0)
    try:
        items, failures = discover_inputs([path])
        assert items == [] and "locked.nii: cannot read the file: permission denied" in str(failures[0][1])
    finally:
        path.chmod(0o644)


def test_unreadable_file_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The permission message, checked by faking the OS refusal (tests may run as root)."""
    import mediqa_sdk.io._discover as discover

    path = write_nifti(tmp_path / "locked.nii", np.zeros((3, 3, 3), np.int16))

    def refuse(p: Path) -> str:
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(discover, "detect_format", refuse)
    items, failures = discover_inputs([path])
    assert items == []
    assert (
        str(failures[0][1])
        == "locked.nii: cannot read the file: permission denied (check the file's read permissions)"
    )


def test_folder_expansion(mixed_folder: Path) -> None:
    items, failures = discover_inputs([mixed_folder])
    assert failures == []
    labels = [i.label for i in items]
    assert labels == ["data/vol.nii.gz", "data/xray.png"]  # not recursive: ct/ is not entered
    items, failures = discover_inputs([mixed_folder], recursive=True)
    assert failures == []
    assert [i.label for i in items] == ["data/vol.nii.gz", "data/xray.png", "data/ct [series 4: HEAD]"]
    series = items[2]
    assert series.series_uid and len(series.files) == 3 and series.path == mixed_folder / "ct"
    assert load_input(series).n_slices == 3


def test_discovery_is_deterministic(mixed_folder: Path) -> None:
    first = discover_inputs([mixed_folder], recursive=True)[0]
    second = discover_inputs([mixed_folder], recursive=True)[0]
    assert first == second
    assert all(isinstance(i, InputItem) for i in first)


def test_same_file_twice_is_listed_once(mixed_folder: Path) -> None:
    items, _ = discover_inputs([mixed_folder / "vol.nii.gz", mixed_folder, mixed_folder / "vol.nii.gz"])
    assert [i.path.name for i in items] == ["vol.nii.gz", "xray.png"]


def test_unknown_file_in_folder_is_a_failure(tmp_path: Path) -> None:
    write_nifti(tmp_path / "d" / "a.nii", np.zeros((3, 3, 3), np.int16))
    (tmp_path / "d" / "mystery.bin").write_bytes(b"\x00\x01garbage" * 10)
    items, failures = discover_inputs([tmp_path / "d"])
    assert len(items) == 1 and len(failures) == 1
    assert str(failures[0][1]).startswith("mystery.bin: not a recognised image format")


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_recursive_discovery_survives_symlink_loop(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_nifti(root / "a" / "scan.nii.gz", np.zeros((3, 3, 3), np.int16))
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "a" / "self").symlink_to(root / "a", target_is_directory=True)
    (root / "broken.nii").symlink_to(tmp_path / "gone.nii")
    items, failures = discover_inputs([root], recursive=True)
    assert [i.label for i in items] == ["root/a/scan.nii.gz"]
    assert [str(e) for _, e in failures] == ["broken.nii: broken link (its target does not exist)"]


def test_unicode_and_spaces_in_paths(tmp_path: Path) -> None:
    folder = tmp_path / "Patiënt Ødegård" / "CT thorax 1mm"
    write_dicom_series(folder, np.zeros((3, 4, 4), np.int16), description="Thorax ü")
    nifti = write_nifti(tmp_path / "Patiënt Ødegård" / "tête IRM (1).nii.gz", np.zeros((3, 3, 3), np.int16))
    items, failures = discover_inputs([tmp_path / "Patiënt Ødegård"], recursive=True)
    assert failures == []
    assert [i.label for i in items] == [
        "Patiënt Ødegård/tête IRM (1).nii.gz",
        "Patiënt Ødegård/CT thorax 1mm [series 1: Thorax ü]",
    ]
    assert load_scan(nifti).label == "tête IRM (1).nii.gz"
    assert load_scan(folder).n_slices == 3


def test_dicom_series_across_subfolders_is_one_item(tmp_path: Path) -> None:
    vol = np.stack([np.full((4, 4), k, np.int16) for k in range(6)])
    paths = write_dicom_series(tmp_path / "tmp", vol, shuffle_names=False)
    for k, p in enumerate(paths):
        target = tmp_path / "export" / f"part{k % 2}"
        target.mkdir(parents=True, exist_ok=True)
        p.rename(target / p.name)
    items, _ = discover_inputs([tmp_path / "export"], recursive=True)
    assert len(items) == 1 and len(items[0].files) == 6 and items[0].path == tmp_path / "export"


def test_load_scan_on_folder_without_dicom(tmp_path: Path) -> None:
    write_nifti(tmp_path / "f" / "a.nii", np.zeros((3, 3, 3), np.int16))
    with pytest.raises(ScanReadError, match=r"^f: no DICOM series in this folder \(1 other image files"):
        load_scan(tmp_path / "f")


def test_every_failure_is_one_line_starting_with_the_name(mixed_folder: Path, tmp_path: Path) -> None:
    bad = [tmp_path / "missing.nii", write_dicomdir(tmp_path / "DICOMDIR2")]
    (tmp_path / "x.nii.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    bad.append(tmp_path / "x.nii.gz")
    _, failures = discover_inputs(bad)
    assert len(failures) == 3
    for path, error in failures:
        assert isinstance(error, MediqaError)
        text = str(error)
        assert "\n" not in text and path.name in text.split(":")[0]
