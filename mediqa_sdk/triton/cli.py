"""``mediqa export triton OUT/``: the registry's graphs as a Triton model repository (no torch needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .config import KINDS

__all__ = ["triton_command"]


@click.command("triton")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--registry",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="models.json to export from (default: the installed registry).",
)
@click.option("--model", default=None, help="Scorer name from `mediqa models` (default: the registry's).")
@click.option("--classifier", default=None, help="Prompt-classifier name (default: the registry's).")
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Rows per model execution (scorer: scans x CT windows; classifier: slices).",
)
@click.option("--no-tensorrt", is_flag=True, help="No TensorRT accelerator (CUDA only on GPU instances).")
@click.option("--fp16", is_flag=True, help="TensorRT in FP16 (faster; scores change slightly).")
@click.option(
    "--instances", type=click.IntRange(min=1), default=1, show_default=True, help="Model instances."
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="gpu",
    show_default=True,
    help="Instance kind; cpu has no TensorRT.",
)
@click.option(
    "--max-queue-delay-us",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="Dynamic batcher wait to fill a batch (microseconds).",
)
@click.option(
    "--trt-cache",
    default="/tmp/mediqa-tensorrt",
    show_default=True,
    help="TensorRT engine cache folder on the server.",
)
@click.option("--force", is_flag=True, help="Replace the two model folders and mediqa.json if they exist.")
def triton_command(
    out: Path,
    registry: Path | None,
    model: str | None,
    classifier: str | None,
    max_batch_size: int,
    no_tensorrt: bool,
    fp16: bool,
    instances: int,
    kind: str,
    max_queue_delay_us: int,
    trt_cache: str,
    force: bool,
) -> None:
    """Write the classifier and the scorer as a Triton model repository in OUT.

    Serve it with `tritonserver --model-repository OUT`, then score with `mediqa score --triton
    HOST:8001 FILES` or `Assessor(engine="triton://HOST:8001")`. Exit code: 0 written, 1 a graph or the
    folder failed, 2 usage error (OUT holds these models already: --force).
    """
    from ..errors import MediqaError, UnknownModelError
    from .repository import write_repository

    try:
        export = write_repository(
            out,
            registry,
            model,
            classifier,
            max_batch_size=max_batch_size,
            tensorrt=not no_tensorrt,
            fp16=fp16,
            instances=instances,
            kind=kind,
            max_queue_delay_us=max_queue_delay_us,
            engine_cache=trt_cache,
            force=force,
        )
    except (FileExistsError, UnknownModelError) as err:
        raise click.UsageError(str(err)) from err
    except (MediqaError, OSError, ValueError) as err:
        click.echo(f"error: {out}: {err}", err=True)
        sys.exit(1)
    for m in export.models:
        click.echo(f"{m.task}: {m.folder} (sha256 {m.record.sha256[:12]}…)", err=True)
    trt = "TensorRT " + ("FP16" if fp16 else "FP32") if export.options.uses_tensorrt else "no TensorRT"
    click.echo(
        f"wrote {export.root} (max batch {max_batch_size}, {instances} {kind} instance(s), {trt}); "
        f"serve it: tritonserver --model-repository {export.root.resolve()}",
        err=True,
    )
