"""Grade thresholds calibrated per family, and their place in the registry.

A family is a modality, optionally narrowed by region and type (``"ct"``, ``"mr/head"``,
``"ct/chest/lung_window"``). For each family, given held-out ``(score, pseudo-MOS)`` pairs:

- ``poor`` (flagged) vs the rest: an image is *non-diagnostic* when its pseudo-MOS is at most
  ``nondiagnostic_mos`` (0.3: the data engine maps its "clearly non-diagnostic" anchor there); the score
  threshold maximises Youden's J = sensitivity + specificity - 1 (equivalently balanced accuracy).
- ``good`` vs the rest: an image is *good* when its pseudo-MOS is at least ``good_mos`` (0.9: a just
  noticeable degradation); same criterion, never below the poor threshold.

The bands go into the model's record as ``grades_by_family`` in ``models.json``; the runtime's grade uses
them for images of that family (:meth:`mediqa_sdk.registry.ModelRecord.grade`), the general ``grades``
elsewhere. Thresholds belong to one model: a re-exported model does not inherit them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import RegistryError
from ..registry import read_registry_json, registry_path, write_registry_json
from .correlation import rankdata
from .ordinal import fit_thresholds

__all__ = [
    "BinaryThreshold",
    "FamilyCalibration",
    "calibrate_families",
    "calibrate_family",
    "family_key",
    "store_family_grades",
    "youden_threshold",
]

NONDIAGNOSTIC_MOS = 0.3
GOOD_MOS = 0.9
#: a family's bands are stored only when the score separates its non-diagnostic images and its good images
#: at least this well (AUC each); below it the runtime keeps the broader family's or the model's default bands
MIN_AUC = 0.6


def family_key(modality: str, region: str | None = None, type: str | None = None) -> str:
    """``"modality[/region[/type]]"``, the key :meth:`ModelRecord.grade` looks up."""
    parts = [modality, *([region] if region else []), *([type] if region and type else [])]
    return "/".join(parts)


@dataclass(frozen=True)
class BinaryThreshold:
    """The score threshold separating negatives (below) from positives (at or above) and its quality.

    ``auc`` is the probability that a random positive scores above a random negative (ties count half).
    """

    threshold: float
    youden_j: float
    sensitivity: float
    specificity: float
    auc: float
    n_positive: int
    n_negative: int


def youden_threshold(scores: ArrayLike, positive: ArrayLike) -> BinaryThreshold:
    """The threshold ``t`` maximising Youden's J for the rule ``score >= t`` -> positive.

    Raises:
        ValueError: one of the two classes is empty.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(positive, dtype=bool).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"both classes are needed ({n_pos} positive, {n_neg} negative)")
    (t,) = fit_thresholds(s, y.astype(np.int64), 2, balanced=True)
    predicted = s >= t
    sens = float((predicted & y).sum() / n_pos)
    spec = float((~predicted & ~y).sum() / n_neg)
    ranks = rankdata(s)
    auc = float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return BinaryThreshold(t, sens + spec - 1.0, sens, spec, auc, n_pos, n_neg)


@dataclass(frozen=True)
class FamilyCalibration:
    """Calibrated bands of one family: ``poor`` below ``poor_below``, ``good`` from ``good_from``."""

    family: str
    n: int
    poor_below: float
    good_from: float
    nondiagnostic: BinaryThreshold | None
    good: BinaryThreshold | None
    notes: tuple[str, ...] = ()

    def bands(self, score_range: tuple[float, float] = (0.0, 1.0)) -> list[dict[str, Any]]:
        """The registry's band objects (``name``, ``lower``, ``upper``, ``flag``)."""
        lo, hi = score_range
        poor = min(max(self.poor_below, lo), hi)
        good = min(max(self.good_from, poor), hi)
        return [
            {"name": "poor", "lower": lo, "upper": round(poor, 4), "flag": True},
            {"name": "acceptable", "lower": round(poor, 4), "upper": round(good, 4), "flag": False},
            {"name": "good", "lower": round(good, 4), "upper": hi, "flag": False},
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (stored under the record's ``metrics.calibration``)."""
        out = asdict(self)
        for key in ("poor_below", "good_from"):
            out[key] = out[key] if math.isfinite(out[key]) else None
        return out


def calibrate_family(
    family: str,
    scores: ArrayLike,
    mos: ArrayLike,
    *,
    nondiagnostic_mos: float = NONDIAGNOSTIC_MOS,
    good_mos: float = GOOD_MOS,
    default: tuple[float, float] = (0.4, 0.7),
) -> FamilyCalibration:
    """Thresholds of one family from held-out ``(score, pseudo-MOS)`` pairs (see the module docstring).

    A cut with one empty class keeps its ``default`` threshold and says so in ``notes``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(mos, dtype=np.float64).ravel()
    if s.shape != m.shape:
        raise ValueError(f"scores and pseudo-MOS differ in length: {s.size} vs {m.size}")
    keep = np.isfinite(s) & np.isfinite(m)
    s, m = s[keep], m[keep]
    notes: list[str] = []
    cuts: list[BinaryThreshold | None] = []
    for name, positive, fallback in (
        ("non-diagnostic", m > nondiagnostic_mos, default[0]),
        ("good", m >= good_mos, default[1]),
    ):
        try:
            cuts.append(youden_threshold(s, positive))
        except ValueError as err:
            cuts.append(None)
            notes.append(f"{name} cut: {err}; kept the default threshold {fallback}")
    nd, good = cuts
    poor_below = nd.threshold if nd else default[0]
    good_from = good.threshold if good else default[1]
    if good_from < poor_below:
        notes.append(f"good threshold {good_from:.3f} fell below the poor one; raised to {poor_below:.3f}")
        good_from = poor_below
    return FamilyCalibration(family, int(s.size), poor_below, good_from, nd, good, tuple(notes))


def calibrate_families(
    rows: Iterable[tuple[str, float, float]], **kwargs: Any
) -> dict[str, FamilyCalibration]:
    """Calibrate every family of ``(family, score, pseudo-MOS)`` rows (keyword arguments as
    :func:`calibrate_family`)."""
    by_family: dict[str, tuple[list[float], list[float]]] = {}
    for family, score, mos in rows:
        scores, labels = by_family.setdefault(family, ([], []))
        scores.append(score)
        labels.append(mos)
    return {f: calibrate_family(f, s, m, **kwargs) for f, (s, m) in sorted(by_family.items())}


def store_family_grades(
    model: str,
    calibrations: Mapping[str, FamilyCalibration],
    registry_file: str | Path | None = None,
    min_auc: float = MIN_AUC,
) -> Path:
    """Write calibrated bands into ``model``'s record (``grades_by_family`` plus ``metrics.calibration``).

    A family whose non-diagnostic or good AUC is below ``min_auc`` gets no bands of its own (stale ones are
    removed), so its images are graded with the broader family's or the model's default bands: a good
    threshold that does not separate good images would leave no acceptable band (good from = poor below).

    Families already stored and not recalibrated are kept. The result is validated before it is written.

    Returns:
        The registry file written.

    Raises:
        RegistryError: unreadable registry, unknown model, or a result that does not validate.
    """
    path = Path(registry_file) if registry_file else registry_path()
    raw = read_registry_json(path)
    records = [m for m in raw.get("models", []) if m.get("name") == model]
    if not records:
        known = ", ".join(sorted(str(m.get("name")) for m in raw.get("models", [])))
        raise RegistryError(f"{path}: no model {model!r} to calibrate; known: {known}")
    record = records[0]
    score_range = tuple(record.get("output", {}).get("score_range", (0.0, 1.0)))
    bands = dict(record.get("grades_by_family", {}))
    stats = dict(record.get("metrics", {}).get("calibration", {}))
    for family, cal in calibrations.items():
        stats[family] = cal.to_dict()
        weak = [
            f"{end} AUC {t.auc:.3f} < {min_auc}"
            for end, t in (("non-diagnostic", cal.nondiagnostic), ("good", cal.good))
            if t is not None and t.auc < min_auc
        ]
        if weak:
            bands.pop(family, None)
            stats[family]["stored"] = False
            stats[family]["why_not_stored"] = f"{'; '.join(weak)}: the score does not separate"
            continue
        bands[family] = cal.bands((float(score_range[0]), float(score_range[1])))
        stats[family]["stored"] = True
    record["grades_by_family"] = dict(sorted(bands.items()))
    record.setdefault("metrics", {})["calibration"] = dict(sorted(stats.items()))
    return write_registry_json(raw, path)  # validated first; the next load_registry(path) reads it
