"""Manifests of scored images, shared by evaluation (``mediqa evaluate``) and training (``mediqa train``).

Every reader returns a :class:`Manifest` whose entries carry the score normalised to 0..1 (higher is better)
and the raw score, with the scale kept: ``norm = (raw - lo) / (hi - lo)``, flipped when lower raw is better.

- generic CSV: columns ``path,score`` and optional ``modality,region,type,group``; paths relative to the CSV.
- generic JSON: a list of such objects, or ``{"scale": [lo, hi], "entries": [...]}``.
- LDCTIQAC2023: ``train.json`` mapping image file name -> radiologists' mean score 0..4 (4 best); the TIFF
  images beside it (or in ``image/``). Abdominal low-dose CT, 512x512.
- EyeQ: CSV with ``image`` and ``quality`` (0 Good, 1 Usable, 2 Reject); images beside it or in ``images``.
  Ordinal: Good 1.0, Usable 0.5, Reject 0.0.

Splits are 8:1:1 by ``group`` (default: the file name without extension), never by slice.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MediqaError

__all__ = [
    "Manifest",
    "ManifestEntry",
    "ManifestError",
    "read_manifest",
    "split_entries",
    "stable_fraction",
]

KINDS = ("auto", "csv", "json", "ldctiqac", "eyeq")


class ManifestError(MediqaError, ValueError):
    """A manifest is malformed or names files that do not exist."""


@dataclass(frozen=True)
class ManifestEntry:
    """One scored image: ``score`` is normalised to 0..1 (higher is better), ``raw_score`` as written."""

    path: Path
    score: float
    raw_score: float
    modality: str | None = None
    region: str | None = None
    type: str | None = None
    group: str = ""


@dataclass(frozen=True)
class Manifest:
    """Entries plus the raw scale and its direction; ``ordinal`` for class labels (EyeQ)."""

    name: str
    entries: tuple[ManifestEntry, ...]
    scale: tuple[float, float]
    higher_is_better: bool = True
    ordinal: bool = False

    def missing(self) -> list[Path]:
        """Listed files that do not exist."""
        return [e.path for e in self.entries if not e.path.exists()]


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
    raw = _number(row["score"], f"{where}: score of {path.name}")
    opt = {
        k: (str(row[k]).strip().lower() or None) if row.get(k) not in (None, "") else None
        for k in ("modality", "region", "type")
    }
    return ManifestEntry(path, _norm(raw, scale, hib), raw, group=str(row.get("group") or path.stem), **opt)


def _number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{where}: {value!r} is not a number") from err
    if out != out:  # NaN
        raise ManifestError(f"{where}: score is NaN")
    return out


def read_manifest(
    path: str | Path,
    kind: str = "auto",
    *,
    images: str | Path | None = None,
    scale: tuple[float, float] | None = None,
    higher_is_better: bool = True,
    check_files: bool = True,
) -> Manifest:
    """Read a manifest.

    Args:
        path: the CSV/JSON file (LDCTIQAC2023: its ``train.json``; EyeQ: its label CSV).
        kind: ``auto`` (from the file), ``csv``, ``json``, ``ldctiqac``, ``eyeq``.
        images: folder of the images when they are not beside the manifest.
        scale: ``(lo, hi)`` of the raw scores; default: the dataset's scale, else the observed min and max.
        higher_is_better: direction of the raw scores (generic manifests).
        check_files: raise when listed files do not exist (``False``: keep them; see
            :meth:`Manifest.missing`).

    Raises:
        ManifestError: the file is missing or malformed, or (``check_files``) names missing images.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    if kind not in KINDS:
        raise ManifestError(f"{path}: unknown manifest kind {kind!r}; expected one of {', '.join(KINDS)}")
    base = Path(images) if images else path.parent
    kind = _detect(path) if kind == "auto" else kind
    if kind == "ldctiqac":
        manifest = _ldctiqac(path, base)
    elif kind == "eyeq":
        manifest = _eyeq(path, base)
    else:
        manifest = _generic(path, base, kind, scale, higher_is_better)
    if check_files:
        _require_files(manifest, path)
    return manifest


def _generic(
    path: Path, base: Path, kind: str, scale: tuple[float, float] | None, higher_is_better: bool
) -> Manifest:
    rows: list[dict[str, Any]]
    if kind == "json":
        raw = _json(path)
        if isinstance(raw, dict) and "entries" in raw:
            rows = raw["entries"]
            if scale is None and "scale" in raw:
                lo, hi = (_number(v, f"{path}: scale") for v in raw["scale"])
                scale = (lo, hi)
        else:
            rows = raw
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ManifestError(f"{path}: expected a list of {{'path', 'score'}} objects")
    else:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    if not rows:
        raise ManifestError(f"{path}: the manifest has no entries")
    if scale is None:
        values = [_number(r["score"], f"{path}: score") for r in rows if "score" in r]
        scale = (min(values), max(values)) if values else (0.0, 1.0)
    entries = tuple(_entry(base, r, scale, higher_is_better, str(path)) for r in rows)
    return Manifest(path.name, entries, scale, higher_is_better)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: not readable JSON ({err})") from err


def _detect(path: Path) -> str:
    if path.suffix.lower() == ".json":
        raw = _json(path)
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
    raw = _json(path)
    if not isinstance(raw, dict) or not raw:
        raise ManifestError(f"{path}: LDCTIQAC2023 labels must map image names to scores 0..4")
    folder = base / "image" if (base / "image").is_dir() else base
    entries = []
    for name, value in sorted(raw.items()):
        v = _number(value, f"{path}: score of {name}")
        entries.append(
            ManifestEntry(
                folder / name, _norm(v, (0.0, 4.0), True), v, "ct", "abdomen", None, Path(name).stem
            )
        )
    return Manifest("LDCTIQAC2023", tuple(entries), (0.0, 4.0), True)


def _eyeq(path: Path, base: Path) -> Manifest:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    entries = []
    for row in rows:
        q = _number(row.get("quality"), f"{path}: quality of {row.get('image')}")
        if q not in (0.0, 1.0, 2.0):
            raise ManifestError(f"{path}: EyeQ quality must be 0, 1 or 2, got {row['quality']!r}")
        entries.append(
            ManifestEntry(
                base / row["image"],
                1.0 - q / 2.0,
                q,
                "fundus",
                "eye",
                "color",
                Path(row["image"]).stem.split("_")[0],
            )
        )
    if not entries:
        raise ManifestError(f"{path}: the manifest has no entries")
    return Manifest("EyeQ", tuple(entries), (0.0, 2.0), False, ordinal=True)


def _require_files(manifest: Manifest, path: Path) -> None:
    missing = manifest.missing()
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ManifestError(
            f"{path}: {len(missing)} listed file(s) do not exist: {', '.join(map(str, missing[:3]))}{more}"
        )


def stable_fraction(key: str) -> float:
    """A deterministic number in [0, 1) from a string: the first 48 bits of its sha256."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / float(16**12)


def split_entries(entries: Sequence[ManifestEntry], seed: int = 0) -> dict[str, list[ManifestEntry]]:
    """8:1:1 train/val/test split by group, deterministic for a seed."""
    out: dict[str, list[ManifestEntry]] = {"train": [], "val": [], "test": []}
    for e in entries:
        f = stable_fraction(f"{seed}:{e.group}")
        out["train" if f < 0.8 else "val" if f < 0.9 else "test"].append(e)
    return out
