"""Splits: committed table = rule, no source group in two sets, real scans in every test modality."""

from __future__ import annotations

import itertools

from mediqa_sdk.train.data.catalogue import REAL_SOURCES
from mediqa_sdk.train.data.splits import PHANTOM_SEEDS, compute_splits, load_splits, phantom_split


def test_committed_csv_matches_rule() -> None:
    assert load_splits() == compute_splits()


def test_no_group_in_two_sets() -> None:
    split = load_splits()
    by_group: dict[str, set[str]] = {}
    for s in REAL_SOURCES:
        by_group.setdefault(s.group, set()).add(split[s.source_id])
    assert all(len(v) == 1 for v in by_group.values()), {g: v for g, v in by_group.items() if len(v) > 1}


def test_real_sources_in_test_for_every_modality() -> None:
    split = load_splits()
    for modality in ("ct", "mr", "fundus"):
        used = [s for s in REAL_SOURCES if s.modality == modality and s.use]
        assert any(split[s.source_id] == "test" for s in used), modality
        assert any(split[s.source_id] == "train" for s in used), modality


def test_phantom_seed_ranges_are_disjoint() -> None:
    ranges = sorted(PHANTOM_SEEDS.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))
    assert (
        phantom_split(0) == "train" and phantom_split(850_000) == "val" and phantom_split(999_999) == "test"
    )
