"""Scoring the held-out images with every model, and the suite's tables from the scores.

Inputs come from the runtime: :meth:`mediqa_sdk.Assessor.network_inputs` builds each image's network input
and prompt vector(s) exactly as ``mediqa score`` does (salient slices, windows, normalisation); the shipped
scorer runs in the runtime's verified ONNX session, trained models in torch on the same arrays. A CT is
scored in each window of its region and the window scores averaged, as the runtime does.

Slice-choice ablations build the input of other slices with the runtime's own preprocessing
(:func:`mediqa_sdk.preprocess.scorer_input`, :func:`~mediqa_sdk.preprocess.scoring_window`) and the prompt
vector of the original image.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from _suite_data import HeldoutImage

from mediqa_sdk.evaluation.bootstrap import bootstrap_cis
from mediqa_sdk.evaluation.correlation import plcc, rmse, srcc

__all__ = [
    "CT_WINDOWS",
    "OnnxScorer",
    "Scored",
    "TorchScorer",
    "cell_metrics",
    "classical_measures",
    "downstream_cells",
    "paired_deltas",
    "run_feeds",
    "variant_feeds",
]

Feed = tuple[str, np.ndarray, np.ndarray]  # (type, slices [S,3,224,224], prompt [P])
ScorerFn = Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]]
#: CT display windows the upstream table scores every held-out CT in
CT_WINDOWS = ("lung_window", "soft_window", "brain_window")
METRIC_FNS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"srcc": srcc, "plcc": plcc, "rmse": rmse}


@dataclass(frozen=True)
class Scored:
    """One model's outputs for one image, averaged over its windows.

    ``score``: the graph's (slice-weighted) score; ``plain_mean``: the unweighted mean of its slice scores;
    ``physics``: normalised physics estimates ``[K]`` in the record's order.
    """

    score: float
    plain_mean: float
    physics: tuple[float, ...]


class OnnxScorer:
    """The runtime's verified ONNX session of an :class:`~mediqa_sdk.Assessor`'s scorer."""

    def __init__(self, assessor: Any) -> None:
        self.session = assessor._scorer_session  # the runtime's own session (sha256 checked on load)

    def __call__(self, slices: np.ndarray, prompt: np.ndarray) -> Mapping[str, np.ndarray]:
        return self.session.run({"slices": slices, "prompt": prompt})


class TorchScorer:
    """A torch model of scorer contract v1 in eval mode; ``zero_prompt`` feeds zero prompt vectors."""

    def __init__(self, model: Any, zero_prompt: bool = False) -> None:
        self.model = model.eval()
        self.zero_prompt = zero_prompt

    def __call__(self, slices: np.ndarray, prompt: np.ndarray) -> Mapping[str, np.ndarray]:
        import torch

        p = np.zeros_like(prompt) if self.zero_prompt else prompt
        with torch.no_grad():
            out = self.model(torch.from_numpy(np.ascontiguousarray(slices)), torch.from_numpy(p))
        return {k: v.float().numpy() for k, v in out._asdict().items()}


def run_feeds(scorer: ScorerFn, feeds: Sequence[Feed]) -> Scored:
    """Score one image's feeds (one per window, equal slice counts) in one batch and average them."""
    out = scorer(np.stack([f[1] for f in feeds]), np.stack([f[2] for f in feeds]))
    return Scored(
        float(np.mean(out["score"])),
        float(np.mean(out["slice_scores"])),
        tuple(float(v) for v in np.mean(out["physics"], axis=0)),
    )


def variant_feeds(
    stack: np.ndarray,
    prompts: Sequence[tuple[str, np.ndarray]],
    record: Any,
    modality: str,
    neighbours: np.ndarray | None = None,
) -> list[Feed]:
    """Feeds of other slices ``stack [S,H,W]`` (with their ``neighbours [S,2,H,W]``) of a grey scan, for each
    ``(type, prompt vector)`` of the original image's feeds: the same windows and prompts, the runtime's
    preprocessing."""
    from mediqa_sdk.preprocess import scorer_input, scoring_window

    out: list[Feed] = []
    for type_, vec in prompts:
        window = scoring_window(record.preprocess, modality, type_, values_in_hu=True)
        x = scorer_input(stack, record.preprocess, is_color=False, window=window, neighbours=neighbours)
        out.append((type_, x, vec))
    return out


def cell_metrics(pred: Sequence[float], true: Sequence[float]) -> dict[str, float]:
    """``n``, SRCC, PLCC, RMSE of one cell (correlations ``nan`` when undefined)."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    keep = np.isfinite(p) & np.isfinite(t)
    p, t = p[keep], t[keep]
    if p.size == 0:
        return {"n": 0, "srcc": math.nan, "plcc": math.nan, "rmse": math.nan}
    return {"n": int(p.size), "srcc": srcc(p, t), "plcc": plcc(p, t), "rmse": rmse(p, t)}


def paired_deltas(
    full: Sequence[float],
    ablated: Sequence[float],
    true: Sequence[float],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``full - ablated`` of SRCC, PLCC and RMSE on the same rows, with a paired percentile bootstrap CI.

    Rows are resampled with replacement and both models are scored on the same resample
    (:func:`mediqa_sdk.evaluation.bootstrap.bootstrap_cis` on row indices). A positive SRCC/PLCC delta and a
    negative RMSE delta mean the full model is better.
    """
    a, b, t = (np.asarray(v, float) for v in (full, ablated, true))
    if not (a.shape == b.shape == t.shape):
        raise ValueError(f"full, ablated and true differ in length: {a.size}, {b.size}, {t.size}")

    def stats(idx: np.ndarray, _: np.ndarray) -> dict[str, float]:
        i = idx.astype(np.int64)
        return {m: fn(a[i], t[i]) - fn(b[i], t[i]) for m, fn in METRIC_FNS.items()}

    point = {m: fn(a, t) - fn(b, t) for m, fn in METRIC_FNS.items()} if a.size else {}
    rows = np.arange(a.size, dtype=np.float64)
    cis = bootstrap_cis(stats, rows, rows, n_resamples=n_resamples, seed=seed) if a.size >= 3 else {}
    return {
        m: {"delta": point.get(m, math.nan), "ci95": list(cis.get(m, (math.nan, math.nan)))}
        for m in METRIC_FNS
    }


def downstream_cells(images: Iterable[HeldoutImage]) -> list[tuple[str, str]]:
    """``(family, dim)`` cells present: each downstream family, plus pooled ``ct``/``mr`` per dimension."""
    leaf = sorted({(img.downstream, img.dim) for img in images}, key=lambda c: (c[1] != "3d", c[0]))
    pooled = sorted(
        {(f.split("/")[0], d) for f, d in leaf if f != "fundus"}, key=lambda c: (c[1] != "3d", c[0])
    )
    return pooled + leaf


def in_cell(img: HeldoutImage, cell: tuple[str, str]) -> bool:
    """Whether an image belongs to a downstream cell (a family key or its modality prefix)."""
    family, dim = cell
    return img.dim == dim and (img.downstream == family or img.downstream.startswith(family + "/"))


# -- classical measures -----------------------------------------------------------------------------------

#: name -> (modality, sign that makes "higher = better", description)
CLASSICAL: dict[str, tuple[str, int, str]] = {
    "ct_noise": ("ct", -1, "CT global noise level (Christianson 2015), lower is better"),
    "mr_snr": ("mr", 1, "MR SNR (MRIQC), higher is better"),
    "mr_cnr": ("mr", 1, "MR CNR (MRIQC), higher is better"),
    "mr_cjv": ("mr", -1, "MR CJV (MRIQC), lower is better"),
    "mr_efc": ("mr", -1, "MR EFC (MRIQC), lower is better"),
    "sharpness": ("any", 1, "variance of the Laplacian, higher is sharper"),
}


def classical_measures(img: HeldoutImage) -> dict[str, float]:
    """The classical no-reference measures that apply to an image, raw (not sign-aligned); nan on failure."""
    from mediqa_sdk.evaluation.classical import ct_noise_level, mr_measures, sharpness

    out: dict[str, float] = {"sharpness": sharpness(img.image)}
    if img.modality == "ct":
        out["ct_noise"] = ct_noise_level(img.image)
    elif img.modality == "mr":
        try:
            m = mr_measures(img.image)
            out |= {"mr_snr": m.snr, "mr_cnr": m.cnr, "mr_cjv": m.cjv, "mr_efc": m.efc}
        except ValueError:
            out |= dict.fromkeys(("mr_snr", "mr_cnr", "mr_cjv", "mr_efc"), math.nan)
    return out


def aligned_srcc(values: Sequence[float], true: Sequence[float], sign: int) -> dict[str, float]:
    """SRCC of ``sign * value`` with the truth over the rows where the measure is finite."""
    v, t = np.asarray(values, float), np.asarray(true, float)
    keep = np.isfinite(v) & np.isfinite(t)
    if keep.sum() < 3:
        return {"n": int(keep.sum()), "srcc": math.nan}
    return {"n": int(keep.sum()), "srcc": srcc(sign * v[keep], t[keep])}


def sweep(images: Iterable[HeldoutImage], scores: Mapping[str, float]) -> dict[str, list[dict[str, Any]]]:
    """Score vs severity per degradation family: mean and sd over the (source, dim) series, and the mean
    pseudo-MOS of the same images."""
    clean: dict[tuple[str, str], HeldoutImage] = {}
    by_family: dict[str, dict[int, list[HeldoutImage]]] = defaultdict(lambda: defaultdict(list))
    for img in images:
        if img.family == "clean":
            clean[(img.source_id, img.dim)] = img
        else:
            by_family[img.family][img.severity].append(img)
    out: dict[str, list[dict[str, Any]]] = {}
    for family in sorted(by_family):
        levels = by_family[family]
        series = sorted({(i.source_id, i.dim) for v in levels.values() for i in v})
        rows = []
        for severity in range(0, max(levels) + 1):
            imgs = [clean[s] for s in series if s in clean] if severity == 0 else levels.get(severity, [])
            vals = np.array([scores[i.key] for i in imgs if i.key in scores])
            rows.append(
                {
                    "severity": severity,
                    "param": None if severity == 0 else imgs[0].param,
                    "n": int(vals.size),
                    "mean": float(vals.mean()) if vals.size else math.nan,
                    "sd": float(vals.std()) if vals.size else math.nan,
                    "mos": float(np.mean([i.pseudo_mos for i in imgs])) if imgs else math.nan,
                }
            )
        out[family] = rows
    return out
