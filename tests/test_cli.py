"""The CLI through click's runner: exit codes, stdout holds only data, one line per failure."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main

from .synthetic import ct_volume, mr_slice


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    ct = tmp_path / "ct scan é.nii.gz"  # spaces and unicode in names
    nib.save(
        nib.Nifti1Image(np.transpose(ct_volume(16), (2, 1, 0)).astype(np.int16), np.diag([1, 1, 2, 1.0])), ct
    )
    png = tmp_path / "slice.png"
    cv2.imwrite(str(png), (mr_slice() / 2.5).astype(np.uint16) * 100)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    return {"ct": ct, "png": png, "bad": bad}


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_output_is_pure_data_on_stdout(inputs):
    res = _run("score", "--format", "json", str(inputs["ct"]))
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["status"] == "scored" and 0 <= data["score"] <= 1
    assert data["provenance"]["scorer"]["sha256"]
    assert len(data["slice_indices"]) == 7


def test_a_failed_input_is_one_line_and_exit_code_1_and_the_batch_goes_on(inputs):
    res = _run("score", "--format", "jsonl", str(inputs["bad"]), str(inputs["ct"]), str(inputs["png"]))
    assert res.exit_code == 1
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["status"] for r in lines].count("scored") == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.nii.gz" in errors[0] and "Traceback" not in res.stderr


def test_verbose_adds_the_traceback(inputs, tmp_path):
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(inputs["ct"].read_bytes()[:4000])
    quiet = _run("score", str(truncated))
    assert quiet.exit_code == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.count("truncated.nii.gz") == 1 and len(quiet.stderr.strip().splitlines()) == 1
    res = _run("score", "--verbose", str(truncated))
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_usage_errors_exit_2(inputs):
    assert _run("score", "--modality", "pet", str(inputs["ct"])).exit_code == 2
    assert _run("score", "--model", "nope", str(inputs["ct"])).exit_code == 2
    assert _run("score").exit_code == 2


def test_csv_and_output_file(inputs, tmp_path):
    out = tmp_path / "scores.csv"
    res = _run(
        "score",
        "--format",
        "csv",
        "--output",
        str(out),
        "--modality",
        "ct",
        "--region",
        "abdomen",
        str(inputs["ct"]),
    )
    assert res.exit_code == 0 and res.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["status"] == "scored" and rows[0]["modality"] == "ct (override)"
    assert rows[0]["type"] == "soft_window" and rows[0]["scorer_sha256"]


def test_table_for_one_scan_lists_slices_prompts_and_model(inputs):
    res = _run("score", str(inputs["ct"]), "--region", "chest", "--modality", "ct")
    assert res.exit_code == 0
    assert "lung_window:" in res.stdout and "soft_window:" in res.stdout
    assert "prompt region: chest (override)" in res.stdout and "model: mediqa-scorer" in res.stdout


def test_directory_input_scores_its_files(inputs):
    res = _run("score", "--format", "jsonl", str(inputs["ct"].parent))
    assert res.exit_code == 1  # broken.nii.gz is in the folder too
    assert sum(json.loads(line)["status"] == "scored" for line in res.stdout.splitlines()) == 2


def test_models_and_info():
    res = _run("models", "--format", "json")
    data = json.loads(res.stdout)
    assert {m["task"] for m in data["models"]} == {"scorer", "classifier"}
    info = json.loads(_run("info", "--format", "json").stdout)
    assert info["providers"]["usable"]["CPUExecutionProvider"] == "usable"
    assert info["onnxruntime"]["double_install"] is False
    assert "mediqa-sdk" in _run("--version").stdout


def test_help_is_light_and_lists_train_commands():
    code = (
        "import sys; from mediqa_sdk.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "names = ('numpy', 'onnxruntime', 'nibabel', 'pydicom', 'cv2', 'torch')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout
    assert "simulate" in done.stdout and "score" in done.stdout
