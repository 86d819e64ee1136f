"""The ``mediqa`` command: a thin click layer over the Python API.

Data goes to stdout (or ``--output``), progress and messages to stderr. Exit codes of ``mediqa score``:
0 every input scored, 1 at least one input failed (each failure is one line on stderr), 2 usage error.
Heavy modules are imported inside the commands so ``mediqa --help`` is instant.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
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
        "mediqa_sdk.export.onnx_export",
        "export_command",
        "Export checkpoints to ONNX [train extra].",
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
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
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Scans per batch."
)
@_format_option()
@_output_option
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks for failures.")
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
    batch_size: int,
    fmt: str,
    output: str | None,
    verbose: bool,
) -> None:
    """Score PATHS: NIfTI, DICOM files or series directories, PNG/JPEG/TIFF images, or folders of them.

    A directory holding several DICOM series gives one result per series. Exit code: 0 all scored,
    1 some inputs failed (one line each on stderr), 2 usage error.
    """
    from .assessor import Assessor
    from .errors import MediqaError, PromptError, UnknownModelError
    from .formats import OutcomeWriter
    from .io import discover_inputs
    from .prompts import validate_overrides

    try:
        assessor = Assessor(model, classifier=classifier, device=device, threads=threads)
        overrides = {"modality": modality, "region": region, "type": type_}
        validate_overrides(assessor.scorer.vocabulary, overrides)
    except (PromptError, UnknownModelError) as err:
        raise click.UsageError(str(err)) from err
    except MediqaError as err:
        _fail(err, verbose)
        sys.exit(1)

    items, failures = discover_inputs(paths, recursive=recursive)
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
    progress = _Progress(len(items)) if len(items) > 1 and sys.stderr.isatty() else None
    with Path(output).open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as stream:
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
            if progress:
                progress.step()
        writer.close()
    if progress:
        progress.done()
    if not items and not failures:
        click.echo("error: no inputs found", err=True)
        sys.exit(1)
    sys.exit(1 if failed else 0)


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
