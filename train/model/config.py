"""Model configurations: frozen dataclasses, named presets, and a round trip through plain dicts.

A configuration is saved with every checkpoint and copied into the registry record's provenance, so it holds
only JSON-friendly values (str, int, float, tuples of them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = [
    "CLASSIFIER_PRESETS",
    "SCORER_PRESETS",
    "VIEW_COUNTS",
    "BackboneConfig",
    "ClassifierConfig",
    "ScorerConfig",
    "classifier_config",
    "config_from_dict",
    "scorer_config",
]

IMAGE_SIZE = 224  # fixed by ONNX contract v1
PROMPT_DIM = 21  # 2 dims + 3 modalities + 6 regions + 10 types (registry vocabulary v1)
N_PHYSICS = 2  # ct_dose, mr_field_strength (normalised 0..1)
VIEW_COUNTS = (1, 2, 4, 8)  # orientations of the square a scorer may average (each count is a group)


@dataclass(frozen=True)
class BackboneConfig:
    """Feature extractor settings.

    Attributes:
        kind: ``"vit"`` (a ViT; features tapped after blocks ``taps``) or ``"cnn"`` (a ResNet-like pyramid;
            features tapped after stages ``taps``, each resized to the ``grid``).
        dim, depth, heads, patch, mlp_ratio: ViT width, blocks, attention heads, token stride, MLP width.
        stem: ViT patch embedding: ``"conv"`` (stride-2 3x3 convolutions down to ``patch``, Xiao et al. 2021)
            or ``"patch"`` (one ``patch`` x ``patch`` convolution, as ViT-B/8).
        widths, blocks: CNN channels and basic blocks per stage (strides 4, 8, 16, 32 after the stem).
        taps: 1-based indices of the ViT blocks or CNN stages whose outputs are concatenated.
        grid: CNN feature grid side (the ViT grid is ``224 / patch``).
        norm: CNN normalisation: ``"batch"`` (BatchNorm) or ``"group"`` (GroupNorm, 8 groups; the same
            statistics in training and inference, so a modality that is rare in a batch is not scored with
            running statistics dominated by the others).
    """

    kind: str
    dim: int = 192
    depth: int = 6
    heads: int = 3
    patch: int = 16
    mlp_ratio: float = 4.0
    stem: str = "conv"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    taps: tuple[int, ...] = (2, 4, 6)
    grid: int = 14
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.norm not in ("batch", "group"):
            raise ValueError(f"backbone norm must be 'batch' or 'group', got {self.norm!r}")
        if self.kind not in ("vit", "cnn"):
            raise ValueError(f"backbone kind must be 'vit' or 'cnn', got {self.kind!r}")
        if self.kind == "vit":
            if IMAGE_SIZE % self.patch or self.dim % self.heads or self.stem not in ("conv", "patch"):
                raise ValueError(f"bad ViT settings: patch={self.patch} dim={self.dim} heads={self.heads}")
            if not all(1 <= t <= self.depth for t in self.taps):
                raise ValueError(f"ViT taps {self.taps} must lie in 1..{self.depth}")
        elif len(self.widths) != len(self.blocks) or not all(1 <= t <= len(self.widths) for t in self.taps):
            raise ValueError(f"CNN widths/blocks/taps disagree: {self.widths} {self.blocks} {self.taps}")

    @property
    def out_grid(self) -> int:
        """Side of the feature grid handed to the MANIQA neck."""
        return IMAGE_SIZE // self.patch if self.kind == "vit" else self.grid

    @property
    def out_channels(self) -> int:
        """Channels after concatenating the tapped features."""
        if self.kind == "vit":
            return self.dim * len(self.taps)
        return sum(self.widths[t - 1] for t in self.taps)


@dataclass(frozen=True)
class ScorerConfig:
    """MedIQA scorer: backbone -> [TAB x tab_blocks -> 1x1 reduce -> Swin stage with prompts] x 2 -> heads.

    Attributes:
        dims: channels of the two Swin stages (MANIQA: 768, 384).
        swin_depths, swin_heads: layers and heads per Swin stage; layers alternate plain/shifted windows.
        window: Swin window side (must divide the grid).
        tab_blocks, tab_heads: transposed-attention blocks before each stage, and their channel-head count.
        head_hidden: hidden width of the score and weight branches.
        gray_channels: the grey-image channel recipes the model is trained on, written into its registry
            record's preprocessing (e.g. ``("scored", "scored_prev", "scored_next")`` for through-plane
            input; empty: the recipes of the registry's default scorer).
        global_context: add a slice-level term to every patch score's logit, computed from the spread of
            the tokens over the slice (see :class:`~.maniqa.MedIQAScorer`), so that a fault visible only
            as a difference between distant regions (an MR bias field) can move the score.
        context_quadrants: the context term also reads the mean of each 2x2 quadrant of the token grid less
            the slice mean (a coarse layout: a smooth intensity ramp shows there); needs ``global_context``.
        views: how many orientations of the square the model scores and averages (1, 2, 4 or 8; see
            :data:`~.maniqa.ORIENTATIONS`). Set at export (``mediqa export checkpoint --views``); training
            shows one orientation, so a run starts from ``views`` 1.
    """

    name: str
    backbone: BackboneConfig
    dims: tuple[int, int] = (128, 64)
    swin_depths: tuple[int, int] = (2, 2)
    swin_heads: tuple[int, int] = (4, 4)
    window: int = 7
    mlp_ratio: float = 2.0
    tab_blocks: int = 1
    tab_heads: int = 4
    head_hidden: int = 64
    prompt_dim: int = PROMPT_DIM
    n_physics: int = N_PHYSICS
    image_size: int = IMAGE_SIZE
    gray_channels: tuple[str, ...] = ()
    global_context: bool = False
    context_quadrants: bool = False
    views: int = 1
    task: str = field(default="scorer", init=False)

    def __post_init__(self) -> None:
        grid = self.backbone.out_grid
        if grid % self.window:
            raise ValueError(f"{self.name}: window {self.window} does not divide the feature grid {grid}")
        if any(d % h for d, h in zip(self.dims, self.swin_heads, strict=True)):
            raise ValueError(f"{self.name}: Swin dims {self.dims} not divisible by heads {self.swin_heads}")
        if self.backbone.out_channels % self.tab_heads or self.dims[0] % self.tab_heads:
            raise ValueError(f"{self.name}: TAB heads {self.tab_heads} must divide the channel counts")
        if self.context_quadrants and (not self.global_context or grid % 2):
            raise ValueError(f"{self.name}: context_quadrants needs global_context and an even grid ({grid})")
        if self.views not in VIEW_COUNTS:
            raise ValueError(f"{self.name}: views must be one of {VIEW_COUNTS}, got {self.views}")
        if self.gray_channels and len(self.gray_channels) != 3:
            raise ValueError(f"{self.name}: gray_channels must name 3 recipes, got {self.gray_channels}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return asdict(self)


@dataclass(frozen=True)
class ClassifierConfig:
    """Prompt classifier: CNN backbone -> global average pool -> three linear heads (logits)."""

    name: str
    backbone: BackboneConfig
    n_modality: int = 3
    n_region: int = 6
    n_type: int = 10
    dropout: float = 0.1
    image_size: int = IMAGE_SIZE
    task: str = field(default="classifier", init=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return asdict(self)


_VIT_TINY_CONV = BackboneConfig("vit", dim=192, depth=6, heads=3, patch=16, stem="conv", taps=(2, 4, 6))
_CNN = BackboneConfig("cnn", widths=(32, 64, 128, 256), blocks=(1, 1, 1, 1), taps=(2, 3, 4), grid=14)
_VIT_B8 = BackboneConfig(
    "vit", dim=768, depth=12, heads=12, patch=8, stem="patch", taps=(7, 8, 9, 10), mlp_ratio=4.0
)

SCORER_PRESETS: dict[str, ScorerConfig] = {
    # tests only: a few hundred thousand parameters
    "tiny": ScorerConfig(
        "tiny",
        BackboneConfig("cnn", widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1), taps=(2, 3, 4), grid=14),
        dims=(32, 16),
        swin_depths=(2, 2),
        swin_heads=(2, 2),
        tab_heads=2,
        head_hidden=16,
    ),
    "vit-tiny-conv": ScorerConfig("vit-tiny-conv", _VIT_TINY_CONV, dims=(192, 96), tab_heads=4),
    "cnn-pyramid": ScorerConfig("cnn-pyramid", _CNN, dims=(128, 64), tab_heads=4),
    # the same pyramid with GroupNorm, tapping all four stages (stride 4 keeps fine noise and blur texture)
    "cnn-pyramid-gn": ScorerConfig(
        "cnn-pyramid-gn", replace(_CNN, taps=(1, 2, 3, 4), norm="group"), dims=(128, 64), tab_heads=4
    ),
    # MANIQA on ViT-B/8 as in the paper: 4 taps of 768 -> 3072 channels on a 28x28 grid, 2 TABs per stage,
    # Swin stages of 768 and 384 with 4 layers each (MANIQA's depths [2, 2]), window 4
    "paper-vitb8": ScorerConfig(
        "paper-vitb8",
        _VIT_B8,
        dims=(768, 384),
        swin_depths=(4, 4),
        swin_heads=(4, 4),
        window=4,
        mlp_ratio=4.0,
        tab_blocks=2,
        tab_heads=1,
        head_hidden=384,
    ),
}

CLASSIFIER_PRESETS: dict[str, ClassifierConfig] = {
    "tiny": ClassifierConfig("tiny", BackboneConfig("cnn", widths=(8, 16, 24, 32), taps=(4,), grid=7)),
    "cnn-small": ClassifierConfig(
        "cnn-small", BackboneConfig("cnn", widths=(24, 48, 96, 192), taps=(4,), grid=7)
    ),
}


def scorer_config(name: str, **changes: Any) -> ScorerConfig:
    """A scorer preset by name, optionally with fields replaced (``dims=(96, 48)``)."""
    if name not in SCORER_PRESETS:
        raise KeyError(f"unknown scorer config {name!r}; known: {', '.join(SCORER_PRESETS)}")
    return replace(SCORER_PRESETS[name], **changes) if changes else SCORER_PRESETS[name]


def classifier_config(name: str, **changes: Any) -> ClassifierConfig:
    """A classifier preset by name, optionally with fields replaced."""
    if name not in CLASSIFIER_PRESETS:
        raise KeyError(f"unknown classifier config {name!r}; known: {', '.join(CLASSIFIER_PRESETS)}")
    return replace(CLASSIFIER_PRESETS[name], **changes) if changes else CLASSIFIER_PRESETS[name]


def _tuples(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls) if f.init}
    unknown = set(raw) - names - {"task"}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}


def config_from_dict(raw: dict[str, Any]) -> ScorerConfig | ClassifierConfig:
    """Inverse of ``to_dict`` (dispatches on ``raw["task"]``)."""
    cls: type[ScorerConfig] | type[ClassifierConfig] = (
        ClassifierConfig if raw.get("task") == "classifier" else ScorerConfig
    )
    body = _tuples(cls, raw)
    body["backbone"] = BackboneConfig(**_tuples(BackboneConfig, dict(raw["backbone"])))
    return cls(**body)
