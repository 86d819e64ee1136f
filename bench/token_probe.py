"""Does a slice-level statistic of a scorer's tokens rank an MR fault? A pairwise linear probe and its spread.

Run ``python bench/token_probe.py`` (about 1 min on 2 cores; needs the ``[train]`` extra). For every version
of the held-out level series (``mediqa heldout``'s protocol) of the real MRs of the train and validation
splits, the scorer's tokens ``t_j`` (after the Swin stages, before the last LayerNorm: ``pre``; or after it:
``head``, what the context branch reads) give per slice, averaged over the version's slices:

- ``mean``:  ``mean_j t_j``;
- ``std``:   ``sqrt(mean_j (t_j - mean)^2 + eps)``, the spread over the slice's 196 tokens;
- ``quad``:  the four 2x2-quadrant means of ``t_j`` less ``mean_j t_j`` (signed: it depends on orientation),

as the context branch computes them (``slice_context`` in ``train/model/maniqa.py``). A ridge regression of
``+1 / -1`` on the feature difference of two versions of one series (milder minus
stronger, both orders) is fitted on the training series of a family and ranks the validation series: the
benchmark's level SRCC (mean over series) and clean wins. With ``--standardise`` each feature is divided by
its spread over the training differences first. Every ridge strength of ``--ridge`` is printed, because the
validation set is small (8 series, 32 clean pairs per family) and the result swings with the setting.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch
from mediqa_sdk.export.heldout import heldout_series
from mediqa_sdk.train.loop import load_init
from mediqa_sdk.train.model.maniqa import slice_context
from mediqa_sdk.train.streams import collate_scorer
from scipy.stats import spearmanr

from mediqa_sdk.registry import load_registry

Series = dict[tuple[str, str, str], dict[int, dict[str, np.ndarray]]]
Score = Callable[[dict[str, np.ndarray]], float]


@torch.no_grad()
def features(model: torch.nn.Module, slices: torch.Tensor, prompt: torch.Tensor) -> dict[str, np.ndarray]:
    """Slice-level statistics of one version's tokens (see the module docstring), and its score."""
    seen: dict[str, torch.Tensor] = {}
    hook = model.norm.register_forward_hook(lambda _m, i, o: seen.update(pre=i[0], head=o))
    out = model(slices, prompt)
    hook.remove()
    feats: dict[str, np.ndarray] = {"score": np.array([float(out.score.item())])}
    grid = model.cfg.backbone.out_grid
    for where, t in seen.items():  # [S, G*G, D] -> the context branch's own statistics, averaged over slices
        ctx, d = slice_context(t, grid).mean(0).numpy(), t.shape[-1]  # [mean ; spread ; 4 quadrants]
        feats |= {f"{where}:mean": ctx[:d], f"{where}:std": ctx[d : 2 * d], f"{where}:quad": ctx[2 * d :]}
    return feats


def collect(model: torch.nn.Module, record: object, split: str, families: tuple[str, ...]) -> Series:
    """Features of every version of the ``families`` series of ``split``'s real MRs."""
    series: Series = defaultdict(dict)
    for v in heldout_series(split, modalities=("mr",)):
        if v.family in families:
            batch = collate_scorer([v.sample], record, scores=[1.0])  # type: ignore[arg-type]
            feats = features(model, batch["slices"], batch["prompt"])
            series[(v.source_id, v.dim, v.family)][v.severity] = feats
    return series


def design(series: Series, family: str, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise differences (milder minus stronger, and the reverse) with targets +1 / -1."""
    rows, y = [], []
    for (_, _, fam), levels in series.items():
        if fam != family:
            continue
        for i in levels:
            for j in levels:
                if i < j:
                    d = np.concatenate([levels[i][k] - levels[j][k] for k in keys])
                    rows += [d, -d]
                    y += [1.0, -1.0]
    return np.array(rows), np.array(y)


def linear(w: np.ndarray, keys: list[str], scale: np.ndarray) -> Score:
    """The probe's score of a version: ``(x / scale) @ w`` over the features ``keys`` (higher: milder)."""
    return lambda v: float((np.concatenate([v[k] for k in keys]) / scale) @ w)


def rank(series: Series, family: str, score: Score) -> tuple[float, float, list[str]]:
    """Level SRCC (mean over series), clean wins and the lost pairs of a scoring function of a version."""
    srccs, wins, lost, n = [], 0, [], 0
    for (src, dim, fam), levels in sorted(series.items()):
        if fam != family:
            continue
        sev = sorted(levels)
        sc = [score(levels[s]) for s in sev]
        srccs.append(float(spearmanr(sev, [-x for x in sc])[0]))
        for k, s in enumerate(sev[1:], 1):
            n += 1
            wins += sc[0] > sc[k]
            if sc[0] <= sc[k]:
                lost.append(f"{src}:{dim}:{s}")
    return float(np.mean(srccs)), wins / n, lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--model", default="mediqa-scorer-cnn", help="Registry scorer or checkpoint (default preprocessing)."
    )
    ap.add_argument("--families", default="mr_bias_field,mr_gibbs")
    ap.add_argument("--features", default="pre:std,head:std,head:mean+head:std,head:quad")
    ap.add_argument("--ridge", default="1,10,100,1000")
    ap.add_argument("--standardise", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_init(args.model).eval()
    record = load_registry().get(None, "scorer")
    families = tuple(args.families.split(","))
    train, val = (collect(model, record, split, families) for split in ("train", "val"))
    print(f"{args.model}: {len(train)} training and {len(val)} validation series; level SRCC / clean wins")
    for family in families:
        srcc, wins, _ = rank(val, family, lambda v: float(v["score"][0]))
        print(f"{family:14s} {'score':22s} {'':>11s}  {srcc:6.3f} / {wins:5.3f}")
        for combo in args.features.split(","):
            keys = combo.split("+")
            x, y = design(train, family, keys)
            scale = x.std(0) + 1e-6 if args.standardise else np.ones(x.shape[1])
            xs = x / scale
            for lam in (float(r) for r in args.ridge.split(",")):
                w = np.linalg.solve(xs.T @ xs + lam * np.eye(xs.shape[1]), xs.T @ y)
                srcc, wins, lost = rank(val, family, linear(w, keys, scale))
                print(f"{family:14s} {combo:22s} ridge {lam:5g}  {srcc:6.3f} / {wins:5.3f}  lost {len(lost)}")


if __name__ == "__main__":
    main()
