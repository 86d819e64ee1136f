"""Level series on procedural phantoms: does the scorer rank each fault on anatomy it was never shown?

Run ``python bench/phantom_series.py`` (``--split val``, the default scorer; a few minutes). The held-out
benchmark (``mediqa heldout``) has few real scans per split (2 CT, 4 MR, 3 fundus for validation), and
``--select heldout`` chooses training steps on that same validation benchmark, so it cannot also judge them.
This is a second judge, with the held-out protocol on phantoms whose seeds lie in the split's range (never
drawn in training for ``val`` / ``test``): for each phantom kind and seed, each family of its modality is
applied at :data:`~mediqa_sdk.export.heldout.LEVELS` severities with one draw of the fault, 3D (7 salient
slices with their degraded neighbours) and 2D, each scored through the runtime as ``mediqa score`` would
(CT prompts: modality and region; MR: also the contrast). CT phantoms first get the noise of a routine scan
(``--noise-hu``, the engine's ``with_noise_floor``), as real CTs carry. Prints the level SRCC (Spearman of
score vs severity within a series, averaged) and the clean-wins share per kind and family.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from mediqa_sdk.export.heldout import (
    HeldoutRow,
    SeriesVersion,
    level_series,
    level_srcc,
    score_versions,
    source_series,
)
from mediqa_sdk.train.data.catalogue import PHANTOMS
from mediqa_sdk.train.data.generator import make_phantom, with_noise_floor
from mediqa_sdk.train.data.splits import PHANTOM_SEEDS

from mediqa_sdk import Assessor


def phantom_rows(
    assessor: Assessor, split: str, kinds: list[str], n_seeds: int, noise_hu: float
) -> list[HeldoutRow]:
    """Score every version of every phantom series (``group`` holds the phantom kind, ``source_id`` its
    seed); the held-out benchmark's series (:func:`source_series`) with the phantom's seed as the draw's."""
    return score_versions(assessor, _versions(split, kinds, n_seeds, noise_hu))


def _versions(split: str, kinds: list[str], n_seeds: int, noise_hu: float) -> Iterator[SeriesVersion]:
    lo = PHANTOM_SEEDS[split][0]
    for kind in kinds:
        for seed in range(lo, lo + n_seeds):
            src = make_phantom(kind, seed)
            if src.modality == "ct" and noise_hu > 0:
                src = with_noise_floor(src, noise_hu, np.random.default_rng(seed))
            yield from (replace(v, source_id=str(seed)) for v in source_series(src, kind, seed))


def table(rows: list[HeldoutRow]) -> dict[str, dict[str, tuple[float, float]]]:
    """``kind -> family -> (mean level SRCC, clean-wins share)``, with ``"all"`` per kind."""
    acc: dict[str, dict[str, list[tuple[float, list[bool]]]]] = defaultdict(lambda: defaultdict(list))
    for (kind, _, _, family), v in level_series(rows).items():
        level = level_srcc(v)
        wins = [r.score < v[0].score for r in v[1:]]
        acc[kind][family].append((level, wins))
        acc[kind]["all"].append((level, wins))
    return {
        kind: {
            fam: (
                round(float(np.mean([x[0] for x in vals])), 3),
                round(float(np.mean([w for x in vals for w in x[1]])), 3),
            )
            for fam, vals in fams.items()
        }
        for kind, fams in acc.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--model", default=None, help="Scorer name (default: the registry's default).")
    parser.add_argument("--registry", default=None, help="models.json to read (default: the package's).")
    kinds_help = "Phantom kinds, comma-separated."
    parser.add_argument("--kinds", default="ct_head,ct_chest,ct_abdomen", help=kinds_help)
    parser.add_argument("--seeds", type=int, default=3, help="Phantoms per kind.")
    parser.add_argument("--noise-hu", type=float, default=3.0, help="CT noise floor, HU in the body.")
    parser.add_argument("--json", default=None, help="Also write the table here.")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    known = {p.kind for p in PHANTOMS}
    if unknown := set(kinds) - known:
        parser.error(f"unknown phantom kinds {sorted(unknown)}; known: {sorted(known)}")
    assessor = Assessor(args.model, registry=args.registry, device="cpu")
    result = table(phantom_rows(assessor, args.split, kinds, args.seeds, args.noise_hu))
    print(f"{assessor.scorer.name} {assessor.scorer.version}, {args.split} phantoms x {args.seeds}")
    print("kind        family                level SRCC  clean wins")
    for kind, fams in result.items():
        for fam, (level, wins) in sorted(fams.items(), key=lambda kv: (kv[0] == "all", kv[0])):
            print(f"{kind:11s} {fam:21s} {level:10.3f}  {wins:10.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
