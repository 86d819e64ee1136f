"""Manifests of expert-scored images: a generic CSV/JSON and readers for public IQA datasets.

Every reader returns a :class:`Manifest` whose entries carry the score normalised to 0..1 (higher is better)
and the raw score, with the scale kept: ``norm = (raw - lo) / (hi - lo)``, flipped when lower raw is better.

- generic CSV: columns ``path,score`` and optional ``modality,region,type,group``; paths relative to the CSV.
- generic JSON: a list of such objects, or ``{"scale": [lo, hi], "entries": [...]}``.
- LDCTIQAC2023: ``train.json`` mapping image file name -> radiologists' mean score 0..4 (4 best); the TIFF
  images beside it (or in ``image/``). Abdominal low-dose CT, 512x512.
- EyeQ: CSV with ``image`` and ``quality`` (0 Good, 1 Usable, 2 Reject); images beside it or in ``--images``.
  Ordinal: Good 1.0, Usable 0.5, Reject 0.0.

Splits are 8:1:1 by ``group`` (default: the file name without extension), never by slice.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediqa_sdk.errors import MediqaError

__all__ = ["Manifest", "ManifestEntry", "ManifestError", "read_manifest", "split_entries"]


class ManifestError(MediqaError, ValueError):
    """A manifest is malformed or names files that do not exist."""


@dataclass(frozen=True)
class ManifestEntry:
    """One scored image."""

    path: Path
    score: float
    raw_score: float
    modality: str | None = None
    region: str | None = None
    type: str | None = None
    group: str = ""


@dataclass(frozen=True)
class Manifest:
    """Entries plus the raw scale and its direction."""

    name: str
    entries: tuple[ManifestEntry, ...]
    scale: tuple[float, float]
    higher_is_better: bool = True
    ordinal: bool = False


def _norm(raw: float, scale: tuple[float, float], higher_is_better: bool) -> float:
    lo, hi = scale
    n = (raw - lo) / (hi - lo) if hi > lo else 0.5
    n = min(max(n, 0.0), 1.0)
    return n if higher_is_better else 1.0 - n


def _entry(
    base: Path, row: dict[str, Any], scale: tuple[float, float], hib: bool, where: str
) -> ManifestEntry:
    if "path" not in row or "score" not in row:
        raise ManifestError(f"{where}: each entry needs 'path' and 'score' (got {sorted(row)})")
    path = Path(str(row["path"]))
    path = path if path.is_absolute() else base / path
    try:
        raw = float(row["score"])
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{where}: score {row['score']!r} of {path.name} is not a number") from err
    opt = {
        k: (str(row[k]).strip().lower() or None) if row.get(k) not in (None, "") else None
        for k in ("modality", "region", "type")
    }
    return ManifestEntry(path, _norm(raw, scale, hib), raw, group=str(row.get("group") or path.stem), **opt)


def read_manifest(
    path: str | Path,
    kind: str = "auto",
    *,
    images: str | Path | None = None,
    scale: tuple[float, float] | None = None,
    higher_is_better: bool = True,
) -> Manifest:
    """Read a manifest.

    Args:
        path: the CSV/JSON file (LDCTIQAC2023: its ``train.json``; EyeQ: its label CSV).
        kind: ``auto`` (from the file), ``csv``, ``json``, ``ldctiqac``, ``eyeq``.
        images: folder of the images when they are not beside the manifest.
        scale: ``(lo, hi)`` of the raw scores; default: the dataset's scale, else the observed min and max.
        higher_is_better: direction of the raw scores (generic manifests).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    base = Path(images) if images else path.parent
    kind = _detect(path) if kind == "auto" else kind
    if kind == "ldctiqac":
        return _ldctiqac(path, base)
    if kind == "eyeq":
        return _eyeq(path, base)
    if kind == "json":
        raw = json.loads(path.read_text(encoding="utf-8"))
        rows = raw["entries"] if isinstance(raw, dict) else raw
        scale = scale or (tuple(raw["scale"]) if isinstance(raw, dict) and "scale" in raw else None)  # type: ignore[assignment]
    elif kind == "csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise ManifestError(f"{path}: unknown manifest kind {kind!r}")
    if not rows:
        raise ManifestError(f"{path}: the manifest has no entries")
    if scale is None:
        values = [float(r["score"]) for r in rows if "score" in r]
        scale = (min(values), max(values)) if values else (0.0, 1.0)
    entries = tuple(_entry(base, r, scale, higher_is_better, str(path)) for r in rows)
    return Manifest(path.name, _existing(entries, path), scale, higher_is_better)


def _detect(path: Path) -> str:
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text(encoding="utf-8"))
        if (
            isinstance(raw, dict)
            and "entries" not in raw
            and all(isinstance(v, (int, float)) for v in list(raw.values())[:20])
        ):
            return "ldctiqac"
        return "json"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return "eyeq" if "quality" in header and "image" in header and "score" not in header else "csv"


def _ldctiqac(path: Path, base: Path) -> Manifest:
    raw = json.loads(path.read_text(encoding="utf-8"))
    folder = base / "image" if (base / "image").is_dir() else base
    entries = tuple(
        ManifestEntry(
            folder / name, _norm(float(v), (0.0, 4.0), True), float(v), "ct", "abdomen", None, Path(name).stem
        )
        for name, v in sorted(raw.items())
    )
    return Manifest("LDCTIQAC2023", _existing(entries, path), (0.0, 4.0), True)


def _eyeq(path: Path, base: Path) -> Manifest:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    entries = []
    for row in rows:
        q = int(float(row["quality"]))
        if q not in (0, 1, 2):
            raise ManifestError(f"{path}: EyeQ quality must be 0, 1 or 2, got {row['quality']!r}")
        entries.append(
            ManifestEntry(
                base / row["image"],
                1.0 - q / 2.0,
                float(q),
                "fundus",
                "eye",
                "color",
                Path(row["image"]).stem.split("_")[0],
            )
        )
    return Manifest("EyeQ", _existing(tuple(entries), path), (0.0, 2.0), False, ordinal=True)


def _existing(entries: tuple[ManifestEntry, ...], manifest: Path) -> tuple[ManifestEntry, ...]:
    missing = [e.path for e in entries if not e.path.exists()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ManifestError(
            f"{manifest}: {len(missing)} listed file(s) do not exist: "
            f"{', '.join(map(str, missing[:3]))}{more}"
        )
    return entries


def split_entries(
    entries: tuple[ManifestEntry, ...] | list[ManifestEntry], seed: int = 0
) -> dict[str, list[ManifestEntry]]:
    """8:1:1 train/val/test split by group, deterministic for a seed."""
    from .streams import stable_fraction

    out: dict[str, list[ManifestEntry]] = {"train": [], "val": [], "test": []}
    for e in entries:
        f = stable_fraction(f"{seed}:{e.group}")
        out["train" if f < 0.8 else "val" if f < 0.9 else "test"].append(e)
    return out
