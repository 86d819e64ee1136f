"""Baseline scorers of the benchmark suite, with the MedIQA scorer's forward signature and outputs.

Each baseline maps ``slices [B,S,3,224,224], prompt [B,P]`` to :class:`~.maniqa.ScorerOutput`, so the shared
training loop (:func:`mediqa_sdk.train.loop.train`) and the data engine's batches train it unchanged. The
prompt is accepted and ignored (the paper's baselines have no prompts); a volume's score is the plain mean
of its slice scores (uniform slice weights ``1/S``), and so are its physics estimates:

- ``resnet``: a ResNet-style CNN (the basic-block pyramid of :class:`~.backbones.CNNPyramid`, last stage),
  global average pooling, then ``MLP -> sigmoid`` for the score and ``Linear -> sigmoid`` for physics.
- ``vit``: a plain ViT (one ``patch x patch`` convolution as stem, learned positions, pre-norm blocks), the
  mean of its output tokens, ``LayerNorm``, then the same heads.
- ``cnniqa``: CNNIQA (Kang et al., CVPR 2014). The image is made grey (mean of the channels) and locally
  contrast-normalised, ``x̂ = (x - mu_3x3) / (sigma_3x3 + C)``; non-overlapping 32x32 patches go through one
  7x7 convolution with 50 filters, global max and min pooling (100 features), ``FC 800 -> FC 800 -> 1``;
  the slice score is the mean of the patch scores.

Train one through :func:`~mediqa_sdk.train.loop.train` by handing it a checkpoint of the random
initialisation (``TrainSettings(init=...)``)::

    save_checkpoint(build_model(baseline_config("baseline-cnniqa")), "init.pt")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .backbones import CNNPyramid, ViTBackbone
from .config import IMAGE_SIZE, N_PHYSICS, PROMPT_DIM, BackboneConfig
from .maniqa import ScorerOutput

__all__ = [
    "BASELINE_PRESETS",
    "CNNIQA",
    "BaselineConfig",
    "ResNetRegressor",
    "ViTRegressor",
    "baseline_config",
    "baseline_from_dict",
    "build_baseline",
]

KINDS = ("resnet", "vit", "cnniqa")


@dataclass(frozen=True)
class BaselineConfig:
    """A baseline scorer.

    Attributes:
        kind: ``"resnet"``, ``"vit"`` or ``"cnniqa"``.
        widths, blocks: ResNet channels and basic blocks per stage.
        dim, depth, heads, patch, mlp_ratio: ViT width, blocks, heads, patch side and MLP ratio.
        hidden: hidden width of the score head (CNNIQA: width of its two fully connected layers).
        filters, kernel, patch_px, lcn_c, dropout: CNNIQA's convolution, patch side, the constant ``C`` of
            the local contrast normalisation (on the normalised input scale) and the dropout rate.
    """

    name: str
    kind: str
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    dim: int = 192
    depth: int = 6
    heads: int = 3
    patch: int = 16
    mlp_ratio: float = 4.0
    hidden: int = 128
    filters: int = 50
    kernel: int = 7
    patch_px: int = 32
    lcn_c: float = 0.01
    dropout: float = 0.5
    prompt_dim: int = PROMPT_DIM
    n_physics: int = N_PHYSICS
    image_size: int = IMAGE_SIZE
    task: str = field(default="baseline", init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: baseline kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "cnniqa" and (IMAGE_SIZE % self.patch_px or self.kernel > self.patch_px):
            raise ValueError(f"{self.name}: CNNIQA patch {self.patch_px} must divide {IMAGE_SIZE}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (saved in checkpoints)."""
        return asdict(self)


BASELINE_PRESETS: dict[str, BaselineConfig] = {
    "baseline-resnet": BaselineConfig("baseline-resnet", "resnet"),
    "baseline-vit": BaselineConfig("baseline-vit", "vit", dim=192, depth=6, heads=3, patch=16),
    "baseline-cnniqa": BaselineConfig("baseline-cnniqa", "cnniqa", hidden=800),
    # tests and quick runs only
    "baseline-resnet-tiny": BaselineConfig(
        "baseline-resnet-tiny", "resnet", widths=(8, 16, 24, 32), hidden=16
    ),
    "baseline-vit-tiny": BaselineConfig("baseline-vit-tiny", "vit", dim=32, depth=2, heads=2, hidden=16),
    "baseline-cnniqa-tiny": BaselineConfig("baseline-cnniqa-tiny", "cnniqa", filters=8, hidden=32),
}


def baseline_config(name: str) -> BaselineConfig:
    """A baseline preset by name."""
    if name not in BASELINE_PRESETS:
        raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINE_PRESETS)}")
    return BASELINE_PRESETS[name]


def baseline_from_dict(raw: dict[str, Any]) -> BaselineConfig:
    """Inverse of :meth:`BaselineConfig.to_dict` (lists become tuples)."""
    names = {f.name for f in fields(BaselineConfig) if f.init}
    unknown = set(raw) - names - {"task"}
    if unknown:
        raise ValueError(f"BaselineConfig: unknown keys {sorted(unknown)}")
    return BaselineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names})


class _SliceRegressor(nn.Module):
    """Shared contract: per-slice ``(score logit, physics logits)``, mean over patches and slices."""

    cfg: BaselineConfig

    def slice_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N,3,224,224] -> (score in 0..1 [N], physics in 0..1 [N, K])``."""
        raise NotImplementedError

    def forward(self, slices: torch.Tensor, prompt: torch.Tensor) -> ScorerOutput:
        """``slice_scores [B,S]``; ``score`` and ``physics``: their means over the S slices."""
        del prompt  # no prompts in the baselines
        b, s = slices.shape[0], slices.shape[1]
        q, phys = self.slice_outputs(slices.flatten(0, 1))
        slice_scores = q.reshape(b, s)
        weights = torch.full_like(slice_scores, 1.0 / s)
        physics = phys.reshape(b, s, -1).mean(1)
        return ScorerOutput(slice_scores.mean(1), slice_scores, weights, physics)


def _heads(features: int, hidden: int, n_physics: int) -> tuple[nn.Module, nn.Module]:
    score = nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, 1))
    return score, nn.Linear(features, n_physics)


class ResNetRegressor(_SliceRegressor):
    """``f = GAP(ResNet(x))``; ``q = sigmoid(MLP(f))``, ``physics = sigmoid(W f)``."""

    def __init__(self, cfg: BaselineConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n = len(cfg.widths)
        self.backbone = CNNPyramid(
            BackboneConfig("cnn", widths=cfg.widths, blocks=cfg.blocks, taps=(n,), grid=7)
        )
        self.score_head, self.physics_head = _heads(cfg.widths[-1], cfg.hidden, cfg.n_physics)

    def slice_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring."""
        f = self.backbone(images).mean(dim=(2, 3))
        return torch.sigmoid(self.score_head(f)).squeeze(-1), torch.sigmoid(self.physics_head(f))


class ViTRegressor(_SliceRegressor):
    """``f = LN(mean_j ViT(x)_j)`` over the output tokens; the heads of :class:`ResNetRegressor`."""

    def __init__(self, cfg: BaselineConfig) -> None:
        super().__init__()
        self.cfg = cfg
        backbone = BackboneConfig(
            "vit",
            dim=cfg.dim,
            depth=cfg.depth,
            heads=cfg.heads,
            patch=cfg.patch,
            mlp_ratio=cfg.mlp_ratio,
            stem="patch",
            taps=(cfg.depth,),
        )
        self.backbone = ViTBackbone(backbone)
        self.norm = nn.LayerNorm(cfg.dim)
        self.score_head, self.physics_head = _heads(cfg.dim, cfg.hidden, cfg.n_physics)

    def slice_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring."""
        f = self.norm(self.backbone(images).mean(dim=(2, 3)))
        return torch.sigmoid(self.score_head(f)).squeeze(-1), torch.sigmoid(self.physics_head(f))


def local_contrast_normalise(grey: torch.Tensor, c: float) -> torch.Tensor:
    """``(x - mu) / (sigma + c)`` with mean and standard deviation over 3x3 neighbourhoods (``[N,1,H,W]``)."""
    mu = F.avg_pool2d(grey, 3, 1, 1, count_include_pad=False)
    var = F.avg_pool2d(grey * grey, 3, 1, 1, count_include_pad=False) - mu * mu
    return (grey - mu) / (torch.sqrt(var.clamp_min(0.0)) + c)


class CNNIQA(_SliceRegressor):
    """Kang et al. 2014 (see the module docstring); patch scores ``sigmoid(FC(...))`` averaged per slice."""

    def __init__(self, cfg: BaselineConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv2d(1, cfg.filters, cfg.kernel)
        self.fc = nn.Sequential(
            nn.Linear(2 * cfg.filters, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
        )
        self.score_head = nn.Linear(cfg.hidden, 1)
        self.physics_head = nn.Linear(cfg.hidden, cfg.n_physics)

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """Grey, contrast-normalised, non-overlapping patches: ``[N,3,H,W] -> [N * n_patches, 1, p, p]``."""
        p = self.cfg.patch_px
        x = local_contrast_normalise(images.mean(dim=1, keepdim=True), self.cfg.lcn_c)
        tiles = x.unfold(2, p, p).unfold(3, p, p)  # [N, 1, H/p, W/p, p, p]
        return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, p, p)

    def slice_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring."""
        n = images.shape[0]
        h = self.conv(self.patches(images))
        f = self.fc(torch.cat([h.amax(dim=(2, 3)), h.amin(dim=(2, 3))], dim=1))
        q = torch.sigmoid(self.score_head(f)).reshape(n, -1).mean(1)
        phys = torch.sigmoid(self.physics_head(f)).reshape(n, -1, self.cfg.n_physics).mean(1)
        return q, phys


def build_baseline(cfg: BaselineConfig) -> ResNetRegressor | ViTRegressor | CNNIQA:
    """The baseline a configuration describes (random weights)."""
    if cfg.kind == "resnet":
        return ResNetRegressor(cfg)
    if cfg.kind == "vit":
        return ViTRegressor(cfg)
    return CNNIQA(cfg)
