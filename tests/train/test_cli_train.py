"""The [train] commands through the main ``mediqa`` group, as a user runs them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mediqa_sdk.cli import main

from ..conftest import REPO


def test_quarter_dose_simulation_of_the_example_scores_lower(tmp_path):
    example = REPO / "examples" / "data" / "head_ct.nii.gz"
    low = tmp_path / "quarter.nii.gz"
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", str(example), "--dose", "0.25", "-o", str(low), "--seed", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["score", "--format", "jsonl", "--modality", "ct", str(example), str(low)])
    assert res.exit_code == 0, res.stderr
    full, quarter = (json.loads(line) for line in res.stdout.splitlines())
    assert quarter["score"] < full["score"]
    assert quarter["slice_indices"] == full["slice_indices"]  # same geometry, same salient slices


def test_train_and_export_commands_are_reachable():
    runner = CliRunner()
    for args in (
        ["train", "--help"],
        ["train", "finetune", "--help"],
        ["export", "--help"],
        ["data", "--help"],
    ):
        res = runner.invoke(main, args)
        assert res.exit_code == 0, (args, res.output)
    assert "--data" in runner.invoke(main, ["train", "finetune", "--help"]).output
