"""Weight-space interpolation of a fine-tuned scorer with the model it started from (WiSE-FT).

``theta(alpha) = (1 - alpha) * theta_start + alpha * theta_finetuned`` (Wortsman et al., "Robust fine-tuning
of zero-shot models", CVPR 2022). A fine-tune from a model moves its weights a short way within one basin,
so the points between the two are models as well; in the paper they kept more of what the start model did
on data the fine-tune under-represents and most of the fine-tune's gain. It does not repair what the
fine-tune lost on data it never saw: the README has the runs measured here.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["interpolate_models"]


@torch.no_grad()
def interpolate_models(start: nn.Module, finetuned: nn.Module, alpha: float) -> nn.Module:
    """A copy of ``finetuned`` whose floating-point weights and buffers are
    ``(1 - alpha) * start + alpha * finetuned``; other buffers (counters) are the fine-tune's.

    Raises ``ValueError`` when ``alpha`` is outside ``[0, 1]`` or the two models differ in structure
    (other parameter names or shapes: not one model at two points of training).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must lie in [0, 1] (0 = the start model, 1 = the fine-tune)")
    a, b = start.state_dict(), finetuned.state_dict()
    if a.keys() != b.keys():
        differ = sorted(set(a) ^ set(b))
        raise ValueError(f"the models have different parameters ({', '.join(differ[:3])} ...)")
    for k in a:
        if a[k].shape != b[k].shape:
            raise ValueError(f"the models differ at {k}: shape {tuple(a[k].shape)} vs {tuple(b[k].shape)}")
    mixed = {
        k: torch.lerp(a[k].float(), b[k].float(), alpha).to(b[k].dtype) if b[k].is_floating_point() else b[k]
        for k in b
    }
    out = copy.deepcopy(finetuned)
    out.load_state_dict(mixed)
    return out
