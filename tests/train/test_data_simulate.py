"""simulate keeps geometry and header; fundus keeps format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np
import pydicom
from click.testing import CliRunner
from mediqa_sdk.train.data.cli import simulate_command
from mediqa_sdk.train.data.simulate import simulate
from pydicom.data import get_testdata_file


def _tiny_ct(path: Path) -> Any:
    yy, xx = np.mgrid[:48, :40] - 20
    body = np.where(np.hypot(xx, yy) < 16, 40, -1000).astype(np.int16)
    data = np.repeat(body[..., None], 3, axis=2)
    affine = np.array([[-0.8, 0, 0, 10], [0, 0.8, 0, -20], [0, 0, 2.5, 30], [0, 0, 0, 1.0]])
    img = nib.Nifti1Image(data, affine)
    img.header["descrip"] = b"tiny ct"
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return img


def test_simulate_nifti_keeps_geometry(tmp_path: Path) -> None:
    src = tmp_path / "ct.nii.gz"
    orig = _tiny_ct(src)
    out = simulate(src, tmp_path / "low.nii.gz", dose=0.25, seed=3)
    new: Any = nib.load(str(out))
    assert new.shape == orig.shape
    np.testing.assert_allclose(new.affine, orig.affine)
    assert new.get_data_dtype() == orig.get_data_dtype()
    assert new.header["descrip"] == orig.header["descrip"]
    np.testing.assert_allclose(new.header.get_zooms(), orig.header.get_zooms())
    diff = np.asarray(new.dataobj, np.float64) - np.asarray(orig.dataobj, np.float64)
    assert diff.std() > 1.0
    again = simulate(src, tmp_path / "again.nii.gz", dose=0.25, seed=3)
    again_img: Any = nib.load(str(again))
    np.testing.assert_array_equal(np.asarray(again_img.dataobj), np.asarray(new.dataobj))


def test_simulate_mr_nifti_field_strength(tmp_path: Path) -> None:
    data = np.zeros((40, 40, 2), np.float32)
    data[8:32, 8:32] = 500
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "mr.nii"))
    out: Any = nib.load(str(simulate(tmp_path / "mr.nii", tmp_path / "mr_05.nii", field_strength=0.5)))
    arr = np.asarray(out.dataobj)
    assert arr.shape == data.shape and arr[:4, :4].mean() > 0  # Rician background


def test_simulate_dicom_new_uids_same_geometry(tmp_path: Path) -> None:
    src = Path(str(get_testdata_file("CT_small.dcm")))
    out = tmp_path / "low.dcm"
    result = CliRunner().invoke(simulate_command, [str(src), "--dose", "0.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    a, b = pydicom.dcmread(src), pydicom.dcmread(out)
    assert b.SOPInstanceUID != a.SOPInstanceUID and b.SeriesInstanceUID != a.SeriesInstanceUID
    for tag in ("Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient"):
        assert getattr(a, tag) == getattr(b, tag), tag
    assert b.pixel_array.shape == a.pixel_array.shape and not np.array_equal(b.pixel_array, a.pixel_array)


def test_simulate_fundus_png(tmp_path: Path) -> None:
    img = np.full((60, 80, 3), 120, np.uint8)
    cv2.circle(img, (40, 30), 10, (200, 220, 250), -1)
    cv2.imwrite(str(tmp_path / "f.png"), img)
    out = simulate(tmp_path / "f.png", tmp_path / "g.png", defocus=3.0, exposure=-1.0)
    res = cv2.imread(str(out))
    assert res is not None
    assert res.shape == img.shape and res.mean() < img.mean()
