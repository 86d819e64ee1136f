"""bench/level_order.py: the held-out series scored by their own labels, the ceiling of the level SRCC."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from level_order import label_rows, level_order
from mediqa_sdk.export.heldout import HeldoutRow


def _series(source: str, family: str, labels: list[float]) -> list[HeldoutRow]:
    return [
        HeldoutRow("MR brain", source, "2d", family, k, math.nan, m, m, None) for k, m in enumerate(labels)
    ]


def test_a_series_whose_labels_do_not_fall_with_the_level_lowers_the_ceiling() -> None:
    rows = (
        _series("a", "mr_undersampling", [1.0, 0.8, 0.5, 0.7, 0.4])  # level 3 labelled worse than level 4
        + _series("b", "mr_undersampling", [1.0, 0.9, 0.6, 0.5, 0.3])
        + _series("a", "mr_gibbs", [1.0, 0.9, 0.7, 0.5, 0.3])
    )
    out = level_order(list(reversed(rows)))  # order within a series comes from the severity
    assert out["MR brain"]["mr_undersampling"] == (0.95, 0.9, 0.5, 2)
    assert out["MR brain"]["mr_gibbs"] == (1.0, 1.0, 1.0, 1)
    assert list(out["MR brain"])[-1] == "all" and out["MR brain"]["all"][3] == 3


def test_label_rows_score_each_version_with_its_pseudo_mos() -> None:
    rows = label_rows("val", modalities=("fundus",))
    assert rows and all(r.score == r.pseudo_mos for r in rows) and {r.group for r in rows} == {"fundus"}
    clean = [r for r in rows if r.severity == 0]
    assert clean and all(r.score == 1.0 for r in clean) and all(r.score < 1.0 for r in rows if r.severity)
