"""The scripts in examples/ run as a user runs them (``python examples/x.py ...``), on tiny data."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from .io_fixtures import write_dicom_series
from .synthetic import ct_volume

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _nifti(path: Path, vol: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.int16), np.diag([1, 1, 2, 1.0])), path)
    return path


@pytest.fixture()
def scans(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    _nifti(folder / "clean.nii.gz", ct_volume(12, size=64, noise_hu=5))
    _nifti(folder / "noisy.nii.gz", ct_volume(12, size=64, noise_hu=150, seed=1))
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return folder


def test_score_folder_writes_the_summary(scans, tmp_path):
    out = _run("score_folder.py", str(scans), str(tmp_path / "qc"), "--threshold", "1.0", cwd=tmp_path)
    assert "2 scored, 2 flagged, 1 failed" in out
    assert (tmp_path / "qc" / "summary.html").is_file() and (tmp_path / "qc" / "results.csv").is_file()
    assert len(list((tmp_path / "qc").glob("*.png"))) == 2


def test_filter_dataset_keeps_what_scores_well_enough(scans, tmp_path):
    out = tmp_path / "curated"
    _run("filter_dataset.py", str(scans), str(out), "--min-score", "0", "--copy", cwd=tmp_path)
    keep = list(csv.DictReader((out / "keep.csv").open(encoding="utf-8")))
    reject = list(csv.DictReader((out / "reject.csv").open(encoding="utf-8")))
    assert {Path(r["path"]).name for r in keep} == {"clean.nii.gz", "noisy.nii.gz"}
    assert [Path(r["path"]).name for r in reject] == ["broken.nii.gz"] and "not readable" in reject[0][
        "reason"
    ]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["clean.nii.gz", "noisy.nii.gz"]


def test_dose_audit_puts_the_estimate_beside_the_header(tmp_path):
    folder = tmp_path / "ct"
    for k, (mas, noise) in enumerate(((300, 8), (100, 25), (30, 60))):
        vol = (ct_volume(10, 48, noise_hu=noise, seed=k) + 1024).astype(np.int16)
        write_dicom_series(
            folder / f"s{k}", vol, extra={"Exposure": mas, "KVP": 120}, series_number=k + 1, seed=k
        )
    out = _run("dose_audit.py", str(folder), str(tmp_path / "audit.csv"), cwd=tmp_path)
    rows = list(csv.DictReader((tmp_path / "audit.csv").open(encoding="utf-8")))
    assert sorted(float(r["header_mas"]) for r in rows) == [30.0, 100.0, 300.0]
    assert all(float(r["estimated_mas"]) > 0 and r["kvp"] == "120.0" for r in rows)
    assert "Spearman correlation" in out and "3 CT scans" in out


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the [train] extra (torch)")
def test_finetune_on_own_scores_trains_exports_and_scores(tmp_path):
    out = _run("finetune_own_scores.py", "--out", str(tmp_path / "own"), "--steps", "2", cwd=tmp_path)
    assert (tmp_path / "own" / "run" / "best.pt").is_file()
    assert (tmp_path / "own" / "registry" / "models" / "my-scorer.onnx").is_file()
    assert "my-scorer on head_ct.nii.gz:" in out
