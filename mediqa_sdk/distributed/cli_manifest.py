"""The ``--manifest`` branch of ``mediqa score`` (the click command in :mod:`mediqa_sdk.cli` calls it).

- ``--engine ray``: a Ray actor pool, results in a Parquet dataset (``--output`` required).
- ``--engine local`` (default): this process; a Parquet dataset when ``--output`` ends in ``.parquet``, else
  the usual formats (``--format``), one record per manifest row.

Exit status (returned): 0 every row ok, 1 some rows are errors (one line each on stderr), 2 bad manifest or
options, 130 interrupted (a Parquet run resumes where it stopped).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any

import click

from ..errors import MediqaError
from ..manifests import ManifestError
from .pipeline import ScoringOptions

__all__ = ["run_manifest"]

Fail = Callable[[BaseException | None, str], None]
_NOT_WITH_MANIFEST = (
    ("recursive", "--recursive"),
    ("series", "--series"),
    ("report_dir", "--report"),
    ("threshold", "--threshold"),
    ("sr_dir", "--dicom-sr"),
)
_LINE_EVERY_S = 10.0  # progress lines when stderr is not a terminal (a Ray job's log)


def run_manifest(
    params: Mapping[str, Any],
    *,
    limits: Any,
    fail: Fail,
    assessor_engine: str = "onnxruntime",
    stderr: IO[str] | None = None,
) -> int:
    """Run ``mediqa score --manifest`` with the command's parameters; returns the exit status.

    ``assessor_engine`` is the Assessor's (``"triton://HOST:PORT"`` from ``--triton``).

    Raises:
        click.UsageError: options that do not go together.
    """
    stderr = stderr or sys.stderr
    manifest, engine, output = params["manifest"], params["run_engine"], params["output"]
    if manifest is None:
        raise click.UsageError("--engine ray scores the rows of a manifest: give --manifest FILE")
    if params["paths"]:
        raise click.UsageError("give PATHS or --manifest, not both")
    for name, flag in _NOT_WITH_MANIFEST:
        if params.get(name):
            raise click.UsageError(f"{flag} does not apply to --manifest (one row is one scan)")
    parquet = engine == "ray" or (output is not None and output.rstrip("/").endswith(".parquet"))
    if parquet and output is None:
        raise click.UsageError("--engine ray writes a Parquet dataset: give --output results.parquet")
    if engine != "ray" and (params.get("workers") or params.get("address")):
        raise click.UsageError("--workers and --address apply to --engine ray")
    if not parquet and params.get("resume") is not None:
        raise click.UsageError("--resume/--no-resume apply to a Parquet --output (results.parquet)")
    prompts = {"modality": params["modality"], "region": params["region"], "type": params["type_"]}
    options = ScoringOptions(
        model=params["model"],
        classifier=params["classifier"],
        device=params["device"],
        threads=params.get("threads"),
        batch_size=params["batch_size"],
        limits=limits,
        isolate=params.get("isolate") is not False,
        engine=assessor_engine,
    )
    progress = ProgressLine(stderr) if params.get("progress") is not False else None
    try:
        if parquet:
            return _to_parquet(params, options, prompts, fail, progress)
        return _to_stream(params, options, prompts, fail, progress)
    except ManifestError as err:
        fail(err, "")
        return 2
    except MediqaError as err:
        fail(err, "")
        return 1
    except ValueError as err:  # a bad --triton URL, or --device with --triton
        raise click.UsageError(str(err)) from err
    except ConnectionError as err:  # ray.init could not reach --address
        fail(err, f"Ray cluster {params.get('address') or 'RAY_ADDRESS'}")
        return 1
    except KeyboardInterrupt:
        again = "; run the same command again to resume" if parquet else ""
        click.echo(f"\ninterrupted{again}", err=True)
        return 130


def _to_parquet(
    params: Mapping[str, Any],
    options: ScoringOptions,
    prompts: dict[str, str | None],
    fail: Fail,
    progress: ProgressLine | None,
) -> int:
    """Any engine into a Parquet dataset."""
    from .pipeline import score_manifest

    summary = score_manifest(
        params["manifest"],
        params["output"],
        engine=params["run_engine"],
        workers=params.get("workers"),
        threads_per_worker=options.threads,
        address=params.get("address"),
        resume=params.get("resume") is not False,
        device=options.device,
        model=options.model,
        classifier=options.classifier,
        batch_size=options.batch_size,
        limits=options.limits,
        isolate=options.isolate,
        prompts=prompts,
        assessor_engine=options.engine,
        progress=progress.update if progress else None,
        warn=lambda message: click.echo(f"warning: {message}", err=True),
        on_error=lambda path, reason: fail(MediqaError(reason), path),
    )
    if progress:
        progress.done()
    click.echo(
        f"{summary.scored} rows scored ({summary.errors} errors) in {summary.seconds:.1f} s, "
        f"{summary.rows_per_second:.1f} rows/s on {summary.workers} worker(s); {summary.skipped} of "
        f"{summary.total} already scored; results in {summary.output}",
        err=True,
    )
    return 1 if summary.errors else 0


def _to_stream(
    params: Mapping[str, Any],
    options: ScoringOptions,
    prompts: dict[str, str | None],
    fail: Fail,
    progress: ProgressLine | None,
) -> int:
    """The serial engine writing the usual formats (table, json, jsonl, csv)."""
    from ..formats import OutcomeWriter
    from .pipeline import prepare_requests
    from .scoring import score_requests

    assessor = options.assessor()
    requests = prepare_requests(params["manifest"], assessor.scorer.vocabulary, prompts)
    progress = progress if len(requests) > 1 else None
    failed = 0
    output = params["output"]
    try:
        with Path(output).open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as stream:
            writer = OutcomeWriter(stream, params["fmt"])
            block = max(params["batch_size"], 32)
            for start in range(0, len(requests), block):
                for scored in score_requests(
                    assessor, requests[start : start + block], batch_size=params["batch_size"]
                ):
                    outcome = scored.outcome
                    if outcome.error is not None:
                        failed += 1
                        fail(outcome.error, outcome.item.label if outcome.item.files else scored.request.path)
                    writer.write(outcome)
                if progress:
                    progress.update(min(start + block, len(requests)), len(requests))
            writer.close()
    finally:
        assessor.close()
    if progress:
        progress.done()
    return 1 if failed else 0


class ProgressLine:
    """Rows done/total and the rate on stderr: one updating line on a terminal, else a line every 10 s."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream, self.tty = stream, stream.isatty()
        self.t0 = self.last = time.perf_counter()
        self.shown = False

    def update(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` rows."""
        now = time.perf_counter()
        if not self.tty and done not in (0, total) and now - self.last < _LINE_EVERY_S:
            return
        self.last = now
        if done == 0:
            self.stream.write(f"{total} rows to score\n")
            self.stream.flush()
            return
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        eta = f", ETA {(total - done) / rate:.0f} s" if rate > 0 and done < total else ""
        line = f"{done}/{total} rows, {rate:.1f} rows/s{eta}"
        self.stream.write(f"\r{line}  " if self.tty else line + "\n")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        """End the terminal line."""
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
