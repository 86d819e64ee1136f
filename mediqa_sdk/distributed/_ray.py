"""The Ray Data engine: manifest blocks -> an actor pool (one Assessor per actor) -> result blocks.

Sizing: ``threads`` onnxruntime threads and Ray CPUs per actor, ``workers`` actors; by default one thread
per actor and as many actors as the cluster has CPUs. When the cluster has GPUs and the device is not
``cpu``, each actor asks for ``GPUs / workers`` of a GPU (at most one) and scores with CUDA. Each actor
decodes its inputs in its own isolated reader process, so a crashing decoder costs one row; an actor that
dies anyway (a preempted node, the OOM killer) is restarted and its block retried (Ray Data's defaults:
unlimited actor restarts and task retries), and a block that fails for good is skipped
(``max_errored_blocks``) and becomes error rows in the driver.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..errors import DeviceUnavailableError
from ._deps import require
from .manifest import ScanRequest
from .rows import RunInfo, row_of, rows_table
from .scoring import score_requests

if TYPE_CHECKING:
    import pyarrow as pa

    from .pipeline import ScoringOptions

__all__ = ["RayEngine", "plan_workers"]


def plan_workers(cpus: float, workers: int | None, threads: int | None) -> tuple[int, int]:
    """``(workers, threads per worker)``: ``workers * threads`` fills the cluster's CPUs by default.

    Neither given: one thread per worker, a worker per CPU. One given: the other is ``CPUs // given``.
    """
    total = max(1, int(cpus))
    if threads is None:
        threads = max(1, total // workers) if workers else 1
    if workers is None:
        workers = max(1, total // threads)
    return workers, threads


class ScoreActor:
    """A Ray Data callable class: one :class:`~mediqa_sdk.Assessor` per actor, a block of rows per call."""

    def __init__(self, options: ScoringOptions, run: RunInfo) -> None:
        import warnings

        # readers warn about odd files over several lines, forwarded to the driver's log; the rows' warnings
        # and errors say what matters (the serial CLI hides them too, unless --verbose)
        warnings.simplefilter("ignore")
        self.assessor = options.assessor()
        self.options, self.run = options, run

    def __call__(self, batch: pa.Table) -> pa.Table:
        requests = [ScanRequest(**row) for row in batch.to_pylist()]
        scored = score_requests(self.assessor, requests, batch_size=self.options.batch_size)
        return rows_table([row_of(s, self.run) for s in scored])


class RayEngine:
    """Joins (or starts) a Ray cluster on first use and scores blocks of requests on an actor pool.

    Args:
        address: cluster address for ``ray.init`` (``None``: ``RAY_ADDRESS`` or a new local cluster).
        workers, threads: see :func:`plan_workers`.
        device: the device asked for; ``auto`` becomes ``cuda`` when the cluster has GPUs.
        gpus: whether actors may ask for GPUs (not when the graphs run on a Triton server).
    """

    def __init__(
        self, address: str | None, workers: int | None, threads: int | None, device: str, gpus: bool = True
    ) -> None:
        self.ray = require("ray", "--engine ray")
        require("ray.data", "--engine ray")
        self.address, self.asked, self.asked_device = address, (workers, threads), device
        self.workers, self.threads, self.num_gpus, self.device = workers or 0, threads or 1, 0.0, device
        self._started = False
        self._gpus = gpus

    def _connect(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            local = self.address is None and not _env_address()
            ray.init(
                address=self.address,
                logging_level=logging.WARNING,
                **({"include_dashboard": False} if local else {}),
            )
            self._started = True
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0))
        self.workers, self.threads = plan_workers(cpus, *self.asked)
        if self.asked_device in ("cuda", "tensorrt") and gpus <= 0:
            raise DeviceUnavailableError(
                f"device {self.asked_device!r} asked for, but the Ray cluster has no GPUs; use --device cpu"
            )
        if gpus > 0 and self.asked_device != "cpu" and self._gpus:
            self.num_gpus = min(1.0, gpus / self.workers)
            self.device = "cuda" if self.asked_device == "auto" else self.asked_device

    def blocks(
        self, pending: list[ScanRequest], options: ScoringOptions, run: RunInfo, block_rows: int
    ) -> Generator[pa.Table, None, None]:
        """Result tables, one per block of ``block_rows`` requests, in the order they finish."""
        if not pending:
            return
        import pyarrow as pa

        ray = self.ray
        context = ray.data.DataContext.get_current()
        saved = (context.max_errored_blocks, context.enable_progress_bars)
        try:
            self._connect()
            context.max_errored_blocks, context.enable_progress_bars = -1, False
            run = dataclasses.replace(run, device=self.device)
            options = dataclasses.replace(options, threads=self.threads, device=self.device)
            table = pa.Table.from_pylist([dataclasses.asdict(r) for r in pending], schema=_request_schema())
            rows = max(1, min(block_rows, -(-len(pending) // self.workers)))  # every worker gets a block
            ds = ray.data.from_arrow([table.slice(i, rows) for i in range(0, len(pending), rows)])
            gpu: dict[str, Any] = {"num_gpus": self.num_gpus} if self.num_gpus else {}
            ds = ds.map_batches(
                ScoreActor,
                fn_constructor_args=(options, run),
                batch_size=None,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=self.threads,
                **gpu,
            )
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                if batch.num_rows:
                    yield batch
        finally:
            context.max_errored_blocks, context.enable_progress_bars = saved
            if self._started:
                ray.shutdown()
                self._started = False


def _env_address() -> bool:
    import os

    return bool(os.environ.get("RAY_ADDRESS"))


def _request_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(f.name, pa.string()) for f in dataclasses.fields(ScanRequest)])
