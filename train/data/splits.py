"""Fixed train / validation / test split by source, never by slice.

Real sources: per modality, the groups (patient or physical object) are ordered by ``sha256(group)`` and the
first ``max(1, round(0.25 n))`` go to test, the next ``max(1, round(0.15 n))`` to validation, the rest to
train (groups with no usable source are ``unused``); then the train groups in ``MOVED_TO_VAL`` go to
validation (2026-12-05: a 3D CT and a fourth brain MR, so selection sees volume faults; 2026-12-06: the
next two fundus photos in the order above, so selection sees more than one photo). The result is
committed as ``splits.csv`` next to this module (regenerate with ``python -m mediqa_sdk.train.data.splits``);
a group is never in two sets.
Phantoms are split by seed range.
"""

from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

from .catalogue import REAL_SOURCES

__all__ = ["PHANTOM_SEEDS", "SPLITS", "SPLITS_CSV", "compute_splits", "load_splits", "phantom_split"]

SPLITS = ("train", "val", "test")
#: phantom seed ranges ``[start, stop)`` per split
PHANTOM_SEEDS: dict[str, tuple[int, int]] = {
    "train": (0, 800_000),
    "val": (800_000, 900_000),
    "test": (900_000, 1_000_000),
}
SPLITS_CSV = Path(__file__).with_name("splits.csv")
FIELDS = ("source_id", "group", "modality", "region", "type", "split")
#: train groups moved to validation by choice (the test split never changes)
MOVED_TO_VAL = frozenset({"ts-dicom", "xa30-t1", "hrf-01_h", "hrf-13_h"})


def compute_splits() -> dict[str, str]:
    """``source_id -> split`` for every catalogued real source (used or not), by the rule above."""
    out: dict[str, str] = {}
    for modality in sorted({s.modality for s in REAL_SOURCES}):
        groups = sorted(
            {s.group for s in REAL_SOURCES if s.modality == modality and s.use},
            key=lambda g: hashlib.sha256(g.encode()).hexdigest(),
        )
        n = len(groups)
        n_test = max(1, round(0.25 * n))
        n_val = max(1, round(0.15 * n)) if n >= 3 else 0
        split_of = {
            g: "test" if i < n_test else "val" if i < n_test + n_val or g in MOVED_TO_VAL else "train"
            for i, g in enumerate(groups)
        }
        for s in REAL_SOURCES:
            if s.modality == modality:
                out[s.source_id] = split_of.get(s.group, "unused")
    return out


def write_splits_csv(path: Path = SPLITS_CSV) -> None:
    """Write the committed table (one row per catalogued real source)."""
    split = compute_splits()
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FIELDS)
        for s in REAL_SOURCES:
            writer.writerow([s.source_id, s.group, s.modality, s.region, s.type, split[s.source_id]])


@lru_cache(maxsize=1)
def load_splits() -> dict[str, str]:
    """``source_id -> split`` from the committed ``splits.csv``."""
    with SPLITS_CSV.open(newline="") as fh:
        return {row["source_id"]: row["split"] for row in csv.DictReader(fh)}


def phantom_split(seed: int) -> str:
    """Split of a phantom seed (raises for a seed outside every range)."""
    for name, (lo, hi) in PHANTOM_SEEDS.items():
        if lo <= seed < hi:
            return name
    raise ValueError(f"phantom seed {seed} is outside the split ranges {PHANTOM_SEEDS}")


if __name__ == "__main__":
    write_splits_csv()
