"""Score every entry of a manifest through the runtime (ONNX) and build the evaluation report.

Entries are scored with the prompts the manifest gives (modality/region/type columns) as overrides, the rest
come from DICOM tags and the classifier, exactly as ``mediqa score`` would. An entry that cannot be scored
(missing file, unreadable image, a directory holding several DICOM series, an unknown prompt value) is a
:class:`Failure`; the run goes on.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..assessor import Assessor
from ..errors import MediqaError
from ..io import InputItem, discover_inputs
from ..manifests import Manifest, ManifestEntry
from ..prompts import validate_overrides
from .ordinal import cross_calibrated_accuracy
from .report import EvaluationReport, Failure, compute_metrics, group_metrics

__all__ = [
    "GROUP_FIELDS",
    "ScoredEntry",
    "build_report",
    "evaluate_manifest",
    "score_entries",
    "write_scores",
]

GROUP_FIELDS = ("modality", "region", "type")


@dataclass(frozen=True)
class ScoredEntry:
    """A manifest entry with its predicted score, or the error that stopped it."""

    entry: ManifestEntry
    predicted: float | None = None
    error: str | None = None
    reliable: bool = True


def _item(entry: ManifestEntry) -> InputItem | str:
    """The one scoreable item of an entry, or why there is none."""
    if not entry.path.exists():
        return "file not found"
    items, failures = discover_inputs([entry.path])
    if failures:
        message = str(failures[0][1])
        for prefix in (f"{entry.path}: ", f"{entry.path.name}: "):
            message = message.removeprefix(prefix)
        return message
    if len(items) != 1:
        return f"holds {len(items)} scoreable inputs (DICOM series); list one per manifest line"
    return items[0]


def score_entries(
    assessor: Assessor,
    entries: Sequence[ManifestEntry],
    *,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[ScoredEntry]:
    """Score entries in batches, grouped by their prompt overrides; results in entry order."""
    out: dict[int, ScoredEntry] = {}
    by_prompts: dict[tuple[str | None, ...], list[tuple[int, InputItem]]] = {}
    for i, entry in enumerate(entries):
        item = _item(entry)
        if isinstance(item, str):
            out[i] = ScoredEntry(entry, error=item)
            if progress:
                progress(1)
        else:
            by_prompts.setdefault((entry.modality, entry.region, entry.type), []).append((i, item))
    for (modality, region, type_), members in by_prompts.items():
        prompts = {"modality": modality, "region": region, "type": type_}
        try:
            validate_overrides(assessor.scorer.vocabulary, prompts)
        except MediqaError as err:
            for i, _ in members:
                out[i] = ScoredEntry(entries[i], error=str(err))
            if progress:
                progress(len(members))
            continue
        items = [it for _, it in members]
        outcomes = assessor.iter_items(items, batch_size=batch_size, **prompts)
        for (i, _), outcome in zip(members, outcomes, strict=True):
            if outcome.result is not None:
                out[i] = ScoredEntry(entries[i], outcome.result.score, reliable=outcome.result.reliable)
            else:
                message = str(outcome.error)
                path = entries[i].path
                for prefix in (f"{path}: ", f"{path.name}: ", f"{outcome.item.label}: "):
                    message = message.removeprefix(prefix)
                out[i] = ScoredEntry(entries[i], error=message)
            if progress:
                progress(1)
    return [out[i] for i in range(len(entries))]


def _group_key(entry: ManifestEntry, fields: Sequence[str]) -> str:
    return "/".join(str(getattr(entry, f) or "unknown") for f in fields)


def build_report(
    manifest: Manifest,
    scored: Sequence[ScoredEntry],
    model: str,
    *,
    group_by: Sequence[str] = (),
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    folds: int = 5,
    settings: dict[str, object] | None = None,
) -> EvaluationReport:
    """Metrics over the scored entries, per group, and (ordinal manifests) cross-calibrated accuracy."""
    unknown = [f for f in group_by if f not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {', '.join(GROUP_FIELDS)}")
    ok = [s for s in scored if s.predicted is not None]
    pred = [float(s.predicted) for s in ok if s.predicted is not None]
    true = [s.entry.score for s in ok]
    overall = compute_metrics(pred, true, n_resamples=n_resamples, level=level, seed=seed)
    unreliable = sum(not s.reliable for s in ok)
    if unreliable:
        overall = type(overall)(
            overall.n,
            overall.values,
            overall.ci,
            overall.fit,
            (
                *overall.notes,
                f"{unreliable} scored image(s) were marked unreliable (no foreground or constant)",
            ),
        )
    groups = (
        group_metrics(
            pred,
            true,
            [_group_key(s.entry, group_by) for s in ok],
            n_resamples=n_resamples,
            level=level,
            seed=seed,
        )
        if group_by
        else {}
    )
    ordinal = None
    if manifest.ordinal and len(ok) >= 2:
        ordinal = cross_calibrated_accuracy(pred, true, [s.entry.group for s in ok], folds=folds, seed=seed)
    failures = tuple(Failure(str(s.entry.path), s.error or "") for s in scored if s.predicted is None)
    return EvaluationReport(
        manifest=manifest.name,
        model=model,
        scale=manifest.scale,
        entries=len(scored),
        overall=overall,
        groups=groups,
        group_by=tuple(group_by),
        ordinal=ordinal,
        failures=failures,
        settings={"bootstrap_resamples": n_resamples, "level": level, "seed": seed, **(settings or {})},
    )


def evaluate_manifest(
    assessor: Assessor,
    manifest: Manifest,
    *,
    limit: int | None = None,
    batch_size: int = 8,
    group_by: Sequence[str] = (),
    n_resamples: int = 1000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[EvaluationReport, list[ScoredEntry]]:
    """Score the manifest's entries (the first ``limit``) and build the report."""
    entries = manifest.entries[:limit] if limit else manifest.entries
    t0 = time.perf_counter()
    scored = score_entries(assessor, entries, batch_size=batch_size, progress=progress)
    t1 = time.perf_counter()
    report = build_report(
        manifest,
        scored,
        assessor.scorer.name,
        group_by=group_by,
        n_resamples=n_resamples,
        seed=seed,
        settings={"scoring_seconds": round(t1 - t0, 3)},
    )
    return report, scored


def write_scores(path: str | Path, scored: Sequence[ScoredEntry]) -> Path:
    """Per-entry CSV: ``path,true,raw,predicted,modality,region,type,group,error`` (empty where none)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "true", "raw", "predicted", "modality", "region", "type", "group", "error"])
        for s in scored:
            e = s.entry
            writer.writerow(
                [
                    str(e.path),
                    f"{e.score:.6g}",
                    f"{e.raw_score:g}",
                    "" if s.predicted is None else f"{s.predicted:.6g}",
                    e.modality or "",
                    e.region or "",
                    e.type or "",
                    e.group,
                    s.error or "",
                ]
            )
    return path
