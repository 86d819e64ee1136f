"""bench/phantom_series.py: the held-out protocol on validation-seed phantoms, and its table."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from mediqa_sdk.export.heldout import LEVELS, HeldoutRow
from phantom_series import phantom_rows, table

from mediqa_sdk import Assessor


def _series(kind: str, seed: str, family: str, scores: list[float]) -> list[HeldoutRow]:
    return [HeldoutRow(kind, seed, "3d", family, k, math.nan, s, 1.0, None) for k, s in enumerate(scores)]


def test_the_table_averages_level_srcc_and_counts_clean_wins_per_kind_and_family() -> None:
    rows = (
        _series("ct_head", "1", "ct_motion", [0.9, 0.8, 0.7, 0.6, 0.5])  # ranked: 1.0, wins 4/4
        + _series("ct_head", "2", "ct_motion", [0.5, 0.6, 0.7, 0.8, 0.9])  # backwards: -1.0, wins 0/4
        + _series("ct_head", "1", "ct_dose", [0.9, 0.95, 0.7, 0.6, 0.5])  # 0.9, wins 3/4
    )
    out = table(rows)
    assert out["ct_head"]["ct_motion"] == (0.0, 0.5)
    assert out["ct_head"]["ct_dose"] == (0.9, 0.75)
    assert out["ct_head"]["all"] == (pytest.approx(0.3, abs=1e-3), pytest.approx(7 / 12, abs=1e-3))


def test_every_family_is_scored_at_every_level_through_the_runtime() -> None:
    rows = phantom_rows(Assessor("mediqa-scorer-placeholder", device="cpu"), "val", ["ct_head"], 1, 3.0)
    series = {(r.dim, r.family): [] for r in rows}
    for r in rows:
        series[(r.dim, r.family)].append(r.severity)
    families = {f for f in LEVELS if f.startswith("ct_")}
    assert {f for d, f in series if d == "3d"} == families
    assert {f for d, f in series if d == "2d"} == families - {"ct_slice_thickness"}  # a volume fault
    # a clean version first, then the levels that change the image (a dose above the phantom's own is none)
    assert all(sev[0] == 0 and sev == sorted(sev) and len(sev) >= 4 for sev in series.values())
    assert all(r.source_id == "800000" and 0.0 <= r.score <= 1.0 for r in rows)
