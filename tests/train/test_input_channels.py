"""Folding a scorer's input weights onto new grey-channel recipes keeps its output, then lets it learn."""

from __future__ import annotations

import pytest
import torch
from mediqa_sdk.train.model import build_model, scorer_config
from mediqa_sdk.train.model.input_channels import first_input_conv, remap_input_channels


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(scorer_config("tiny")).eval()


def test_fold_keeps_the_function_whatever_the_new_channels_hold() -> None:
    model = _model()
    slice_ = torch.rand(1, 2, 1, 224, 224)
    prompt = torch.zeros(1, model.cfg.prompt_dim)
    before = model(slice_.expand(-1, -1, 3, -1, -1), prompt).score
    remap_input_channels(model, ("scored", "scored", "scored"), ("scored", "scored_prev", "scored_next"))
    neighbours = torch.rand(1, 2, 2, 224, 224)  # anything: their weights are 0
    after = model(torch.cat([slice_, neighbours], dim=2), prompt).score
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    weight = first_input_conv(model).weight
    assert weight[:, 1:].abs().max() == 0 and weight[:, 0].abs().max() > 0


def test_fold_onto_a_middle_channel_reports_each_channel() -> None:
    model = _model()
    w = first_input_conv(model).weight.detach().clone()
    done = remap_input_channels(model, ("scored",) * 3, ("scored_prev", "scored", "scored_next"))
    torch.testing.assert_close(first_input_conv(model).weight[:, 1], w.sum(dim=1))
    assert done == ["scored_prev: 0", "scored: old 0 + old 1 + old 2", "scored_next: 0"]


def test_fold_refuses_to_drop_a_recipe() -> None:
    with pytest.raises(ValueError, match="hu_wide"):
        remap_input_channels(
            _model(), ("scored", "hu_wide", "scored"), ("scored", "scored_prev", "scored_next")
        )
