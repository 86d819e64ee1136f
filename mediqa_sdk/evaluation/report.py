"""The numbers of an evaluation: a :class:`MetricSet` per population, in an :class:`EvaluationReport`.

Metrics are computed on the normalised 0..1 scale of the manifest. SRCC and KRCC are unchanged by the
logistic; PLCC is reported raw and after the 4-parameter logistic fit, RMSE after the fit (VQEG practice)
and raw. The overall metric is LDCTIQAC2023's ``|PLCC| + |SRCC| + |KRCC|`` on raw predictions.
Confidence intervals are percentile bootstraps of the pairs; in each resample the logistic is refitted,
starting from the full-sample fit (at most 15 Levenberg-Marquardt steps, to keep 1000 resamples fast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .bootstrap import bootstrap_cis
from .correlation import as_pairs, krcc, plcc, rmse, srcc, undefined_reason
from .logistic import MIN_FIT_POINTS, Logistic4, fit_logistic4
from .ordinal import OrdinalResult

__all__ = [
    "METRICS",
    "EvaluationReport",
    "Failure",
    "MetricSet",
    "compute_metrics",
    "group_metrics",
    "render_table",
]

#: metric name -> short description, in report order
METRICS: dict[str, str] = {
    "srcc": "Spearman rank correlation",
    "krcc": "Kendall tau-b",
    "plcc": "Pearson correlation, raw",
    "plcc_fitted": "Pearson correlation after the 4-parameter logistic",
    "rmse_fitted": "RMSE after the logistic (normalised scale)",
    "rmse": "RMSE, raw (normalised scale)",
    "overall": "LDCTIQAC2023 |PLCC|+|SRCC|+|KRCC|",
}


@dataclass(frozen=True)
class MetricSet:
    """Metrics of one population of ``(predicted, true)`` pairs with bootstrap confidence intervals.

    ``ci`` maps a metric name to its ``(low, high)`` percentile interval (empty without bootstrap);
    ``notes`` say why a value is ``nan``.
    """

    n: int
    values: Mapping[str, float]
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fit: Logistic4 | None = None
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``nan`` becomes None."""
        return {
            "n": self.n,
            "metrics": {k: _num(v) for k, v in self.values.items()},
            "ci95": {k: [_num(lo), _num(hi)] for k, (lo, hi) in self.ci.items()},
            "logistic": self.fit.to_dict() if self.fit else None,
            "notes": list(self.notes),
        }


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def _all_metrics(p: np.ndarray, t: np.ndarray, fit: Logistic4 | None) -> dict[str, float]:
    """Every metric of :data:`METRICS` from one set of pairs, ``fit`` already made (or None)."""
    rho, tau, r = srcc(p, t), krcc(p, t), plcc(p, t)
    fitted = fit(p) if fit else None
    return {
        "srcc": rho,
        "krcc": tau,
        "plcc": r,
        "plcc_fitted": plcc(fitted, t) if fitted is not None else math.nan,
        "rmse_fitted": rmse(fitted, t) if fitted is not None else math.nan,
        "rmse": rmse(p, t) if p.size else math.nan,
        "overall": abs(r) + abs(rho) + abs(tau),
    }


def compute_metrics(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> MetricSet:
    """All metrics of :data:`METRICS` for one population, with percentile bootstrap intervals.

    Args:
        pred: predicted scores.
        true: true scores on the normalised scale.
        n_resamples: bootstrap resamples (0: no intervals).
    """
    p, t = as_pairs(pred, true)
    notes: list[str] = []
    reason = undefined_reason(p, t)
    if reason:
        notes.append(f"correlations undefined: {reason}")
    fit = None if reason else fit_logistic4(p, t)
    if fit is None and not reason:
        notes.append(
            f"logistic fit needs {MIN_FIT_POINTS} distinct predictions: fitted PLCC/RMSE not reported"
        )
    values = _all_metrics(p, t, fit)
    ci: dict[str, tuple[float, float]] = {}
    if n_resamples > 0 and not reason:

        def resample(pb: np.ndarray, tb: np.ndarray) -> dict[str, float]:
            refit = fit_logistic4(pb, tb, init=fit, max_iter=15, tol=1e-6) if fit else None
            return _all_metrics(pb, tb, refit)

        raw = bootstrap_cis(resample, p, t, n_resamples=n_resamples, level=level, seed=seed)
        ci = {k: raw[k] for k in METRICS if k in raw}
    return MetricSet(int(p.size), values, ci, fit, tuple(notes))


@dataclass(frozen=True)
class Failure:
    """An entry that could not be scored, and why (one line)."""

    path: str
    error: str


@dataclass(frozen=True)
class EvaluationReport:
    """Everything ``mediqa evaluate`` prints.

    Attributes:
        manifest: the manifest's name; ``scale``: its raw score range.
        model: the scorer's name; ``entries``: entries evaluated (after ``--limit``).
        overall: metrics over every scored entry.
        groups: per-group metrics, keyed by e.g. ``"ct/abdomen"``.
        group_by: the fields the groups are made of.
        ordinal: accuracy after thresholds calibrated on held-out folds (ordinal manifests only).
        failures: entries that were not scored.
        settings: bootstrap resamples, confidence level, seed, timings.
    """

    manifest: str
    model: str
    scale: tuple[float, float]
    entries: int
    overall: MetricSet
    groups: Mapping[str, MetricSet] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    ordinal: OrdinalResult | None = None
    failures: tuple[Failure, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        """Entries with a score."""
        return self.overall.n

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``mediqa evaluate --format json`` (schema ``mediqa-evaluation/1``)."""
        return {
            "schema": "mediqa-evaluation/1",
            "manifest": self.manifest,
            "model": self.model,
            "scale": list(self.scale),
            "entries": self.entries,
            "scored": self.scored,
            "failed": len(self.failures),
            "overall": self.overall.to_dict(),
            "group_by": list(self.group_by),
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
            "ordinal": self.ordinal.to_dict() if self.ordinal else None,
            "failures": [{"path": f.path, "error": f.error} for f in self.failures],
            "settings": dict(self.settings),
        }


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def _metric_rows(ms: MetricSet) -> list[tuple[str, str, str]]:
    rows = []
    for name in METRICS:
        lo, hi = ms.ci.get(name, (math.nan, math.nan))
        ci = f"[{_fmt(lo)}, {_fmt(hi)}]" if math.isfinite(lo) else ""
        rows.append((name, _fmt(ms.values[name]), ci))
    return rows


def render_table(report: EvaluationReport) -> str:
    """The report for people: overall metrics with intervals, groups, ordinal accuracy, failures."""
    level = report.settings.get("level", 0.95)
    out = [
        f"manifest: {report.manifest}  (scale {report.scale[0]:g}..{report.scale[1]:g}, normalised to 0..1)",
        f"model:    {report.model}",
        f"scored:   {report.scored}/{report.entries}"
        + (f"  ({len(report.failures)} failed)" if report.failures else ""),
        "",
        f"{'metric':<12} {'value':>7}  {f'{level:.0%} CI':<18} what",
    ]
    for (name, value, ci), what in zip(_metric_rows(report.overall), METRICS.values(), strict=True):
        out.append(f"{name:<12} {value:>7}  {ci:<18} {what}")
    fit = report.overall.fit
    if fit:
        out.append(
            f"logistic: b1={fit.b1:.4g} b2={fit.b2:.4g} b3={fit.b3:.4g} b4={fit.b4:.4g}"
            "  f(x) = (b1-b2)/(1+exp(-(x-b3)/|b4|)) + b2"
        )
    out.extend(f"note: {n}" for n in report.overall.notes)
    if report.groups:
        names = list(report.groups)
        width = max(12, *(len(n) for n in names))
        out += ["", f"by {'/'.join(report.group_by)}:"]
        cols = ("srcc", "krcc", "plcc", "plcc_fitted", "rmse_fitted", "overall")
        out.append(f"{'group':<{width}} {'n':>5} " + " ".join(f"{c:>11}" for c in cols) + "  SRCC CI")
        for name in names:
            ms = report.groups[name]
            lo, hi = ms.ci.get("srcc", (math.nan, math.nan))
            ci = f"[{_fmt(lo)}, {_fmt(hi)}]" if math.isfinite(lo) else ""
            out.append(
                f"{name:<{width}} {ms.n:>5} "
                + " ".join(f"{_fmt(ms.values[c]):>11}" for c in cols)
                + f"  {ci}"
            )
    if report.ordinal:
        o = report.ordinal
        th = ", ".join(_fmt(t) for t in o.thresholds)
        out += [
            "",
            f"ordinal accuracy: {_fmt(o.accuracy)} (balanced {_fmt(o.balanced_accuracy)}), thresholds "
            f"calibrated on held-out folds ({o.folds}-fold by group); all-data thresholds: {th}",
            "confusion (rows true, columns predicted; classes "
            + ", ".join(f"{v:g}" for v in o.levels)
            + "):",
        ]
        out += ["  " + " ".join(f"{v:>6}" for v in row) for row in o.confusion]
    if report.failures:
        out += ["", f"failed ({len(report.failures)}):"]
        out += [f"  {f.path}: {f.error}" for f in report.failures[:20]]
        if len(report.failures) > 20:
            out.append(f"  ... and {len(report.failures) - 20} more (all of them in --format json)")
    return "\n".join(out)


def group_metrics(
    pred: Sequence[float], true: Sequence[float], keys: Sequence[str], **kwargs: Any
) -> dict[str, MetricSet]:
    """:func:`compute_metrics` per distinct key, keys sorted."""
    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    k = np.asarray(keys)
    return {str(g): compute_metrics(p[k == g], t[k == g], **kwargs) for g in sorted(set(keys))}
