"""``score_manifest``: score every row of a manifest into a resumable Parquet dataset, on Ray or serially.

>>> from mediqa_sdk.distributed import score_manifest
>>> summary = score_manifest("scans.csv", "results.parquet", workers=8)  # doctest: +SKIP
>>> summary.errors, summary.rows_per_second  # doctest: +SKIP

The driver reads the manifest, works out from the dataset what is left to do (resume), and writes each
block of results as one part file as soon as it arrives; the scoring happens in the engine (a Ray actor
pool, or this process).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PromptError
from ..manifests import ManifestError
from .dataset import ResultDataset, plan_resume
from .manifest import ScanRequest, read_scan_manifest
from .rows import STATUS_ERROR, RunInfo, row_of, rows_table
from .scoring import score_requests

if TYPE_CHECKING:
    import pyarrow as pa

    from ..io import ReadLimits
    from ..isolate import Isolation

__all__ = ["ENGINES", "RunSummary", "ScoringOptions", "prepare_requests", "score_manifest"]

ENGINES = ("local", "ray")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoringOptions:
    """How each worker builds its :class:`~mediqa_sdk.Assessor` and scores (picklable, sent to actors)."""

    model: str | None = None
    classifier: str | None = None
    device: str = "auto"
    threads: int | None = None
    batch_size: int = 8
    limits: ReadLimits | None = None
    isolate: bool | Isolation = True
    engine: str = "onnxruntime"

    def assessor(self) -> Any:
        """A new Assessor with these options."""
        from ..assessor import Assessor

        return Assessor(
            self.model,
            classifier=self.classifier,
            device=self.device,
            threads=self.threads,
            limits=self.limits,
            isolate=self.isolate,
            engine=self.engine,
        )


@dataclass(frozen=True)
class RunSummary:
    """What a run did: ``total`` manifest rows, ``skipped`` (already scored), ``scored`` this run (of which
    ``errors`` are error rows) in ``seconds`` with ``workers`` on ``engine``; ``superseded`` rows removed."""

    run_id: str
    output: str
    engine: str
    workers: int
    total: int
    skipped: int
    scored: int
    errors: int
    seconds: float
    superseded: int = 0

    @property
    def rows_per_second(self) -> float:
        """Rows scored per second of this run."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def prepare_requests(
    manifest: str, scorer_vocabulary: Any, prompts: Mapping[str, str | None] | None = None
) -> list[ScanRequest]:
    """Read the manifest, fill unset prompts from ``prompts`` and check each distinct combination once.

    Raises:
        ManifestError: the manifest is unusable, or a row's prompt is outside the model's vocabulary.
    """
    from ..prompts import validate_overrides

    requests = read_scan_manifest(manifest)
    defaults = {k: v for k, v in (prompts or {}).items() if v}
    if defaults:
        requests = [
            replace(
                r,
                modality=r.modality or defaults.get("modality"),
                region=r.region or defaults.get("region"),
                type=r.type or defaults.get("type"),
            )
            for r in requests
        ]
    checked: set[tuple[str | None, ...]] = set()
    for number, r in enumerate(requests, start=1):
        key = (r.modality, r.region, r.type)
        if key in checked:
            continue
        try:
            validate_overrides(scorer_vocabulary, r.overrides())
        except PromptError as err:
            raise ManifestError(f"{manifest}: row {number} ({r.id}): {err}") from err
        checked.add(key)
    return requests


def score_manifest(
    manifest: str,
    output: str,
    *,
    engine: str = "ray",
    workers: int | None = None,
    threads_per_worker: int | None = None,
    address: str | None = None,
    resume: bool = True,
    device: str = "auto",
    model: str | None = None,
    classifier: str | None = None,
    batch_size: int = 8,
    block_rows: int = 32,
    limits: ReadLimits | None = None,
    isolate: bool | Isolation = True,
    prompts: Mapping[str, str | None] | None = None,
    assessor_engine: str = "onnxruntime",
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> RunSummary:
    """Score every row of ``manifest`` into the Parquet dataset ``output``, one row per id.

    Args:
        manifest: CSV or Parquet of ``path[, id, modality, region, type, series]`` (local or a URL).
        output: the dataset folder, local or an fsspec URL (``s3://bucket/results.parquet``).
        engine: ``"ray"`` (an actor pool, one Assessor per actor) or ``"local"`` (this process).
        workers: actors (default: the cluster's CPUs divided by ``threads_per_worker``).
        threads_per_worker: onnxruntime threads and Ray CPUs per actor (default: CPUs / workers, else 1).
        address: Ray cluster to join (``"auto"``, ``"ray://head:10001"``); default: ``RAY_ADDRESS`` or a new
            local cluster. A Ray session already initialised in this process is used as it is.
        resume: skip ids the dataset holds an ``ok`` row for and score errors again (``False``: remove the
            dataset's parts and start over).
        device: ``auto`` (CUDA with a fractional GPU per actor when the cluster has GPUs), ``cpu``, ``cuda``,
            ``tensorrt``.
        model, classifier: registry names (default: the registry's).
        batch_size: scans per inference call inside a worker.
        block_rows: manifest rows per Ray task and per part file (what a killed run can lose per worker).
        limits: read limits (default: :meth:`ReadLimits.from_env`).
        isolate: decode inputs in a worker process per Assessor (a crashing decoder costs one row).
        prompts: default prompt overrides for rows that leave them empty.
        assessor_engine: the Assessor's engine (``"triton://HOST:PORT"``: a Triton server).
        progress: called with ``(rows done, rows to do)`` once before scoring and after each part written.
        warn: called with one-line warnings (parts moved aside, rows lost with a dead worker).
        on_error: called with ``(path, reason)`` for each error row written.

    Raises:
        ManifestError: unusable manifest (missing ``path`` column, duplicate ids, bad prompt values).
        UnknownModelError: ``model`` or ``classifier`` is not in the registry.
        MissingDependencyError: pyarrow/fsspec (or Ray for ``engine="ray"``) are not installed.
    """
    from ..registry import load_registry

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    started = time.perf_counter()
    warn = warn or (lambda message: None)
    registry = load_registry()
    scorer = registry.get(model, "scorer")
    registry.get(classifier, "classifier")
    requests = prepare_requests(manifest, scorer.vocabulary, prompts)
    ray_engine = None
    if engine == "ray":  # Ray is checked for before the dataset is touched
        from ._ray import RayEngine

        ray_engine = RayEngine(address, workers, threads_per_worker, device, assessor_engine == "onnxruntime")
    dataset = ResultDataset(output, warn)
    if not resume:
        dataset.clear()
    plan = plan_resume(dataset.index(), (r.id for r in requests))
    superseded = dataset.drop_rows(plan.stale)
    pending = [r for r in requests if r.id not in plan.done]
    run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    options = ScoringOptions(
        model=model,
        classifier=classifier,
        device=device,
        threads=threads_per_worker,
        batch_size=batch_size,
        limits=limits,
        isolate=isolate,
        engine=assessor_engine,
    )
    block_rows = max(1, block_rows)
    if assessor_engine != "onnxruntime" and pending:  # an unreachable server: one error now, not one per row
        _check_engine(options, classify=any(len(r.overrides()) < 3 for r in pending))
    if ray_engine is not None:
        blocks = ray_engine.blocks(pending, options, RunInfo(run_id, scorer, device), block_rows)
    else:
        blocks = _local_blocks(pending, options, RunInfo(run_id, scorer, device), block_rows)

    parts = _PartWriter(dataset, run_id, len(pending), progress, on_error)
    try:
        for table in blocks:
            parts.write(table)
        lost = [r for r in pending if r.id not in parts.written]
        if lost:  # blocks Ray gave up on (their worker kept dying): error rows, never missing rows
            warn(f"{len(lost)} rows were lost with a worker that kept dying; they are error rows")
            parts.write(_lost_rows(lost, RunInfo(run_id, scorer, device)))
    finally:
        blocks.close()
    drops: dict[str, set[str]] = {}  # the old error rows of ids scored again
    for key, holding in plan.retried.items():
        for part in holding if key in parts.written else ():
            drops.setdefault(part, set()).add(key)
    superseded += dataset.drop_rows(drops)
    return RunSummary(
        run_id=run_id,
        output=output,
        engine=engine,
        workers=ray_engine.workers if ray_engine is not None else 1,
        total=len(requests),
        skipped=len(requests) - len(pending),
        scored=len(parts.written),
        errors=parts.errors,
        seconds=time.perf_counter() - started,
        superseded=superseded,
    )


def _check_engine(options: ScoringOptions, classify: bool) -> None:
    assessor = options.assessor()
    try:
        assessor.check_engine(classifier=classify)
    finally:
        assessor.close()


class _PartWriter:
    """Writes each result block as the next part file, counting ids and errors and reporting progress."""

    def __init__(
        self,
        dataset: ResultDataset,
        run_id: str,
        total: int,
        progress: Progress | None,
        on_error: Callable[[str, str], None] | None,
    ) -> None:
        self.dataset, self.run_id, self.total = dataset, run_id, total
        self.progress, self.on_error = progress, on_error
        self.written: set[str] = set()
        self.errors = 0
        self.count = 0
        if progress:
            progress(0, total)

    def write(self, table: pa.Table) -> None:
        """Write ``table`` as ``part-<run>-<n>.parquet``."""
        self.dataset.write_part(table, f"part-{self.run_id}-{self.count:06d}.parquet")
        self.count += 1
        self.written.update(table.column("id").to_pylist())
        columns = (table.column(c).to_pylist() for c in ("path", "status", "error"))
        for path, status, error in zip(*columns, strict=True):
            if status == STATUS_ERROR:
                self.errors += 1
                if self.on_error is not None:
                    self.on_error(path, error)
        if self.progress:
            self.progress(len(self.written), self.total)


def _local_blocks(
    pending: list[ScanRequest], options: ScoringOptions, run: RunInfo, block_rows: int
) -> Generator[pa.Table, None, None]:
    """The serial engine: blocks of ``block_rows`` rows scored in this process with one Assessor."""
    if not pending:
        return
    assessor = options.assessor()
    try:
        for start in range(0, len(pending), block_rows):
            scored = score_requests(
                assessor, pending[start : start + block_rows], batch_size=options.batch_size
            )
            yield rows_table([row_of(s, run) for s in scored])
    finally:
        assessor.close()


def _lost_rows(lost: list[ScanRequest], run: RunInfo) -> pa.Table:
    from ..assessor import ScoreOutcome
    from ..errors import ScanReadError
    from ..io import InputItem
    from .scoring import Scored

    rows = []
    for r in lost:
        error = ScanReadError(f"{r.path}: the worker scoring it died repeatedly (Ray gave up on its block)")
        outcome = ScoreOutcome(InputItem(path=Path(r.path), label=r.path), error=error)
        rows.append(row_of(Scored(r, outcome), run))
    return rows_table(rows)
