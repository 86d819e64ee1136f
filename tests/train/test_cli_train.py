"""The [train] commands through the main ``mediqa`` group, as a user runs them."""

from __future__ import annotations

import json

import pytest
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


def test_a_malformed_gray_channels_option_is_one_line_and_exits_non_zero(tmp_path):
    runner = CliRunner()
    for stage in ("pretrain", "finetune"):
        res = runner.invoke(
            main, ["train", stage, "--gray-channels", "scored,above", "--out", str(tmp_path / stage)]
        )
        assert res.exit_code != 0
        recipes = "scored, percentile, hu_wide, scored_prev, scored_next"
        assert res.output.strip().splitlines() == [
            f"error: --gray-channels scored,above: name 3 of {recipes}"
        ]
        assert not (tmp_path / stage).exists()  # nothing started


def test_select_heldout_refuses_a_manifest(tmp_path):
    manifest = tmp_path / "scores.csv"
    manifest.write_text("path,score\na.png,1\n")
    res = CliRunner().invoke(
        main,
        ["train", "finetune", "--select", "heldout", "--data", str(manifest), "--out", str(tmp_path / "run")],
    )
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [
        "error: --select heldout validates on the data engine's real scans, not on --data"
    ]
    assert not (tmp_path / "run").exists()


def test_heldout_benchmark_scores_through_the_runtime(real_data):
    from mediqa_sdk.export.heldout import LEVELS, evaluate_heldout, summarise

    rows = evaluate_heldout(modalities=("fundus",))
    assert {r.group for r in rows} == {"fundus"}
    fams = {r.family for r in rows}
    assert fams == {f for f in LEVELS if f.startswith("fundus")}
    assert {r.severity for r in rows} == {0, 1, 2, 3, 4}
    stats = summarise(rows)["fundus"]
    assert 0.0 <= stats["clean_wins"] <= 1.0 and -1.0 <= stats["srcc_level"] <= 1.0
    assert stats["images"] == len(rows)


def test_heldout_leaves_out_levels_that_do_not_degrade(real_data):
    from mediqa_sdk.export.heldout import evaluate_heldout

    rows = evaluate_heldout(modalities=("ct",))
    # the slab's own dose is below the mildest level (200 mAs): that version would be the clean image itself
    dose = {r.severity for r in rows if r.source_id == "ts-ct-abdomen-slab" and r.family == "ct_dose"}
    assert dose == {0, 2, 3, 4}
    thickness = {
        r.severity for r in rows if r.source_id == "dcmqa-ct-ge-head" and r.family == "ct_slice_thickness"
    }
    assert thickness == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    ("option", "error"),
    [
        (["--augment"], "error: --augment turns the data engine's examples, not those of --data"),
        (
            ["--ct-noise-floor", "0.5"],
            "error: --ct-noise-floor changes the data engine's CT phantoms, not the images of --data",
        ),
        (
            ["--ct-resolution"],
            "error: --ct-resolution adds a data engine degradation, not one of the images of --data",
        ),
        (
            ["--phantom-weights", "ct_head=3"],
            "error: --phantom-weights weighs the data engine's phantoms, not the images of --data",
        ),
        (
            ["--family-weights", "mr_gibbs=3"],
            "error: --family-weights weighs the data engine's degradations, not the images of --data",
        ),
    ],
)
def test_engine_example_options_refuse_a_manifest(tmp_path, option, error):
    manifest = tmp_path / "scores.csv"
    manifest.write_text("path,score\na.png,1\n")
    res = CliRunner().invoke(
        main, ["train", "finetune", *option, "--data", str(manifest), "--out", str(tmp_path / "run")]
    )
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [error]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("value", "problem"),
    [("4,1", "expected 0 < LOW <= HIGH; got '4,1'"), ("4", "expected LOW,HIGH in HU (e.g. 1,4); got '4'")],
)
def test_a_bad_noise_floor_range_is_refused_before_training(tmp_path, value, problem):
    out = tmp_path / "run"
    args = ["train", "finetune", "--ct-noise-floor", "0.5", "--ct-noise-floor-hu", value, "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert f"Invalid value for '--ct-noise-floor-hu': {problem}" in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("stage", "option", "value", "problem"),
    [
        (
            "pretrain",
            "--phantom-weights",
            "ct_hed=3",
            "unknown phantom kind 'ct_hed'; known: ct_abdomen, ct_chest, ct_head, fundus, mr_brain",
        ),
        ("pretrain", "--phantom-weights", "ct_head=0", "phantom weight of ct_head must be > 0; got 0.0"),
        (
            "pretrain",
            "--phantom-weights",
            "ct_head",
            "expected KIND=W[,KIND=W] (e.g. ct_head=3); got 'ct_head'",
        ),
        (
            "finetune",
            "--family-weights",
            "mr_gibs=3",
            "unknown degradation family 'mr_gibs'; known: ct_dose,",
        ),
        ("finetune", "--family-weights", "mr_gibbs=-1", "family weight of mr_gibbs must be > 0; got -1.0"),
        (
            "finetune",
            "--family-weights",
            "mr_gibbs",
            "expected FAMILY=W[,FAMILY=W] (e.g. mr_bias_field=3); got 'mr_gibbs'",
        ),
    ],
)
def test_bad_draw_weights_are_refused_before_training(tmp_path, stage, option, value, problem):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", stage, option, value, "--out", str(out)])
    assert res.exit_code == 2
    assert f"Invalid value for '{option}': {problem}" in res.output
    assert not out.exists()


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_a_noise_floor_range_without_the_floor_is_refused(tmp_path, stage):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", stage, "--ct-noise-floor-hu", "1,4", "--out", str(out)])
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [
        "error: --ct-noise-floor-hu sets the noise of --ct-noise-floor P; give that too"
    ]
    assert not out.exists()


def test_a_cached_validation_set_is_named_after_the_engine_source():
    from mediqa_sdk.train.cli import _engine_digest, _engine_sources

    names = {p.relative_to(p.parents[1]).as_posix() for p in _engine_sources()}
    # faults, labels, the phantom generators, the split table and the held-out levels
    expected = {"degrade/mr.py", "data/labels.py", "phantoms/ct.py", "data/splits.csv", "export/heldout.py"}
    assert expected <= names
    assert len(_engine_digest()) == 64 and _engine_digest() == _engine_digest()


def test_export_and_interpolate_refuse_a_resume_state_in_one_line(tmp_path):
    import torch

    state = tmp_path / "last.pt"
    torch.save({"model": {}, "optim": {}, "step": 3}, state)
    res = CliRunner().invoke(main, ["export", "checkpoint", str(state), "--name", "x"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"error: {state}: not a model checkpoint (no model configuration; a run's last.pt written before "
        "2026-12-07 holds only the state to resume from: use the run's best.pt)"
    ]
    args = [
        "train",
        "interpolate",
        "--init",
        str(state),
        "--finetuned",
        str(state),
        "--out",
        str(tmp_path / "m.pt"),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and res.output.startswith(f"error: --init {state}: not a model checkpoint")
    assert not (tmp_path / "m.pt").exists()
