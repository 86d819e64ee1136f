"""The prompt classifier: a small CNN whose three heads name the modality, region and type of a slice."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .backbones import build_backbone
from .config import ClassifierConfig

__all__ = ["ClassifierOutput", "PromptClassifier"]


class ClassifierOutput(NamedTuple):
    """The three outputs of classifier contract v1 (logits, ONNX output order)."""

    modality: torch.Tensor  # [N, M]
    region: torch.Tensor  # [N, R]
    type: torch.Tensor  # [N, T]


class PromptClassifier(nn.Module):
    """``image [N,3,224,224]`` -> ``f = GAP(backbone(image))`` -> logits ``(W_m f, W_r f, W_t f)``.

    Its input channels are the registry's classifier preprocessing (grey: percentile, hu_wide, percentile;
    colour: RGB), normalised with the record's mean/std.
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = build_backbone(cfg.backbone)
        c = cfg.backbone.out_channels
        self.drop = nn.Dropout(cfg.dropout)
        self.modality_head = nn.Linear(c, cfg.n_modality)
        self.region_head = nn.Linear(c, cfg.n_region)
        self.type_head = nn.Linear(c, cfg.n_type)

    def forward(self, image: torch.Tensor) -> ClassifierOutput:
        """See the class docstring."""
        f = self.drop(self.backbone(image).mean(dim=(2, 3)))
        return ClassifierOutput(self.modality_head(f), self.region_head(f), self.type_head(f))
