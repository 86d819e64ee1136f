"""Test-time views: a scorer that averages orientations of the square scores every orientation alike, is the
mean of its one-view scores, exports with parity, and trains from one view again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from mediqa_sdk.export.onnx_export import export_command, ort_session
from mediqa_sdk.train.loop import load_init
from mediqa_sdk.train.model import build_model, save_checkpoint, scorer_config
from mediqa_sdk.train.model.maniqa import ORIENTATIONS, orient

from mediqa_sdk.registry import load_registry

from .test_export import _tmp_registry


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    """The test preset with its head's last layers scaled up, so a random model's score follows the image."""
    torch.manual_seed(0)
    model = build_model(scorer_config("tiny")).eval()
    with torch.no_grad():
        for layer in (model.score_branch[2], model.slice_fc, model.physics_fc):
            layer.weight.mul_(30.0)
    return model


def _viewing(model: torch.nn.Module, views: int) -> torch.nn.Module:
    """The same weights scoring ``views`` orientations (the config is all that changes)."""
    other = build_model(replace(model.cfg, views=views)).eval()
    other.load_state_dict(model.state_dict())
    return other


def _inputs(s: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise over a ramp down the rows and a bright block near one corner, so no turn maps it onto itself."""
    gen = torch.Generator().manual_seed(7)
    prompt = torch.zeros(2, 21)
    prompt[:, 1] = prompt[:, 3] = 1.0  # 3d, ct
    slices = 0.3 * torch.rand(2, s, 3, 224, 224, generator=gen)
    slices += torch.linspace(-1.0, 1.0, 224)[:, None]
    slices[..., 20:70, 140:200] += 1.5
    return slices, prompt


def test_orientations_are_the_square_symmetries_and_each_count_is_a_group() -> None:
    x = torch.arange(2 * 5 * 5.0).reshape(2, 5, 5)
    views = [orient(x, t, m) for t, m in ORIENTATIONS]
    for (t, m), got in zip(ORIENTATIONS, views, strict=True):
        want = torch.rot90(x, t, dims=(-2, -1))
        assert torch.equal(got, want.flip(-1) if m else want)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for n in (1, 2, 4, 8):  # orienting a view of the first n again gives a view of the first n
        group = {tuple(v.flatten().tolist()) for v in views[:n]}
        for t, m in ORIENTATIONS[:n]:
            assert {tuple(orient(v, t, m).flatten().tolist()) for v in views[:n]} == group


def test_unknown_view_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="views must be one of"):
        replace(scorer_config("tiny"), views=3)


@torch.no_grad()
def test_the_views_are_averaged_slice_by_slice(tiny: torch.nn.Module) -> None:
    slices, prompt = _inputs()
    one = [tiny(orient(slices, t, m), prompt) for t, m in ORIENTATIONS[:4]]
    got = _viewing(tiny, 4)(slices, prompt)
    q = torch.stack([o.slice_scores for o in one]).mean(0)
    logits = torch.stack([o.slice_weights.log() for o in one]).mean(0)  # log-softmax = logits - const
    weights = torch.softmax(logits, dim=1)
    torch.testing.assert_close(got.slice_scores, q)
    torch.testing.assert_close(got.slice_weights, weights)
    torch.testing.assert_close(got.score, (weights * q).sum(1))
    assert got.physics.shape == one[0].physics.shape
    assert torch.all((got.physics > 0) & (got.physics < 1))


@torch.no_grad()
def test_eight_views_score_every_orientation_alike_and_fewer_only_their_own(tiny: torch.nn.Module) -> None:
    slices, prompt = _inputs()
    eight, two = _viewing(tiny, 8), _viewing(tiny, 2)
    ref8, ref2 = eight(slices, prompt), two(slices, prompt)
    for t, m in ORIENTATIONS:
        turned = orient(slices, t, m)
        out = eight(turned, prompt)
        torch.testing.assert_close(out.score, ref8.score, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.physics, ref8.physics, atol=1e-5, rtol=0)
    torch.testing.assert_close(two(orient(slices, 0, True), prompt).score, ref2.score, atol=1e-5, rtol=0)
    quarter = two(orient(slices, 1, False), prompt).score  # not in the mirror group: a different score
    assert torch.max(torch.abs(quarter - ref2.score)) > 1e-4
    one = tiny(slices, prompt).score
    assert torch.max(torch.abs(tiny(orient(slices, 1, False), prompt).score - one)) > 1e-4


def test_export_views_writes_an_averaging_graph_with_parity(tiny: torch.nn.Module, tmp_path) -> None:
    from mediqa_sdk.export.onnx_export import export_onnx

    graph = export_onnx(tiny, tmp_path / "base" / "tiny.onnx")
    registry_file = _tmp_registry(tmp_path, graph)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(tiny, ckpt, {"seed": 1})
    args = [str(ckpt), "--name", "tiny-views", "--registry", str(registry_file), "--views", "4"]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    rec = load_registry(registry_file).get("tiny-views", "scorer")
    assert rec.metrics["onnx_parity"]["max_abs_diff"] < 1e-4
    slices, prompt = _inputs(s=7)
    got = ort_session(rec.path).run(["score"], {"slices": slices.numpy(), "prompt": prompt.numpy()})[0]
    with torch.no_grad():
        want = _viewing(tiny, 4)(slices, prompt).score.numpy()
        single = tiny(slices, prompt).score.numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.max(np.abs(got - single)) > 1e-4  # the graph averages; it is not the one-view model
    # a run from this model trains on one orientation at a time again
    ckpt8 = tmp_path / "tiny8.pt"
    save_checkpoint(_viewing(tiny, 8), ckpt8)
    assert load_init(str(ckpt8)).cfg.views == 1


def test_views_apply_to_scorers_only(tmp_path) -> None:
    from mediqa_sdk.train.model import classifier_config

    ckpt = tmp_path / "cls.pt"
    save_checkpoint(build_model(classifier_config("tiny")).eval(), ckpt)
    registry_file = tmp_path / "models.json"
    registry_file.write_text('{"registry_version": 1, "models": []}')
    args = [str(ckpt), "--name", "c", "--registry", str(registry_file), "--views", "2"]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code != 0 and "--views applies to a scorer" in result.output


def test_weights_read_back_from_an_averaging_graph(tmp_path) -> None:
    from mediqa_sdk.export.onnx_export import export_onnx
    from mediqa_sdk.export.onnx_import import load_onnx_weights

    cfg = scorer_config("tiny")
    cfg = replace(cfg, backbone=replace(cfg.backbone, norm="group"), views=4)
    torch.manual_seed(3)
    graph = export_onnx(build_model(cfg).eval(), tmp_path / "gn4.onnx")
    torch.manual_seed(4)
    fresh = build_model(cfg)
    load_onnx_weights(fresh, graph)  # parity with the graph is checked inside, at 1e-4
    slices, prompt = _inputs(s=1)
    got = ort_session(graph).run(["score"], {"slices": slices.numpy(), "prompt": prompt.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(fresh(slices, prompt).score.numpy(), got, atol=1e-5)
