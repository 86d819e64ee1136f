"""Click commands of the data engine: ``simulate_command`` and the ``data_group`` (catalogue, write-set,
contact-sheet, rate). The main ``mediqa`` CLI attaches them as ``mediqa simulate`` and ``mediqa data``."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["data_group", "simulate_command"]


@click.command("simulate")
@click.argument("input_path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file (or directory for a DICOM series).",
)
@click.option("--dose", type=float, help="CT: fraction of the source dose, e.g. 0.25.")
@click.option("--field-strength", type=float, help="MR: target B0 in tesla, e.g. 0.5.")
@click.option("--defocus", type=float, help="Fundus: defocus radius, px at a 256-px field.")
@click.option("--motion-blur", type=float, help="Fundus: motion blur length, px at a 256-px field.")
@click.option("--illumination", type=float, help="Fundus: uneven illumination amplitude 0..1.")
@click.option("--exposure", type=float, help="Fundus: exposure change in EV stops (negative = darker).")
@click.option("--haze", type=float, help="Fundus: cataract-like veil 0..1.")
@click.option("--jpeg-quality", type=float, help="Fundus: JPEG quality 1..100.")
@click.option("--noise", type=float, help="Fundus: sensor noise, grey levels at mid-grey.")
@click.option("--seed", type=int, default=0, show_default=True)
def simulate_command(input_path: Path, output: Path, seed: int, **options: float | None) -> None:
    """Write INPUT_PATH as it would look at another dose / field strength / photo quality."""
    from .simulate import simulate

    try:
        out = simulate(input_path, output, seed=seed, **options)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(str(out))


@click.group("data")
def data_group() -> None:
    """Physics data engine: sources, splits, labelled sets, contact sheet, generator rate."""


@data_group.command("catalogue")
@click.option(
    "--all", "show_all", is_flag=True, help="Also list sources left out (noise-only, duplicates...)."
)
def catalogue_command(show_all: bool) -> None:
    """List the clean sources with their split (real scans; phantom seed ranges last)."""
    from .catalogue import PHANTOMS, REAL_SOURCES, data_root
    from .splits import PHANTOM_SEEDS, load_splits

    splits = load_splits()
    root = data_root()
    click.echo("source_id\tgroup\tmodality\tregion\ttype\tdim\tsplit\tpresent\tlicence")
    for s in REAL_SOURCES:
        if s.use or show_all:
            present = "yes" if (root / s.path).exists() else "no"
            click.echo(
                f"{s.source_id}\t{s.group}\t{s.modality}\t{s.region}\t{s.type}\t{s.dim}\t"
                f"{splits.get(s.source_id, '?')}\t{present}\t{s.licence}"
            )
    for p in PHANTOMS:
        ranges = " ".join(f"{k}:{lo}-{hi - 1}" for k, (lo, hi) in PHANTOM_SEEDS.items())
        click.echo(
            f"phantom:{p.kind}\t-\t{p.modality}\t{p.region}\t{','.join(p.types)}\t2d/3d\t{ranges}\tyes\t"
            "procedural"
        )


@data_group.command("write-set")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--n", "n", type=int, default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--kind", type=click.Choice(["2d", "3d"]), default="2d", show_default=True)
@click.option("--modality", "modalities", multiple=True, type=click.Choice(["ct", "mr", "fundus"]))
def write_set_command(
    out_dir: Path, split: str, n: int, seed: int, kind: str, modalities: tuple[str, ...]
) -> None:
    """Write N labelled samples (images + manifest.csv) to OUT_DIR."""
    from .writeset import write_set

    manifest = write_set(out_dir, split=split, n=n, seed=seed, kind=kind, modalities=modalities or None)
    click.echo(str(manifest))


@data_group.command("contact-sheet")
@click.argument("out_png", type=click.Path(path_type=Path))
def contact_sheet_command(out_png: Path) -> None:
    """Render clean vs. degraded examples of every family to OUT_PNG."""
    from .contact_sheet import render_contact_sheet

    click.echo(str(render_contact_sheet(out_png)))


@data_group.command("rate")
@click.option("--n", "n", type=int, default=300, show_default=True)
@click.option("--kind", type=click.Choice(["2d", "3d"]), default="2d", show_default=True)
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True)
def rate_command(n: int, kind: str, split: str) -> None:
    """Measure generator throughput (samples/s, single process, after warm-up)."""
    from .degrade.ct import get_projector
    from .generator import iter_samples

    get_projector(256, 180)
    for _ in iter_samples(split, kind, seed=12345, n=min(n, 100)):
        pass  # warm the real-source cache
    start = time.perf_counter()
    count = sum(1 for _ in iter_samples(split, kind, seed=1, n=n))
    elapsed = time.perf_counter() - start
    click.echo(
        f"{kind}: {count / elapsed:.1f} samples/s ({60 * count / elapsed:.0f}/min, "
        f"{count} in {elapsed:.1f} s)"
    )
