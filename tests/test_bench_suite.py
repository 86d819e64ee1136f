"""The benchmark suite (bench/suite.py): baseline models, slice-choice helpers, paired deltas, tables."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import _suite_data  # noqa: E402
import _suite_eval  # noqa: E402
import _suite_render  # noqa: E402
from mediqa_sdk.train.model import (  # noqa: E402
    BASELINE_PRESETS,
    baseline_config,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from mediqa_sdk.train.model.baselines import CNNIQA, local_contrast_normalise  # noqa: E402

TINY = ("baseline-resnet-tiny", "baseline-vit-tiny", "baseline-cnniqa-tiny")


def _slices(b: int, s: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(
        np.random.default_rng(seed).uniform(-1, 1, (b, s, 3, 224, 224)).astype(np.float32)
    )


@pytest.mark.parametrize("name", TINY)
def test_baselines_follow_the_scorer_contract(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(baseline_config(name)).eval()
    x = _slices(2, 3)
    with torch.no_grad():
        out = model(x, torch.zeros(2, 21))
        again = model(x, torch.ones(2, 21))  # baselines take the prompt and ignore it
    assert out.score.shape == (2,) and out.slice_scores.shape == (2, 3)
    assert out.slice_weights.shape == (2, 3) and out.physics.shape == (2, 2)
    assert torch.all((out.slice_scores >= 0) & (out.slice_scores <= 1))
    assert torch.all((out.physics >= 0) & (out.physics <= 1))
    assert torch.allclose(out.slice_weights.sum(1), torch.ones(2))
    assert torch.allclose(out.score, out.slice_scores.mean(1))  # plain mean over slices
    # the same input twice; not bitwise: a BLAS may split a product over fewer threads on a busy machine
    torch.testing.assert_close(out.score, again.score, rtol=0, atol=1e-6)
    with torch.no_grad():
        single = model(x[:1, :1], torch.zeros(1, 21))
    assert single.score.shape == (1,) and torch.allclose(single.score, single.slice_scores[:, 0])


@pytest.mark.parametrize("name", TINY)
def test_baselines_learn_a_fixed_batch_in_a_few_steps(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(baseline_config(name)).train()
    x = _slices(4, 1, seed=1)
    ramp = torch.linspace(-1, 1, 224)
    x[:2] = (ramp[:, None] * ramp[None, :])[None, None, None]  # two smooth images, two noise images
    target = torch.tensor([0.9, 0.8, 0.2, 0.1])
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.mse_loss(model(x, torch.zeros(4, 21)).score, target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.7 * losses[0]  # CNNIQA's dropout makes single steps noisy


def test_baseline_checkpoints_round_trip_and_train_in_the_shared_loop(tmp_path: Path) -> None:
    from mediqa_sdk.train.loop import TrainSettings, train

    torch.manual_seed(0)
    model = build_model(baseline_config("baseline-cnniqa-tiny"))
    init = tmp_path / "init.pt"
    save_checkpoint(model, init)
    loaded, _ = load_checkpoint(init)
    assert isinstance(loaded, CNNIQA) and loaded.cfg == model.cfg
    x = _slices(2, 1)
    with torch.no_grad():
        assert torch.equal(loaded(x, torch.zeros(2, 21)).score, model.eval()(x, torch.zeros(2, 21)).score)

    batch = {
        "slices": x,
        "prompt": torch.zeros(2, 21),
        "score": torch.tensor([0.2, 0.8]),
        "physics": torch.zeros(2, 2),
        "physics_mask": torch.zeros(2, 2, dtype=torch.bool),
        "group": torch.tensor([1, 1]),
    }
    settings = TrainSettings(
        stage="finetune",
        out_dir=str(tmp_path / "run"),
        init=str(init),
        max_steps=3,
        eval_every=3,
        warmup_steps=1,
        bf16=False,
        threads=1,
    )
    report = train(settings, iter([batch] * 10), [batch])
    assert report.steps == 3
    trained, provenance = load_checkpoint(report.best_path)
    assert isinstance(trained, CNNIQA) and provenance["stage"] == "finetune"


def test_cnniqa_cuts_normalised_grey_patches() -> None:
    model = build_model(baseline_config("baseline-cnniqa-tiny"))
    assert model.patches(_slices(2, 1)[:, 0]).shape == (2 * 49, 1, 32, 32)  # 7 x 7 patches of 32 px
    flat = local_contrast_normalise(torch.full((1, 1, 16, 16), 0.3), 0.01)
    assert torch.allclose(flat, torch.zeros_like(flat), atol=1e-5)  # no local contrast -> 0


def test_baseline_presets_are_named_and_unknown_names_are_listed() -> None:
    assert all(cfg.name == name for name, cfg in BASELINE_PRESETS.items())
    with pytest.raises(KeyError, match="baseline-resnet"):
        baseline_config("resnet-50")


# -- slice choice (salient-slice ablation) ----------------------------------------------------------------


def test_uniform_slices_span_the_whole_volume() -> None:
    assert _suite_data.uniform_slices(64) == (0, 10, 21, 32, 42, 52, 63)  # halves round to even
    assert _suite_data.uniform_slices(7) == tuple(range(7))
    few = _suite_data.uniform_slices(3)
    assert len(few) == 7 and set(few) == {0, 1, 2} and list(few) == sorted(few)
    with pytest.raises(ValueError):
        _suite_data.uniform_slices(0)


def test_random_slices_are_seeded_sorted_and_distinct() -> None:
    a = _suite_data.random_slices(40, 7, np.random.default_rng(3))
    assert a == _suite_data.random_slices(40, 7, np.random.default_rng(3))
    assert a != _suite_data.random_slices(40, 7, np.random.default_rng(4))
    assert list(a) == sorted(a) and len(set(a)) == 7 and min(a) >= 0 and max(a) < 40
    short = _suite_data.random_slices(4, 7, np.random.default_rng(0))
    assert len(short) == 7 and set(short) <= {0, 1, 2, 3}


def test_family_keys_and_labels() -> None:
    assert _suite_data.downstream_family("ct", "abdomen", "soft_window") == "ct/abdomen"
    assert _suite_data.downstream_family("mr", "head", "flair") == "mr/head/flair"
    assert _suite_data.downstream_family("fundus", "eye", "color") == "fundus"
    assert _suite_data.family_label("mr/head/t1") == "MR head T1"
    assert _suite_data.family_label("ct/lung_window") == "CT lung window"


def _image(
    key: str, modality: str, region: str, type_: str, dim: str, family: str, severity: int, mos: float
):
    source = key.split("|")[0]
    return _suite_data.HeldoutImage(
        key,
        source,
        modality,
        region,
        type_,
        dim,
        family,
        severity,
        float(severity),
        mos,
        None,
        None,
        {},
        np.zeros((2, 2), np.float32),
    )


def test_cells_pool_modalities_and_keep_families_apart() -> None:
    imgs = [
        _image("a|3d|clean|0", "ct", "head", "brain_window", "3d", "clean", 0, 1.0),
        _image("b|2d|clean|0", "mr", "head", "t1", "2d", "clean", 0, 1.0),
        _image("c|2d|clean|0", "mr", "head", "t2", "2d", "clean", 0, 1.0),
        _image("d|2d|clean|0", "fundus", "eye", "color", "2d", "clean", 0, 1.0),
    ]
    cells = _suite_eval.downstream_cells(imgs)
    assert cells[:2] == [("ct", "3d"), ("mr", "2d")]  # pooled first, 3D before 2D
    assert ("mr/head/t1", "2d") in cells and ("fundus", "2d") in cells and ("fundus", "3d") not in cells
    assert [i.key for i in imgs if _suite_eval.in_cell(i, ("mr", "2d"))] == ["b|2d|clean|0", "c|2d|clean|0"]


def test_sweep_averages_series_per_level_with_clean_as_level_zero() -> None:
    imgs = [
        _image("a|2d|clean|0", "mr", "head", "t1", "2d", "clean", 0, 1.0),
        _image("b|2d|clean|0", "mr", "head", "t1", "2d", "clean", 0, 1.0),
        _image("a|2d|mr_motion|1", "mr", "head", "t1", "2d", "mr_motion", 1, 0.5),
        _image("b|2d|mr_motion|1", "mr", "head", "t1", "2d", "mr_motion", 1, 0.3),
    ]
    scores = {"a|2d|clean|0": 0.8, "b|2d|clean|0": 0.6, "a|2d|mr_motion|1": 0.4, "b|2d|mr_motion|1": 0.2}
    curve = _suite_eval.sweep(imgs, scores)["mr_motion"]
    assert [p["severity"] for p in curve] == [0, 1]
    assert curve[0]["mean"] == pytest.approx(0.7) and curve[0]["sd"] == pytest.approx(0.1)
    assert curve[1]["mean"] == pytest.approx(0.3) and curve[1]["mos"] == pytest.approx(0.4)
    assert curve[0]["param"] is None and curve[1]["param"] == 1.0


# -- paired deltas -----------------------------------------------------------------------------------------


def test_paired_deltas_are_zero_for_identical_models_and_positive_for_a_better_one() -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(size=60)
    same = _suite_eval.paired_deltas(true, true, true, n_resamples=100)
    assert same["srcc"]["delta"] == 0.0 and same["srcc"]["ci95"] == [0.0, 0.0]
    noisy = true + rng.normal(0, 0.5, size=60)
    better = _suite_eval.paired_deltas(true, noisy, true, n_resamples=200, seed=1)
    assert better["srcc"]["delta"] > 0 and better["srcc"]["ci95"][0] > 0  # full model clearly better
    assert better["rmse"]["delta"] < 0 and better["rmse"]["ci95"][1] < 0
    lo, hi = better["plcc"]["ci95"]
    assert lo <= better["plcc"]["delta"] <= hi
    with pytest.raises(ValueError):
        _suite_eval.paired_deltas([1.0, 2.0], [1.0], [1.0, 2.0])


def test_classical_alignment_flips_lower_is_better_measures() -> None:
    true = [0.1, 0.5, 0.9, 0.3]
    noise = [30.0, 12.0, 5.0, 20.0]  # lower noise = better image
    assert _suite_eval.aligned_srcc(noise, true, -1)["srcc"] == pytest.approx(1.0)
    out = _suite_eval.aligned_srcc([1.0, float("nan"), 3.0], [0.1, 0.2, 0.3], 1)
    assert out["n"] == 2 and np.isnan(out["srcc"])  # too few finite pairs


# -- the page ----------------------------------------------------------------------------------------------


def _cell(s: float, p: float, r: float, n: int = 10) -> dict:
    return {"n": n, "srcc": s, "plcc": p, "rmse": r}


def _suite_json(quick: bool = True) -> dict:
    delta = {m: {"delta": 0.1, "ci95": [0.02, 0.2]} for m in ("srcc", "plcc", "rmse")}
    ablation = {"n": 10, "full": _cell(0.6, 0.6, 0.2), "ablated": _cell(0.5, 0.5, 0.2), "deltas": delta}
    models = {
        "shipped": {"label": "MedIQA shipped (m, ONNX)", "kind": "onnx", "training": {"step": 300}},
        "cnniqa": {
            "label": "CNNIQA (Kang 2014)",
            "kind": "torch",
            "config": "baseline-cnniqa",
            "params": 7e5,
            "training": {"pretrain": {"steps": 5, "seconds": 60}, "finetune": {"steps": 5, "seconds": 60}},
        },
    }
    return {
        "meta": {
            "quick": quick,
            "command": "python bench/suite.py --quick",
            "date": "2026-01-01",
            "seed": 0,
            "scorer": "m",
            "budget_minutes_per_model": 2.0,
            "max_steps_per_model": 20,
            "sources": ["s1", "s2"],
            "n_images": 20,
            "n_3d": 10,
            "machine": {"cpu_count": 2, "platform": "linux"},
            "timings_s": {"training": 120.0},
            "total_seconds": 300.0,
        },
        "models": models,
        "upstream": {
            "columns": ["all", "ct/lung_window"],
            "images": {"all": 8, "ct/lung_window": 4},
            "rows": {"shipped": {"all": _cell(0.9, 0.8, 0.1), "ct/lung_window": _cell(0.7, 0.6, 0.2, 4)}},
            "classical": {"ct_noise": {"ct/lung_window": {"n": 4, "srcc": 0.95}}},
        },
        "downstream": {
            "cells": [["ct", "3d"], ["ct/abdomen", "2d"]],
            "leaf_cells": [["ct/abdomen", "2d"]],
            "rows": {
                "shipped": {"ct@3d": _cell(0.5, 0.4, 0.3), "ct/abdomen@2d": _cell(0.61, 0.5, 0.2)},
                "cnniqa": {"ct@3d": _cell(0.2, 0.1, 0.3), "ct/abdomen@2d": _cell(0.7, 0.6, 0.2)},
            },
            "average_srcc": {"shipped": 0.61, "cnniqa": 0.7},
            "classical": {"ct_noise": {"ct/abdomen@2d": {"n": 10, "srcc": 0.44}}},
            "classical_descriptions": {"ct_noise": "CT global noise level, lower is better"},
        },
        "ablations": {
            "resamples": 100,
            "eval_time": {"plain_mean": {"ct/abdomen@3d": ablation}},
            "training": {},
        },
        "sweep": {"ct_dose": [{"severity": 0, "param": None, "n": 2, "mean": 0.8, "sd": 0.05, "mos": 1.0}]},
        "calibration": {"families": {"ct": {"n": 10, "poor_below": 0.4, "good_from": 0.7, "notes": []}}},
        "parity": {"runtime_images_checked": 3, "runtime_score_max_abs_diff": 0.0},
        "figures": {"robustness": "robustness.png"},
    }


def test_page_shows_our_cells_next_to_the_papers_and_says_which_is_which() -> None:
    page = _suite_render.render_markdown(_suite_json())
    assert "Quick run — not the real figures" in page
    assert "**Different data from the paper.**" in page
    assert "0.500 / 0.400 / 0.300" in page  # our CT 3D cell
    assert "Chest-CTIQA (ours: CT 3D)" in page
    assert "0.4641 / 0.4990 / 0.2530" in page  # the paper's CNNIQAnet, Chest-CTIQA
    assert "paper: Ours-s" in page and "paper: CNNIQAnet" in page
    assert "does not beat every baseline" in page and "CNNIQA (Kang 2014) 0.700" in page
    assert "ΔS +0.100 [+0.020, +0.200]" in page
    assert "CT global noise level, lower is better | 0.440" in page
    assert "![robustness sweep](benchmarks/robustness.png)" in page
    assert "0.80 ± 0.05 (1.00)" in page
    assert "Quick run" not in _suite_render.render_markdown(_suite_json(quick=False))


def test_page_keeps_hand_written_notes_when_regenerated(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    _suite_render.write_markdown(_suite_json(), path)
    text = path.read_text()
    edited = text.replace(
        text[text.index(_suite_render.NOTES_BEGIN) : text.index(_suite_render.NOTES_END)],
        _suite_render.NOTES_BEGIN + "\nFundus is weak because ...\n",
    )
    path.write_text(edited)
    _suite_render.write_markdown(_suite_json(), path)
    assert "Fundus is weak because ..." in path.read_text()
