"""The ``mediqa`` command: a thin click layer over the Python API.

Data goes to stdout (or ``--output``), progress and messages to stderr. Exit codes of ``mediqa score``:
0 every input scored, 1 at least one input failed (each failure is one line on stderr), 2 usage error.
Heavy modules are imported inside the commands so ``mediqa --help`` is instant.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any

import click

from ._version import __version__

__all__ = ["main"]

# commands that live in the [train] extra: name -> (module, attribute, short help)
_LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": (
        "mediqa_sdk.train.data.cli",
        "simulate_command",
        "Simulate a scan at another dose / field strength / photo quality [train extra].",
    ),
    "data": (
        "mediqa_sdk.train.data.cli",
        "data_group",
        "Data engine: catalogue, labelled sets [train extra].",
    ),
    "train": ("mediqa_sdk.train.cli", "train_group", "Train the classifier and scorer [train extra]."),
    "export": (
        "mediqa_sdk._export_cli",
        "export_group",
        "Export a checkpoint to ONNX [train extra], or the models as a Triton repository.",
    ),
    "heldout": (
        "mediqa_sdk.export.heldout",
        "heldout_command",
        "Benchmark a scorer on held-out real scans via ONNX [train extra].",
    ),
}
_DEVICES = ("auto", "cpu", "cuda", "tensorrt")
_FORMATS = ("table", "json", "jsonl", "csv")


class _LazyGroup(click.Group):
    """A group whose [train] commands are imported only when run, so the runtime never needs torch/scipy."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS:
            module, attr, _ = _LAZY_COMMANDS[cmd_name]
            try:
                command: click.Command = getattr(importlib.import_module(module), attr)
                return command
            except ImportError as err:
                return _missing_extra(cmd_name, err)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(60)) for name, cmd in sorted(self.commands.items())]
        rows += [(name, spec[2]) for name, spec in _LAZY_COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


def _missing_extra(name: str, err: ImportError) -> click.Command:
    @click.command(
        name=name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def stub() -> None:
        click.echo(
            f"error: 'mediqa {name}' needs the training extra ({err}): pip install \"mediqa-sdk[train]\"",
            err=True,
        )
        sys.exit(2)

    return stub


def _format_option(formats: tuple[str, ...] = _FORMATS) -> Callable[[Any], Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(formats),
        default="table",
        show_default=True,
        help="Output format.",
    )


def _output_option(f: Any) -> Any:
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="Write the data to FILE instead of stdout.",
    )(f)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mediqa-sdk")
def main() -> None:
    """Offline quality scores for CT and MR volumes, 2D slices and fundus photos."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--recursive", "-r", is_flag=True, help="Descend into subdirectories.")
@click.option("--modality", default=None, help="Override the modality prompt (ct, mr, fundus).")
@click.option(
    "--region", default=None, help="Override the region prompt (head, chest, abdomen, breast, eye, other)."
)
@click.option("--type", "type_", default=None, help="Override the type prompt (e.g. lung_window, t1, flair).")
@click.option("--series", default=None, help="Score only this SeriesInstanceUID of DICOM directories.")
@click.option("--model", default=None, help="Scorer name from `mediqa models` (default: the registry's).")
@click.option("--classifier", default=None, help="Prompt-classifier name (default: the registry's).")
@click.option(
    "--device",
    type=click.Choice(_DEVICES),
    default="auto",
    show_default=True,
    help="Execution device; cuda/tensorrt fail rather than fall back to CPU.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads.")
@click.option(
    "--triton",
    "triton_url",
    default=None,
    metavar="URL",
    help="Run the graphs on a Triton server (triton://HOST:PORT or HOST:PORT, gRPC) serving a repository "
    "from `mediqa export triton` [triton extra].",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Scans per batch."
)
@click.option(
    "--isolate/--no-isolate",
    default=None,
    help="Read inputs in a worker process with a memory ceiling and a timeout, so that a crashing or hanging "
    "decoder costs one input (default: on when there is more than one input).",
)
@click.option(
    "--max-voxels",
    default=None,
    metavar="N",
    help="Refuse an input whose header claims more voxels than N (default 600M; env MEDIQA_MAX_VOXELS).",
)
@_format_option()
@click.option(
    "--output",
    "-o",
    type=click.Path(writable=True),
    default=None,
    help="Write the data to FILE instead of stdout (with --manifest: a Parquet dataset folder or URL when it "
    "ends in .parquet).",
)
@click.option(
    "--manifest",
    default=None,
    metavar="FILE",
    help="Score the rows of a CSV/Parquet manifest (path[,id,modality,region,type,series]; a path or URL) "
    "instead of PATHS [ray extra for Parquet/URLs]; see docs/distributed.md.",
)
@click.option(
    "--engine",
    "run_engine",
    type=click.Choice(("local", "ray")),
    default="local",
    show_default=True,
    help="With --manifest: score in this process, or on a Ray cluster (actor pool) into --output *.parquet.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="--engine ray: actors (default: CPUs)."
)
@click.option("--address", default=None, help="--engine ray: cluster to join (auto, ray://HOST:10001).")
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks for failures.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="QC folder: a report page and montage per scan, results.jsonl (written as scored), results.csv, "
    "summary.html.",
)
@click.option(
    "--resume/--no-resume",
    default=None,
    help="With --report: skip inputs its results.jsonl has scored. With --manifest and a Parquet --output "
    "(on by default): skip ids scored ok, score errors again; --no-resume starts over.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Flag scans scoring below X (default: the model's grade bands); exit code 3 if any is flagged.",
)
@click.option(
    "--dicom-sr",
    "sr_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write a DICOM Structured Report (TID 1500) per DICOM series into DIR [sr extra].",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar with rate and ETA on stderr (default: when stderr is a terminal).",
)
def score(
    paths: tuple[str, ...],
    recursive: bool,
    modality: str | None,
    region: str | None,
    type_: str | None,
    series: str | None,
    model: str | None,
    classifier: str | None,
    device: str,
    threads: int | None,
    triton_url: str | None,
    batch_size: int,
    isolate: bool | None,
    max_voxels: str | None,
    fmt: str,
    output: str | None,
    manifest: str | None,
    run_engine: str,
    workers: int | None,
    address: str | None,
    verbose: bool,
    report_dir: str | None,
    resume: bool | None,
    threshold: float | None,
    sr_dir: str | None,
    progress: bool | None,
) -> None:
    """Score PATHS: NIfTI, DICOM files or series directories, PNG/JPEG/TIFF images, or folders of them.

    A directory holding several DICOM series gives one result per series. Exit code: 0 all scored (and,
    with --report or --threshold, none flagged), 1 some inputs failed (one line each on stderr), 2 usage
    error, 3 with --report or --threshold: all scored but some flagged. 1 wins over 3; 130 interrupted.
    """
    from .assessor import Assessor
    from .errors import MediqaError, PromptError, UnknownModelError
    from .formats import OutcomeWriter
    from .io import discover_inputs
    from .prompts import validate_overrides
    from .report.cli_outputs import QcOutputs, StopRequest

    if not verbose:  # pydicom/nibabel warn about odd files over several lines; the one-line errors suffice
        warnings.simplefilter("ignore")
    engine = "onnxruntime" if triton_url is None else _triton_engine(triton_url)
    if manifest is not None or run_engine != "local":  # docs/distributed.md
        from .distributed.cli_manifest import run_manifest

        ctx = click.get_current_context()
        limits = _read_limits(max_voxels)
        sys.exit(
            run_manifest(
                ctx.params, limits=limits, fail=lambda e, w: _fail(e, verbose, w), assessor_engine=engine
            )
        )
    if not paths:
        raise click.UsageError("give PATHS to score, or --manifest FILE")
    if output is not None and Path(output).is_dir():
        raise click.BadParameter(f"{output} is a directory", param_hint="--output")

    try:
        limits = _read_limits(max_voxels)
        assessor = Assessor(
            model, classifier=classifier, device=device, threads=threads, limits=limits, engine=engine
        )
        overrides = {"modality": modality, "region": region, "type": type_}
        validate_overrides(assessor.scorer.vocabulary, overrides)
        if triton_url is not None:  # an unreachable or mismatched server: one line, not one per input
            assessor.check_engine(classifier=not all(overrides.values()))
    except (PromptError, UnknownModelError) as err:
        raise click.UsageError(str(err)) from err
    except MediqaError as err:
        _fail(err, verbose)
        sys.exit(1)
    except ValueError as err:  # a bad --triton URL, or --device with --triton
        raise click.UsageError(str(err)) from err
    if resume and report_dir is None:
        raise click.UsageError("--resume continues a --report folder: give --report DIR")
    if sr_dir is not None:
        from .report.sr import require_highdicom

        try:
            require_highdicom()
        except ImportError as err:
            raise click.UsageError(str(err)) from err

    # importing onnxruntime and loading the graphs overlap with discovery and reading the first input
    assessor.start_sessions(classifier=not all(overrides.values()))
    items, failures = discover_inputs(paths, recursive=recursive)
    # a short-lived process: the modules and the found items are never cyclic garbage, so the collections
    # that scoring (and, below, interpreter exit) triggers need not walk them (0.1 s of a 300-file series)
    gc.freeze()
    if isolate if isolate is not None else len(items) > 1:  # a batch: worth the worker (README, Reliability)
        from .isolate import Isolation

        try:
            assessor.isolation = Isolation.from_env()
        except ValueError as err:
            raise click.UsageError(str(err)) from err
    if series is not None:
        known = sorted({i.series_uid for i in items if i.series_uid})
        items = [i for i in items if i.series_uid == series]
        if not items:
            raise click.UsageError(
                f"no DICOM series {series!r} among the inputs; found: {', '.join(known) or 'none'}"
            )
    failed = 0
    for path, error in failures:
        _fail(error, verbose, str(path))
        failed += 1
    qc = QcOutputs(assessor, report_dir, threshold, bool(resume), sr_dir, lambda e, w: _fail(e, verbose, w))
    qc.record_failures(failures)
    items = qc.pending(items)
    show = progress if progress is not None else len(items) > 1 and sys.stderr.isatty()
    progress_bar = _Progress(len(items), sys.stderr) if show and items else None
    stop = StopRequest(enabled=qc.active)
    with stop, Path(output).open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as stream:
        writer = OutcomeWriter(stream, fmt)
        for outcome in assessor.iter_items(items, batch_size=batch_size, **overrides):
            if outcome.error is not None:
                failed += 1
                _fail(
                    outcome.error,
                    verbose,
                    outcome.item.label if outcome.item.files else str(outcome.item.path),
                )
            writer.write(outcome)
            failed += qc.add(outcome)
            if progress_bar:
                progress_bar.step()
            if stop.requested:
                break
        writer.close()
    if progress_bar:
        progress_bar.done()
    flagged = qc.close(interrupted=stop.requested)
    gc.freeze()
    if stop.requested:
        sys.exit(130)
    if not items and not failures and not qc.skipped:
        click.echo("error: no inputs found", err=True)
        sys.exit(1)
    sys.exit(1 if failed else 3 if flagged else 0)


@main.command()
@_format_option(("table", "json"))
def models(fmt: str) -> None:
    """List the models in the registry."""
    from .registry import load_registry

    registry = load_registry()
    rows: list[dict[str, Any]] = []
    for name, rec in sorted(registry.models.items()):
        rows.append(
            {
                "name": name,
                "task": rec.task,
                "version": rec.version,
                "default": registry.defaults.get(rec.task) == name,
                "placeholder": rec.placeholder,
                "size": rec.size,
                "sha256": rec.sha256,
                "license": rec.license,
                "contract": rec.contract_version,
                "description": rec.description,
            }
        )
    if fmt == "json":
        click.echo(json.dumps({"registry": str(registry.path), "models": rows}, indent=2))
        return
    click.echo(f"registry: {registry.path}")
    for r in rows:
        flags = ", ".join(f for f, on in (("default", r["default"]), ("PLACEHOLDER", r["placeholder"])) if on)
        click.echo(
            f"{r['name']}  [{r['task']} v{r['version']}, contract {r['contract']}, {r['size']} bytes, "
            f"sha256 {r['sha256'][:12]}…{', ' + flags if flags else ''}]"
        )
        click.echo(f"    {r['description']}")


@main.command()
@_format_option(("table", "json"))
def info(fmt: str) -> None:
    """Versions, execution providers (available vs usable), GPU presence, optional extras."""
    from .info import environment_report

    report = environment_report()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    ort = report["onnxruntime"]
    click.echo(f"mediqa-sdk {report['mediqa_sdk']}  (Python {report['python']}, {report['platform']})")
    click.echo("packages: " + ", ".join(f"{k} {v}" for k, v in report["packages"].items()))
    click.echo(
        f"onnxruntime {ort['imported']} ({ort['device']}); installed: "
        + ", ".join(f"{k} {v}" for k, v in ort["distributions"].items())
    )
    if ort["double_install"]:
        click.echo(
            "WARNING: more than one onnxruntime package is installed; GPU providers may vanish. "
            "Uninstall all of them and reinstall mediqa-sdk."
        )
    gpu = report["gpu"]
    click.echo(
        f"GPU: {', '.join(gpu['devices']) if gpu['devices'] else 'none'} "
        f"(CUDA driver {'found' if gpu['cuda_driver'] else 'not found'})"
    )
    click.echo("providers:")
    for provider, state in report["providers"]["usable"].items():
        click.echo(f"  {provider}: {state}")
    for extra, dists in report["extras"].items():
        have = [f"{d} {v}" for d, v in dists.items() if v]
        click.echo(f"extra [{extra}]: {', '.join(have) if have else 'not installed'}")
    reg = report["registry"]
    click.echo(
        f"registry: {reg['path']} (defaults: {', '.join(f'{k}={v}' for k, v in reg['defaults'].items())})"
    )
    if reg["placeholders"]:
        click.echo(f"NOTE: placeholder (untrained) models: {', '.join(reg['placeholders'])}")


@main.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option(
    "--kind",
    type=click.Choice(("auto", "csv", "json", "ldctiqac", "eyeq")),
    default="auto",
    show_default=True,
    help="Manifest kind (auto: from the file).",
)
@click.option("--images", type=click.Path(file_okay=False), default=None, help="Folder of the images.")
@click.option("--model", default=None, help="Scorer name from `mediqa models` (default: the registry's).")
@click.option("--classifier", default=None, help="Prompt-classifier name (default: the registry's).")
@click.option("--device", type=click.Choice(_DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate the first N entries only.")
@click.option(
    "--group-by", default=None, help="Per-group metrics over these fields, e.g. modality,region,type."
)
@click.option(
    "--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True, help="Bootstrap resamples."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap and fold seed.")
@click.option(
    "--plot", type=click.Path(dir_okay=False), default=None, help="Scatter plot PNG of predicted vs true."
)
@click.option("--save-scores", type=click.Path(dir_okay=False), default=None, help="Per-entry scores as CSV.")
@_format_option(("table", "json"))
@_output_option
def evaluate(
    manifest: str,
    kind: str,
    images: str | None,
    model: str | None,
    classifier: str | None,
    device: str,
    threads: int | None,
    batch_size: int,
    limit: int | None,
    group_by: str | None,
    bootstrap: int,
    seed: int,
    plot: str | None,
    save_scores: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Evaluate the scorer against a manifest of expert scores.

    Scores every entry through the runtime and prints SRCC, KRCC, PLCC (raw and after the 4-parameter
    logistic), RMSE and the LDCTIQAC2023 overall metric with bootstrap confidence intervals.

    MANIFEST: a CSV/JSON of path,score[,modality,region,type,group], an LDCTIQAC2023 train.json or an EyeQ
    label CSV. Exit code: 0 all entries scored, 1 some failed (listed; the metrics use the rest), 2 usage.
    """
    from .errors import MediqaError, UnknownModelError
    from .evaluation.report import render_table
    from .evaluation.scoring import GROUP_FIELDS, evaluate_manifest, write_scores
    from .manifests import read_manifest

    fields = tuple(f.strip() for f in group_by.split(",") if f.strip()) if group_by else ()
    bad = [f for f in fields if f not in GROUP_FIELDS]
    if bad:
        raise click.UsageError(f"--group-by {','.join(bad)}: choose from {', '.join(GROUP_FIELDS)}")
    try:
        from .assessor import Assessor

        man = read_manifest(manifest, kind, images=images, check_files=False)
        assessor = Assessor(model, classifier=classifier, device=device, threads=threads)
    except UnknownModelError as err:
        raise click.UsageError(str(err)) from err
    except MediqaError as err:
        _fail(err, False)
        sys.exit(1)
    total = min(len(man.entries), limit or len(man.entries))
    progress = _Progress(total) if total > 1 and sys.stderr.isatty() else None

    def advance(k: int) -> None:
        for _ in range(k if progress else 0):
            progress.step()  # type: ignore[union-attr]

    report, scored = evaluate_manifest(
        assessor,
        man,
        limit=limit,
        batch_size=batch_size,
        group_by=fields,
        n_resamples=bootstrap,
        seed=seed,
        progress=advance if progress else None,
    )
    if progress:
        progress.done()
    for failure in report.failures:
        click.echo(f"error: {failure.path}: {failure.error}", err=True)
    if save_scores:
        write_scores(save_scores, scored)
    if plot and report.scored:
        from .evaluation.plot import write_scatter

        pairs = [(s.predicted, s.entry.score) for s in scored if s.predicted is not None]
        m = report.overall.values
        title = f"{man.name}, {assessor.scorer.name}: SRCC {m['srcc']:.3f}, PLCC {m['plcc_fitted']:.3f} (fit)"
        write_scatter(plot, [p for p, _ in pairs], [t for _, t in pairs], report.overall.fit, title)
    text = json.dumps(report.to_dict(), indent=2) if fmt == "json" else render_table(report)
    with Path(output).open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as stream:
        stream.write(text + "\n")
    if not report.scored:
        click.echo("error: no entry could be scored", err=True)
    sys.exit(1 if report.failures else 0)


class _Progress:
    """A one-line progress bar with rate and ETA on stderr (only used when stderr is a terminal)."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr) -> None:
        self.total, self.count, self.stream, self.t0 = total, 0, stream, time.perf_counter()

    def step(self) -> None:
        self.count += 1
        elapsed = time.perf_counter() - self.t0
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        filled = int(30 * self.count / self.total)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.count}/{self.total} "
            f"{rate:.1f} scans/s ETA {eta:.0f}s "
        )
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _triton_engine(url: str) -> str:
    """``--triton`` value -> the Assessor's engine: ``HOST:PORT`` gets the ``triton://`` scheme."""
    return url if "://" in url else f"triton://{url}"


def _read_limits(max_voxels: str | None) -> Any:
    """Read limits: defaults, then ``MEDIQA_MAX_*`` variables, then ``--max-voxels`` (bad: a usage error)."""
    from dataclasses import replace

    from .io import ReadLimits
    from .io._limits import parse_size

    try:
        limits = ReadLimits.from_env()
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    if max_voxels is None:
        return limits
    try:
        return replace(limits, max_voxels=parse_size(max_voxels))
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--max-voxels") from err


def _fail(error: BaseException | None, verbose: bool, where: str = "") -> None:
    """One line per failure, ``error: WHERE: PROBLEM``; the file name the loader put first is not repeated."""
    message = str(error)
    if where:
        name = Path(where).name
        for prefix in (f"{where}: ", f"{name}: "):
            if message.startswith(prefix):
                message = message[len(prefix) :]
                break
        message = f"{where}: {message}"
    click.echo(f"error: {message}", err=True)
    if verbose and error is not None:
        click.echo("".join(traceback.format_exception(error)).rstrip(), err=True)


if __name__ == "__main__":
    main()
