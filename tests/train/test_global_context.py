"""The slice-level context term: adding it keeps a trained scorer's output, it exports and reads back, and a
run can train it alone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from mediqa_sdk.export.onnx_export import export_onnx
from mediqa_sdk.export.onnx_import import load_onnx_weights
from mediqa_sdk.train.loop import TrainSettings, train
from mediqa_sdk.train.model import build_model, load_checkpoint, save_checkpoint, scorer_config
from mediqa_sdk.train.model.global_context import (
    NoTrainableError,
    add_context_quadrants,
    add_global_context,
    freeze_except,
)
from mediqa_sdk.train.model.maniqa import slice_context

from mediqa_sdk.cli import main

from .test_interpolate import run_interpolate
from .test_training import _toy_batches


def _tiny_gn(seed: int) -> torch.nn.Module:
    """The test preset with GroupNorm (a graph with BatchNorm folded cannot be read back)."""
    torch.manual_seed(seed)
    cfg = scorer_config("tiny")
    return build_model(replace(cfg, backbone=replace(cfg.backbone, norm="group"))).eval()


@torch.no_grad()
def _move_branch(model: torch.nn.Module, seed: int) -> None:
    """Give the context branch random weights, as training would move it from 0."""
    gen = torch.Generator().manual_seed(seed)
    for param in model.context_branch.parameters():
        param.normal_(0, 0.5, generator=gen)


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return torch.rand(2, 3, 3, 224, 224, generator=gen), torch.zeros(2, 21)


def test_slice_context_is_the_mean_and_population_spread_of_each_channel() -> None:
    tokens = torch.randn(3, 196, 8)
    ctx = slice_context(tokens)
    torch.testing.assert_close(ctx[:, :8], tokens.mean(1))
    torch.testing.assert_close(ctx[:, 8:], tokens.std(1, correction=0), atol=1e-5, rtol=1e-5)
    flat = slice_context(torch.ones(1, 196, 8))  # a flat slice: spread sqrt(eps), finite gradient
    assert torch.all(flat[:, 8:] < 1e-2)


def test_adding_the_branch_keeps_every_output_until_it_learns() -> None:
    model = _tiny_gn(0)
    with_ctx = add_global_context(model).eval()
    assert with_ctx.cfg.global_context and not model.cfg.global_context
    x, p = _inputs()
    with torch.no_grad():
        before, after = model(x, p), with_ctx(x, p)
        for a, b in zip(before, after, strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    _move_branch(with_ctx, 1)
    with torch.no_grad():
        moved = with_ctx(x, p)
    assert not torch.allclose(moved.score, before.score)
    torch.testing.assert_close(moved.slice_weights, before.slice_weights)  # only the scores move
    torch.testing.assert_close(moved.physics, before.physics)
    assert add_global_context(with_ctx) is with_ctx


def test_a_scorer_with_the_branch_exports_with_parity_and_reads_back(tmp_path) -> None:
    model = add_global_context(_tiny_gn(0)).eval()
    _move_branch(model, 2)
    graph = export_onnx(model, tmp_path / "ctx.onnx")
    x, p = _inputs()
    with torch.no_grad():
        ref = model(x, p).score.numpy()
    sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, {names[0]: x.numpy(), names[1]: p.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-4
    back = load_onnx_weights(build_model(model.cfg), graph)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value)


def test_quadrant_context_is_each_quadrant_mean_less_the_slice_mean() -> None:
    grid = torch.zeros(1, 4, 4, 2)
    grid[:, :2, :2] = 1.0  # top-left quadrant bright in both channels
    grid[:, 2:, :, 1] = -1.0  # lower half dark in channel 1
    ctx = slice_context(grid.reshape(1, 16, 2), quadrants=4)
    assert ctx.shape == (1, 12)
    torch.testing.assert_close(ctx[:, :4], slice_context(grid.reshape(1, 16, 2)))
    mean = torch.tensor([0.25, -0.25])
    quads = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, -1.0], [0.0, -1.0]]) - mean  # TL, TR, BL, BR
    torch.testing.assert_close(ctx[0, 4:], quads.flatten())


def test_adding_quadrant_inputs_keeps_a_trained_branch_and_exports_with_parity(tmp_path) -> None:
    model = add_global_context(_tiny_gn(0)).eval()
    _move_branch(model, 3)
    quad = add_context_quadrants(model).eval()
    assert (
        quad.cfg.context_quadrants
        and quad.context_branch[0].in_features == 3 * model.context_branch[0].in_features
    )
    x, p = _inputs()
    with torch.no_grad():  # zero weights on the new inputs; a wider product may round differently
        for a, b in zip(model(x, p), quad(x, p), strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    _move_branch(quad, 4)  # the quadrant inputs now count
    graph = export_onnx(quad, tmp_path / "quad.onnx")
    with torch.no_grad():
        ref = quad(x, p).score.numpy()
    sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert np.abs(sess.run(None, {names[0]: x.numpy(), names[1]: p.numpy()})[0] - ref).max() < 1e-4
    assert add_context_quadrants(quad) is quad


def test_freeze_except_leaves_only_the_named_part_trainable_and_refuses_a_misspelt_one() -> None:
    model = add_global_context(_tiny_gn(0))
    names = freeze_except(model, ("context_branch",))
    assert names == [n for n, _ in model.named_parameters() if n.startswith("context_branch.")] and names
    assert all(p.requires_grad == n.startswith("context_branch") for n, p in model.named_parameters())
    with pytest.raises(
        NoTrainableError, match=r"no parameter name starts with context_brnch \(the model has"
    ):
        freeze_except(model, ("context_branch", "context_brnch"))
    with pytest.raises(NoTrainableError, match=r"starts with \(no prefix given\)"):
        freeze_except(model, ())


def test_a_run_that_trains_the_branch_alone_moves_nothing_else(tmp_path) -> None:
    start = _tiny_gn(0)
    save_checkpoint(start, tmp_path / "start.pt")
    val = [b for _, b in zip(range(2), _toy_batches(99), strict=False)]
    settings = TrainSettings(
        stage="finetune",
        out_dir=str(tmp_path / "run"),
        init=str(tmp_path / "start.pt"),
        max_steps=30,
        lr=5e-3,
        warmup_steps=2,
        eval_every=30,
        bf16=False,
        threads=1,
        extra={"global_context": True, "train_only": ["context_branch"]},
    )
    lines: list[str] = []
    train(settings, _toy_batches(0), val, log=lines.append)
    tuned, _ = load_checkpoint(tmp_path / "run" / "last.pt")
    assert tuned.cfg.global_context
    assert any(line.startswith("training 4 tensors") for line in lines)
    before = start.state_dict()
    for key, value in tuned.state_dict().items():
        if key.startswith("context_branch"):
            continue
        torch.testing.assert_close(value, before[key], atol=0, rtol=0)
    assert tuned.context_branch[2].weight.abs().sum() > 0  # the branch left 0


def test_the_interpolation_of_a_branch_fine_tune_starts_from_the_branch_at_zero(tmp_path) -> None:
    start = _tiny_gn(0)
    tuned = add_global_context(_tiny_gn(0))
    _move_branch(tuned, 3)
    save_checkpoint(start, tmp_path / "start.pt")
    save_checkpoint(tuned, tmp_path / "tuned.pt")
    out = tmp_path / "wise.pt"
    res = run_interpolate(tmp_path / "start.pt", tmp_path / "tuned.pt", 0.5, out)
    assert res.exit_code == 0, res.output
    mixed, _ = load_checkpoint(out)
    torch.testing.assert_close(mixed.context_branch[2].weight, tuned.context_branch[2].weight / 2)
    torch.testing.assert_close(mixed.score_branch[0].weight, start.score_branch[0].weight)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--train-only", "context_branch"], "error: --train-only context_branch needs --global-context"),
        (["--train-only", "score_brnch"], "error: --train-only: no parameter name starts with score_brnch"),
    ],
)
def test_bad_train_only_prefixes_are_refused_before_training(tmp_path, extra, problem) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "finetune", *extra, "--out", str(out)])
    assert res.exit_code == 1
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith(problem)
    assert not out.exists()
