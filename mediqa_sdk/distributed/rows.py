"""The Parquet result row of one manifest row, and its Arrow schema (one schema for every engine).

Columns: ``id`` (the key), ``path``, ``status`` (``"ok"``/``"error"``), ``error`` (the one-line reason the
serial CLI prints), ``error_type``; ``score``, ``grade``, ``flagged``, ``reliable``, ``label``, ``dim``,
``axis``; ``slices`` (list of ``{index, score, weight}``, averaged over windows) and ``windows`` (list of
``{type, score}``); the prompts used and their sources (``modality``, ``modality_source``, ``region``,
``region_source``, ``type``, ``type_source``); ``physics`` (list of ``{name, value, unit, normalised}``);
``warnings``; provenance: ``model``, ``model_version``, ``model_sha256``, ``classifier``,
``classifier_sha256`` (null when every prompt was given), ``sdk_version``, ``providers``, ``device``,
``input_sha256``, ``input_format``; ``seconds`` (scoring plus fetching), ``host``, ``run_id``, ``scored_at``.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._version import __version__
from .scoring import Scored

if TYPE_CHECKING:
    import pyarrow as pa

    from ..registry import ModelRecord

__all__ = ["STATUS_ERROR", "STATUS_OK", "RunInfo", "result_schema", "row_of", "rows_table"]

STATUS_OK, STATUS_ERROR = "ok", "error"


@dataclass(frozen=True)
class RunInfo:
    """What every row of one run shares: the run's id, the models asked for, the device."""

    run_id: str
    scorer: ModelRecord
    device: str


@functools.cache
def result_schema() -> pa.Schema:
    """The Arrow schema of the result rows."""
    import pyarrow as pa

    def struct(**fields: pa.DataType) -> pa.DataType:
        return pa.struct([pa.field(k, v) for k, v in fields.items()])

    s, f, b = pa.string(), pa.float64(), pa.bool_()
    return pa.schema(
        [
            ("id", s),
            ("path", s),
            ("status", s),
            ("error", s),
            ("error_type", s),
            ("score", f),
            ("grade", s),
            ("flagged", b),
            ("reliable", b),
            ("label", s),
            ("dim", s),
            ("axis", s),
            ("slices", pa.list_(struct(index=pa.int32(), score=f, weight=f))),
            ("windows", pa.list_(struct(type=s, score=f))),
            ("modality", s),
            ("modality_source", s),
            ("region", s),
            ("region_source", s),
            ("type", s),
            ("type_source", s),
            ("physics", pa.list_(struct(name=s, value=f, unit=s, normalised=f))),
            ("warnings", pa.list_(s)),
            ("model", s),
            ("model_version", s),
            ("model_sha256", s),
            ("classifier", s),
            ("classifier_sha256", s),
            ("sdk_version", s),
            ("providers", pa.list_(s)),
            ("device", s),
            ("input_sha256", s),
            ("input_format", s),
            ("seconds", f),
            ("host", s),
            ("run_id", s),
            ("scored_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def row_of(scored: Scored, run: RunInfo) -> dict[str, Any]:
    """The result row of one scored manifest row (every column of :func:`result_schema`)."""
    row: dict[str, Any] = dict.fromkeys(result_schema().names)
    req, outcome = scored.request, scored.outcome
    row.update(
        id=req.id,
        path=req.path,
        model=run.scorer.name,
        model_version=run.scorer.version,
        model_sha256=run.scorer.sha256,
        sdk_version=__version__,
        device=run.device,
        host=socket.gethostname(),
        run_id=run.run_id,
        scored_at=datetime.now(timezone.utc),
        slices=[],
        windows=[],
        physics=[],
        warnings=[],
        providers=[],
    )
    res = outcome.result
    if res is None:
        row.update(
            status=STATUS_ERROR,
            error=str(outcome.error),
            error_type=type(outcome.error).__name__,
            label=outcome.item.label,
            seconds=round(scored.fetch_seconds, 5) if scored.fetch_seconds else None,
        )
        return row
    prov = res.provenance
    row.update(
        status=STATUS_OK,
        score=res.score,
        grade=res.grade,
        flagged=res.flagged,
        reliable=res.reliable,
        label=res.label,
        dim=res.dim,
        axis=res.axis,
        slices=[
            {"index": i, "score": s, "weight": w}
            for i, s, w in zip(res.slice_indices, res.slice_scores, res.slice_weights, strict=True)
        ],
        windows=[{"type": w.type, "score": w.score} for w in res.windows],
        physics=[
            {"name": p.name, "value": p.value, "unit": p.unit, "normalised": p.normalised}
            for p in res.physics
        ],
        warnings=list(res.warnings),
        model=prov.scorer.name,
        model_version=prov.scorer.version,
        model_sha256=prov.scorer.sha256,
        classifier=prov.classifier.name if prov.classifier else None,
        classifier_sha256=prov.classifier.sha256 if prov.classifier else None,
        sdk_version=prov.sdk_version,
        providers=list(prov.providers),
        device=prov.device,
        input_sha256=prov.input_sha256,
        input_format=prov.input_format,
        seconds=round(prov.timings.get("total", 0.0) + scored.fetch_seconds, 5),
    )
    for name in ("modality", "region", "type"):
        prompt = res.prompts[name]
        row[name], row[f"{name}_source"] = prompt.value, prompt.source
    return row


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table of :func:`result_schema` (an empty list gives an empty table)."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=result_schema())
