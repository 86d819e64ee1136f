"""Give a trained scorer the slice-level context term without changing what it computes.

With ``global_context`` every patch logit gets ``g = MLP_g([mean_j t_j ; std_j t_j])`` (see
:class:`~.maniqa.MedIQAScorer`). The branch's last layer starts at 0, so ``g = 0`` and a model given the
branch scores every input as before; fine-tuning then moves ``g`` only as far as the evidence helps. Its
use: a patch score sees a patch and its window, so a fault that only shows as a difference between distant
regions (an MR bias field: one side of the brain brighter than the other) hardly moves it, while the spread
of the tokens over the slice does change with it.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .maniqa import MedIQAScorer

__all__ = [
    "CONTEXT_PREFIX",
    "NoTrainableError",
    "add_context_quadrants",
    "add_global_context",
    "freeze_except",
]

#: parameter-name prefix of the context branch (``--train-only context_branch`` trains it alone)
CONTEXT_PREFIX = "context_branch"


class NoTrainableError(ValueError):
    """No parameter name starts with the prefixes given to train."""


def add_global_context(model: MedIQAScorer) -> MedIQAScorer:
    """A copy of ``model`` with the context branch (last layer 0): the same outputs for every input."""
    if model.cfg.global_context:
        return model
    out = MedIQAScorer(replace(model.cfg, global_context=True))
    missing, unexpected = out.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith(CONTEXT_PREFIX) for k in missing):
        raise ValueError(f"not a scorer of the same architecture: missing {missing}, unexpected {unexpected}")
    return out.train(model.training)


def add_context_quadrants(model: MedIQAScorer) -> MedIQAScorer:
    """A copy of ``model`` whose context branch also reads the quadrant means (``context_quadrants``), their
    input weights at 0: the same outputs for every input. Adds the branch first where it is missing."""
    if model.cfg.context_quadrants:
        return model
    model = add_global_context(model)
    out = MedIQAScorer(replace(model.cfg, context_quadrants=True))
    state = dict(model.state_dict())
    key = f"{CONTEXT_PREFIX}.0.weight"
    old = state[key]
    state[key] = torch.cat([old, old.new_zeros(old.shape[0], 2 * old.shape[1])], dim=1)
    out.load_state_dict(state)
    return out.train(model.training)


def freeze_except(model: nn.Module, prefixes: tuple[str, ...]) -> list[str]:
    """Freeze every parameter whose name starts with none of ``prefixes``; returns the trainable names.

    Raises :class:`NoTrainableError` when a prefix matches no parameter (a misspelt one would otherwise
    leave its part frozen without a word).
    """
    names = [n for n, _ in model.named_parameters()]
    unmatched = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if unmatched or not prefixes:
        tops = ", ".join(sorted({n.split(".")[0] for n in names}))
        what = ", ".join(unmatched) or "(no prefix given)"
        raise NoTrainableError(f"no parameter name starts with {what} (the model has {tops})")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(prefixes))
    return [n for n in names if n.startswith(prefixes)]
