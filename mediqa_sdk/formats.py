"""Writers for results: ``table`` (people), ``json``, ``jsonl`` and ``csv`` (machines).

A failed input is a row too, with its error, so a batch's output always accounts for every input.
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any

from .assessor import ScoreOutcome
from .result import QualityResult

__all__ = ["FORMATS", "OutcomeWriter", "outcome_record", "summary_row"]

FORMATS = ("table", "json", "jsonl", "csv")
_CSV_COLUMNS = (
    "input",
    "status",
    "score",
    "grade",
    "flagged",
    "modality",
    "region",
    "type",
    "dim",
    "axis",
    "slices",
    "physics",
    "warnings",
    "scorer",
    "scorer_sha256",
    "providers",
    "seconds",
    "error",
)


def _physics_text(result: QualityResult) -> str:
    return "; ".join(f"{p.name}~{p.value:.3g} {p.unit}" for p in result.physics)


def summary_row(outcome: ScoreOutcome) -> dict[str, Any]:
    """One flat row per input (the CSV and table columns)."""
    row: dict[str, Any] = dict.fromkeys(_CSV_COLUMNS, "")
    res = outcome.result
    if res is None:
        row.update(input=outcome.item.label, status="error", error=str(outcome.error))
        return row
    row.update(
        input=outcome.item.label,
        status="scored",
        score=f"{res.score:.4f}",
        grade=res.grade,
        flagged="yes" if res.flagged else "no",
        modality=f"{res.prompts['modality'].value} ({res.prompts['modality'].source})",
        region=f"{res.prompts['region'].value} ({res.prompts['region'].source})",
        type="+".join(w.type for w in res.windows),
        dim=res.dim,
        axis=res.axis,
        slices=" ".join(str(i) for i in res.slice_indices),
        physics=_physics_text(res),
        warnings=len(res.warnings),
        scorer=res.provenance.scorer.name,
        scorer_sha256=res.provenance.scorer.sha256,
        providers=",".join(res.provenance.providers),
        seconds=f"{res.provenance.timings.get('total', 0.0):.3f}",
    )
    return row


def outcome_record(outcome: ScoreOutcome) -> dict[str, Any]:
    """The full JSON record of one input: the result's ``to_dict()`` or ``{input, error}``."""
    if outcome.result is None:
        return {
            "input": outcome.item.label,
            "path": str(outcome.item.path),
            "status": "error",
            "error": str(outcome.error),
            "error_type": type(outcome.error).__name__,
        }
    return {"input": outcome.item.label, "status": "scored", **outcome.result.to_dict()}


class OutcomeWriter:
    """Writes outcomes as they arrive (jsonl, csv) or all at :meth:`close` (json, table)."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.stream = stream
        self.fmt = fmt
        self._held: list[ScoreOutcome] = []
        self._csv: Any = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=_CSV_COLUMNS, lineterminator="\n")
            self._csv.writeheader()

    def write(self, outcome: ScoreOutcome) -> None:
        """Add one outcome."""
        if self.fmt == "jsonl":
            self.stream.write(json.dumps(outcome_record(outcome), allow_nan=False) + "\n")
            self.stream.flush()
        elif self.fmt == "csv":
            self._csv.writerow(summary_row(outcome))
            self.stream.flush()
        else:
            self._held.append(outcome)

    def close(self) -> None:
        """Write what was held back (json, table)."""
        if self.fmt == "json":
            records = [outcome_record(o) for o in self._held]
            self.stream.write(
                json.dumps(records[0] if len(records) == 1 else records, indent=2, allow_nan=False) + "\n"
            )
        elif self.fmt == "table":
            self.stream.write(render_table(self._held))
        self.stream.flush()


def render_table(outcomes: list[ScoreOutcome]) -> str:
    """A fixed-width table for terminals; a single result also lists its slices and warnings."""
    cols = ("input", "score", "grade", "flagged", "modality", "region", "type", "dim", "physics", "warnings")
    rows = [summary_row(o) for o in outcomes]
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    out = io.StringIO()
    out.write("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip() + "\n")
    for r in rows:
        if r["status"] == "error":
            out.write(f"{str(r['input']).ljust(widths['input'])}  ERROR: {r['error']}\n")
        else:
            out.write("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip() + "\n")
    if len(outcomes) == 1 and outcomes[0].result is not None:
        res = outcomes[0].result
        out.write("\n")
        for w in res.windows:
            pairs = ", ".join(
                f"{i}:{s:.3f}(w{wt:.2f})"
                for i, s, wt in zip(res.slice_indices, w.slice_scores, w.slice_weights, strict=True)
            )
            out.write(f"{w.type}: {w.score:.4f}  slices[{res.axis}] {pairs}\n")
        for name, pr in res.prompts.items():
            conf = f", confidence {pr.confidence:.2f}" if pr.confidence is not None else ""
            ev = f", {pr.evidence}" if pr.evidence else ""
            out.write(f"prompt {name}: {pr.value} ({pr.source}{conf}{ev})\n")
        prov = res.provenance
        out.write(
            f"model: {prov.scorer.name} v{prov.scorer.version} sha256 {prov.scorer.sha256[:16]}…; "
            f"providers: {', '.join(prov.providers)}\n"
        )
        for warning in res.warnings:
            out.write(f"warning: {warning}\n")
    return out.getvalue()
