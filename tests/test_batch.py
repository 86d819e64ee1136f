"""Batch QC runs: results.jsonl as scored, summary and CSV, thresholds and exit codes, resume, Ctrl-C."""

from __future__ import annotations

import csv
import json
import re
import signal
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.report.batch import QcRun, input_key, read_records

from .synthetic import ct_volume, mr_slice


def _nifti(path: Path, vol: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.int16), np.diag([1, 1, 2, 1.0])), path)
    return path


@pytest.fixture(autouse=True)
def shared_assessor(assessor, monkeypatch):
    """Every CLI run in this module reuses one Assessor (its sessions load once)."""
    from mediqa_sdk import assessor as module

    real = module.Assessor

    def make(model=None, **kw):
        return assessor if model is None and kw.get("classifier") is None else real(model, **kw)

    monkeypatch.setattr(module, "Assessor", make)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "scans"
    (root / "sub").mkdir(parents=True)
    _nifti(root / "clean.nii.gz", ct_volume(12, size=64, noise_hu=5))
    _nifti(root / "sub" / "noisy.nii.gz", ct_volume(12, size=64, noise_hu=120, seed=1))
    cv2.imwrite(str(root / "sub" / "slice.png"), (mr_slice(64) / 2.5).astype(np.uint16) * 100)
    return root


def _run(*args: str):
    return CliRunner().invoke(main, ["score", *args], catch_exceptions=False)


def _scores(out: Path) -> dict[str, float]:
    return {r["input"]: r["score"] for r in read_records(out / "results.jsonl") if r["status"] == "scored"}


def test_report_folder_holds_jsonl_csv_summary_and_a_page_per_scan(folder, tmp_path):
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    out = tmp_path / "qc"
    res = _run(str(folder), "-r", "--report", str(out), "--format", "jsonl", "--threshold", "0")
    assert res.exit_code == 1  # one input failed; threshold 0 flags nothing
    records = read_records(out / "results.jsonl")
    assert len(records) == 4 and [r["status"] for r in records].count("error") == 1
    scored = [r for r in records if r["status"] == "scored"]
    for r in scored:  # each line: the --format jsonl record plus the QC fields
        assert r["key"] and r["qc"]["flagged"] is False and (out / r["qc"]["report"]).is_file()
        assert (out / r["qc"]["montage"]).is_file() and r["qc"]["grade_bands"]
    stdout_lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["input"] for r in stdout_lines} == {r["input"] for r in scored}
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"scored", "error"}
    assert all(r["report"].endswith(".html") for r in rows if r["status"] == "scored")
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert "broken.nii.gz" in summary and "No scan was flagged" in summary
    groups = {(r["prompts"]["modality"]["value"], r["prompts"]["region"]["value"]) for r in scored}
    assert summary.count('class="histogram"') == len(groups)  # one per modality / region
    assert "summary:" in res.stderr and "3 scored, 0 flagged, 1 failed" in res.stderr


def test_threshold_flags_worst_first_and_exit_code_3(folder, tmp_path):
    out = tmp_path / "qc"
    # a threshold above every score: all 3 scans are flagged
    res = _run(str(folder), "-r", "--report", str(out), "--threshold", "1.0")
    assert res.exit_code == 3
    summary = (out / "summary.html").read_text(encoding="utf-8")
    flagged = summary.split('id="flagged"')[1].split("</section>")[0]
    shown = re.findall(r"<span class=\"nw\">(0\.\d{3})</span>", flagged)
    assert len(shown) == 3 and shown == sorted(shown)  # worst first
    assert flagged.count('class="thumb"') == 3 and "score" in flagged and "&lt; threshold 1" in flagged
    # grade bands instead of a threshold: the same run, flags recomputed
    res = _run(str(folder), "-r", "--report", str(out))
    grades = {r["grade"] for r in read_records(out / "results.jsonl") if r["status"] == "scored"}
    assert res.exit_code == (3 if "poor" in grades else 0)


def test_threshold_without_report_names_flagged_scans_on_stderr(folder):
    res = _run(str(folder), "-r", "--threshold", "1.0", "--format", "csv")  # above every score
    assert res.exit_code == 3
    assert len([line for line in res.stderr.splitlines() if line.startswith("flagged: ")]) == 3
    assert _run(str(folder), "-r", "--threshold", "0", "--format", "csv").exit_code == 0
    assert _run(str(folder), "-r", "--format", "csv").exit_code == 0  # no QC asked: flags do not change it


def test_failures_win_over_flags(folder, tmp_path):
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert _run(str(folder), "-r", "--threshold", "1.0", "--format", "csv").exit_code == 1


def test_resume_skips_scored_inputs_and_retries_failed_ones(folder, tmp_path):
    out = tmp_path / "qc"
    broken = folder / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert _run(str(folder), "-r", "--report", str(out), "--threshold", "0").exit_code == 1
    first = _scores(out)
    # a killed run left half a line; the broken file is fixed; a new scan arrives
    with (out / "results.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"input": "half a li')
    _nifti(broken, ct_volume(12, seed=4))
    _nifti(folder / "new.nii.gz", ct_volume(12, seed=5))
    res = _run(str(folder), "-r", "--report", str(out), "--threshold", "0", "--resume", "--format", "csv")
    assert res.exit_code == 0, res.stderr
    assert "3 inputs already scored" in res.stderr
    assert len(list(csv.DictReader(res.stdout.splitlines()))) == 2  # only broken (retried) and new
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(json.loads(line) for line in lines)  # 4 + 2, the half line cut
    assert _scores(out) == {**first, **{k: v for k, v in _scores(out).items() if k not in first}}
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert len(rows) == 5 and {r["status"] for r in rows} == {"scored"}  # the last line of an input wins


def test_resume_needs_report():
    assert _run("x.nii.gz", "--resume").exit_code == 2


def test_each_line_is_on_disk_before_the_next_input_is_scored(folder, tmp_path, assessor):
    run = QcRun(tmp_path / "qc", assessor=assessor)
    seen = []
    for outcome in assessor.iter_score([folder], recursive=True):
        run.add(outcome)
        seen.append(len(read_records(tmp_path / "qc" / "results.jsonl")))
    assert seen == [1, 2, 3]
    totals = run.close()
    assert (totals.inputs, totals.scored, totals.failed) == (3, 3, 0)
    assert all(input_key(o.item) for o in assessor.iter_score([folder], recursive=True))


def test_ctrl_c_stops_cleanly_and_keeps_what_was_written(folder, tmp_path, monkeypatch, assessor):
    cls = type(assessor)
    real = cls.iter_items

    def interrupted(self, items, **kw):
        for k, outcome in enumerate(real(self, items, **kw)):
            if k == 1:
                signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C while the 2nd input is scored
            yield outcome

    monkeypatch.setattr(cls, "iter_items", interrupted)
    out = tmp_path / "qc"
    before = signal.getsignal(signal.SIGINT)  # a background job starts with SIGINT ignored
    res = CliRunner().invoke(main, ["score", str(folder), "-r", "--report", str(out)])
    assert res.exit_code == 130
    assert "stopping after the current batch" in res.stderr and "--resume" in res.stderr
    assert len(read_records(out / "results.jsonl")) == 2 and (out / "summary.html").is_file()
    assert signal.getsignal(signal.SIGINT) is before  # handler given back


def test_progress_bar_with_rate_and_eta_on_request(folder):
    res = _run(str(folder), "-r", "--progress", "--format", "csv")
    assert res.exit_code == 0
    assert "3/3" in res.stderr and "scans/s" in res.stderr and "ETA" in res.stderr
    assert "scans/s" not in _run(str(folder), "-r", "--format", "csv").stderr  # not a terminal: no bar


def test_help_documents_the_exit_codes():
    text = CliRunner().invoke(main, ["score", "--help"]).output
    assert all(s in text for s in ("--report", "--resume", "--threshold", "--dicom-sr", "--progress", "3"))
