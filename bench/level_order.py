"""Are the held-out levels a quality order by the engine's own labels? The ceiling of the level SRCC.

Run ``python bench/level_order.py --split val`` (about 20 s, no model). The held-out benchmark
(``mediqa heldout``) ranks a scorer by the Spearman correlation of its score with the degradation level
within each series. A scorer trained on the pseudo-MOS labels can only learn that order where the labels
follow it, so this scores every version of every held-out series with its own pseudo-MOS, the prediction of
a perfect label learner, and prints per group and family the level SRCC of the labels (the ceiling such a
scorer reaches), the worst series and the share of series whose labels fall strictly with the level. A
family below 1.0 here has levels that the labels (masked SSIM, ``train/data/labels.py``) do not order: its
level SRCC measures the degradation's design as much as the scorer.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from mediqa_sdk.export.heldout import HeldoutRow, heldout_series, level_series, level_srcc


def label_rows(split: str, seed: int = 0, modalities: tuple[str, ...] | None = None) -> list[HeldoutRow]:
    """One row per version of every held-out series of ``split`` (of ``modalities``, default all), its score
    being its pseudo-MOS."""
    rows = []
    for v in heldout_series(split, seed, modalities):
        mos = float(v.sample.pseudo_mos)
        rows.append(HeldoutRow(v.group, v.source_id, v.dim, v.family, v.severity, v.param, mos, mos, None))
    return rows


def level_order(rows: list[HeldoutRow]) -> dict[str, dict[str, tuple[float, float, float, int]]]:
    """``group -> family -> (mean level SRCC, worst series, share strictly falling, series)``; ``"all"``
    per group pools its families."""
    acc: dict[str, dict[str, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    for (group, _, _, family), v in level_series(rows).items():
        v = sorted(v, key=lambda r: r.severity)
        level = level_srcc(v)
        falling = bool(np.all(np.diff([r.score for r in v]) < 0))
        acc[group][family].append((level, falling))
        acc[group]["all"].append((level, falling))
    return {
        group: {
            fam: (
                round(float(np.mean([x[0] for x in vals])), 3),
                round(float(np.min([x[0] for x in vals])), 3),
                round(float(np.mean([x[1] for x in vals])), 3),
                len(vals),
            )
            for fam, vals in sorted(fams.items(), key=lambda kv: (kv[0] == "all", kv[0]))
        }
        for group, fams in sorted(acc.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--seed", type=int, default=0, help="Draw of the series (mediqa heldout uses 0).")
    parser.add_argument("--modalities", default="ct,mr,fundus", help="Comma-separated.")
    parser.add_argument("--json", default=None, help="Also write the table here.")
    args = parser.parse_args()
    mods = tuple(m for m in args.modalities.split(",") if m)
    result = level_order(label_rows(args.split, args.seed, mods))
    print(f"labels as scores, {args.split} split held-out series (seed {args.seed})")
    print("group            family                level SRCC  worst   strictly falling  series")
    for group, fams in result.items():
        for fam, (level, worst, falling, n) in fams.items():
            print(f"{group:16s} {fam:21s} {level:10.3f}  {worst:6.2f}  {falling:16.2f}  {n:6d}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
