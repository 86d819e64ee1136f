"""The frozen result of one score, with everything needed to trust or reproduce it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .prompts import Prompt

__all__ = ["ModelInfo", "PhysicsEstimate", "Provenance", "QualityResult", "WindowScore"]


@dataclass(frozen=True)
class PhysicsEstimate:
    """A physical parameter the image resembles, e.g. ``ct_dose`` ~ 40 mAs.

    ``normalised`` is the network output (0..1); ``value`` maps it back through the registry's mapping.
    """

    name: str
    value: float
    unit: str
    normalised: float
    description: str = ""


@dataclass(frozen=True)
class WindowScore:
    """The score in one type/window (a chest CT is scored in the lung and the soft-tissue window)."""

    type: str
    score: float
    slice_scores: tuple[float, ...]
    slice_weights: tuple[float, ...]


@dataclass(frozen=True)
class ModelInfo:
    """Which graph produced a number: registry name, version, sha256 of the graph, placeholder or not."""

    name: str
    version: str
    sha256: str
    placeholder: bool


@dataclass(frozen=True)
class Provenance:
    """Where a result came from: input, SDK, models, execution providers and per-stage timings (seconds)."""

    input_path: str | None
    input_sha256: str
    input_format: str
    sdk_version: str
    scorer: ModelInfo
    classifier: ModelInfo | None
    providers: tuple[str, ...]
    device: str
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityResult:
    """Quality of one scan.

    Attributes:
        score: overall quality, 0..1, higher is better (mean over the scored windows for CT).
        grade: the registry band holding the score (``poor``/``acceptable``/``good``).
        flagged: True when the grade is a flagged band or the score is unreliable (no foreground, constant).
        reliable: False when the input gave the model nothing to judge (all background, constant image).
        dim: ``"2d"`` or ``"3d"``.
        axis: acquisition axis the slices were taken along.
        slice_indices: indices of the scored slices along ``axis`` (7 for volumes, may repeat).
        slice_scores, slice_weights: per-slice scores and weights (weights sum to 1), averaged over windows.
        windows: the score per type/window.
        prompts: ``{"dim", "modality", "region", "type"}`` -> :class:`Prompt` (type: the first window).
        physics: physical-parameter estimates relevant to the modality.
        header: DICOM/NIfTI header facts (kVp, mAs, CTDIvol, field strength, ...).
        warnings: everything the user should know about this result.
        provenance: input, model, providers, timings.
        label: short name of the input.
    """

    score: float
    grade: str
    flagged: bool
    reliable: bool
    dim: str
    axis: str
    slice_indices: tuple[int, ...]
    slice_scores: tuple[float, ...]
    slice_weights: tuple[float, ...]
    windows: tuple[WindowScore, ...]
    prompts: Mapping[str, Prompt]
    physics: tuple[PhysicsEstimate, ...]
    header: Mapping[str, Any]
    warnings: tuple[str, ...]
    provenance: Provenance
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["prompts"] = {k: asdict(v) for k, v in self.prompts.items()}
        out["header"] = {k: _plain(v) for k, v in self.header.items()}
        return out

    def __repr__(self) -> str:
        mod = self.prompts.get("modality")
        what = f"{mod.value}/{self.prompts['region'].value}" if mod else "?"
        flag = ", FLAGGED" if self.flagged else ""
        return (
            f"QualityResult({self.label!r}: score={self.score:.3f} ({self.grade}{flag}), {self.dim} {what}, "
            f"slices={list(self.slice_indices)}, warnings={len(self.warnings)})"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
