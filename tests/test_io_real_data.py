"""Every real file and series under ../shared/data/real either loads into a sane Scan or is refused with a
MediqaError carrying a one-line message, never another exception type."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import MediqaError
from mediqa_sdk.io import discover_inputs, load_input, load_scan

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

pytestmark = pytest.mark.real


def _datasets() -> list[Path]:
    return sorted(p for p in REAL.iterdir() if p.is_dir()) if REAL.is_dir() else []


def _check_scan(scan) -> None:  # type: ignore[no-untyped-def]
    assert scan.n_slices >= 1
    assert scan.dim in ("2d", "3d") and scan.axis in ("axial", "coronal", "sagittal", "oblique", "none")
    assert len(scan.sha256) == 64 and scan.files
    for s in scan.spacing:
        assert math.isnan(s) or s > 0
    step = max(1, max(scan.slices.shape[1:3]) // 64)
    preview = np.asarray(scan.slices[:, ::step, ::step])
    assert preview.dtype == np.float32 and np.isfinite(preview).all()
    middle = np.asarray(scan.slices[scan.n_slices // 2])
    assert middle.shape == tuple(scan.slices.shape[1:]) and np.isfinite(middle).all()
    for warning in scan.warnings:
        assert "\n" not in warning


@pytest.mark.parametrize("dataset", _datasets(), ids=lambda p: p.name)
def test_dataset_loads_or_is_refused_cleanly(dataset: Path) -> None:
    items, failures = discover_inputs([dataset], recursive=True)
    for path, error in failures:
        assert isinstance(error, MediqaError), path
        assert "\n" not in str(error)
    assert items or failures
    for item in items:
        try:
            scan = load_input(item)
        except MediqaError as err:
            assert "\n" not in str(err), item.label
            continue
        _check_scan(scan)


def test_each_transfer_syntax_file_alone() -> None:
    folder = REAL / "dcmqa-ts"
    if not folder.is_dir():
        pytest.skip("../shared/data/real/dcmqa-ts is not present")
    reference = None
    for path in sorted(folder.glob("*.dcm")):
        try:
            scan = load_scan(path)
        except MediqaError as err:
            assert "\n" not in str(err)
            continue
        values = np.asarray(scan.slices[:])
        if reference is None:
            reference = values
        np.testing.assert_array_equal(values, reference, err_msg=path.name)


def test_real_data_present_or_skip() -> None:
    if not REAL.is_dir():
        pytest.skip("../shared/data/real is not present")
    assert _datasets()
