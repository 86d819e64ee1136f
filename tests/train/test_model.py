"""The torch models: output contract, prompt injection, learning, configs and checkpoints."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from mediqa_sdk.train.model import (  # noqa: E402
    MedIQAScorer,
    build_model,
    classifier_config,
    config_from_dict,
    load_checkpoint,
    save_checkpoint,
    scorer_config,
)
from mediqa_sdk.train.model.maniqa import SwinLayer  # noqa: E402


def _prompt(b: int, hot: tuple[int, ...] = (0, 2, 6, 11)) -> torch.Tensor:
    p = torch.zeros(b, 21)
    p[:, list(hot)] = 1.0
    return p


@pytest.fixture(scope="module")
def tiny() -> MedIQAScorer:
    torch.manual_seed(0)
    return build_model(scorer_config("tiny")).eval()


@pytest.mark.parametrize("s", [1, 7])
def test_scorer_output_contract(tiny, s):
    torch.manual_seed(1)
    with torch.no_grad():
        out = tiny(torch.randn(2, s, 3, 224, 224) * 3, _prompt(2))
    assert out.score.shape == (2,) and out.slice_scores.shape == (2, s)
    assert out.slice_weights.shape == (2, s) and out.physics.shape == (2, 2)
    for t in out:
        assert torch.isfinite(t).all() and (t >= 0).all() and (t <= 1).all()
    torch.testing.assert_close(out.slice_weights.sum(1), torch.ones(2))
    torch.testing.assert_close(out.score, (out.slice_weights * out.slice_scores).sum(1))
    if s == 1:
        torch.testing.assert_close(out.score, out.slice_scores[:, 0])


def test_slices_are_scored_independently_of_their_batch(tiny):
    torch.manual_seed(2)
    x = torch.randn(3, 7, 3, 224, 224)
    with torch.no_grad():
        together = tiny(x, _prompt(3)).slice_scores
        alone = tiny(x[1:2], _prompt(1)).slice_scores
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=0)


def test_prompt_injection_changes_the_output(tiny):
    x = torch.randn(1, 3, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = tiny(x, _prompt(1, (0, 2, 6, 11)))
        b = tiny(x, _prompt(1, (1, 3, 5, 15)))
    assert (a.slice_scores - b.slice_scores).abs().max() > 1e-4
    layers = [m for m in tiny.modules() if isinstance(m, SwinLayer)]
    assert len(layers) == 4 and len({id(m.prompt_fc) for m in layers}) == 4  # one FC per layer
    assert any(m.shift for m in layers)  # shifted windows are used


def test_tiny_model_learns_noise_level():
    """Target = 1 - noise sigma: a few AdamW steps on one batch must reduce the MSE clearly."""
    torch.manual_seed(0)
    model = build_model(scorer_config("tiny")).train()
    gen = torch.Generator().manual_seed(0)
    sigma = torch.linspace(0.0, 1.0, 8)
    base = torch.zeros(8, 1, 3, 224, 224)
    base[..., 56:168, 56:168] = 0.5
    x = base + sigma.view(8, 1, 1, 1, 1) * torch.randn(base.shape, generator=gen)
    y = 1.0 - sigma
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.mean((model(x, _prompt(8)).score - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.5 * losses[0], losses


def test_physics_head_is_trainable_alone(tiny):
    model = build_model(scorer_config("tiny")).train()
    out = model(torch.randn(2, 1, 3, 224, 224), _prompt(2))
    torch.mean((out.physics - 0.5) ** 2).backward()
    assert model.backbone.stem[0][0].weight.grad is not None  # reaches the backbone (upstream pre-training)


def test_classifier_contract():
    model = build_model(classifier_config("tiny")).eval()
    with torch.no_grad():
        out = model(torch.randn(5, 3, 224, 224))
    assert [tuple(t.shape) for t in out] == [(5, 3), (5, 6), (5, 10)]


@pytest.mark.parametrize("name", ["tiny", "cnn-pyramid", "cnn-pyramid-gn", "vit-tiny-conv", "paper-vitb8"])
def test_configs_round_trip_through_dicts(name):
    cfg = scorer_config(name)
    assert config_from_dict(cfg.to_dict()) == cfg
    cls = classifier_config("cnn-small")
    assert config_from_dict(cls.to_dict()) == cls


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="window"):
        scorer_config("tiny", window=5)
    with pytest.raises(ValueError, match="norm"):
        scorer_config("tiny", backbone=replace(scorer_config("tiny").backbone, norm="layer"))


def test_group_norm_scores_the_same_in_training_and_inference_mode():
    """With GroupNorm no statistic depends on the rest of the batch, so a lone fundus photo in a batch of CT
    slices gets the score it gets alone; BatchNorm models differ between the two modes."""
    torch.manual_seed(4)
    cfg = scorer_config("tiny")
    model = build_model(replace(cfg, backbone=replace(cfg.backbone, norm="group")))
    x = torch.randn(3, 1, 3, 224, 224)
    with torch.no_grad():
        train_mode = model.train()(x, _prompt(3)).score
        eval_mode = model.eval()(x, _prompt(3)).score
        alone = model(x[:1], _prompt(1)).score
    torch.testing.assert_close(train_mode, eval_mode)
    torch.testing.assert_close(alone, eval_mode[:1], atol=1e-6, rtol=0)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with pytest.raises(KeyError, match="known"):
        scorer_config("nope")


def test_checkpoint_round_trip(tiny, tmp_path):
    save_checkpoint(tiny, tmp_path / "m.pt", {"seed": 0, "data": ["phantoms"]})
    model, prov = load_checkpoint(tmp_path / "m.pt")
    x = torch.randn(1, 2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x, _prompt(1)).score, tiny(x, _prompt(1)).score)
    assert prov == {"seed": 0, "data": ["phantoms"]}


def test_paper_scale_config_has_the_papers_size():
    """MANIQA on ViT-B/8 has about 136 M parameters; built on the meta device (no memory, no forward)."""
    with torch.device("meta"):
        model = build_model(scorer_config("paper-vitb8"))
    n = sum(p.numel() for p in model.parameters())
    assert 120e6 < n < 150e6
    assert model.cfg.backbone.out_grid == 28 and model.cfg.backbone.out_channels == 3072
