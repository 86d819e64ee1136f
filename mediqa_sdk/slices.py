"""Salient-slice selection (MedIQA, section 2.2), pure numpy and deterministic.

Rule, along the acquisition axis of a volume with ``D`` slices:

1. A slice is *valid* when its foreground covers at least ``min_foreground_fraction`` of its area. Foreground:
   CT (or any volume whose values are in HU, i.e. its 1st percentile is below ``ct_threshold_hu``): voxels
   above ``ct_threshold_hu`` (-500 HU: body, not air); other modalities: voxels above
   ``min + relative_threshold * (p99 - min)`` of the volume. Fractions are measured on an in-plane
   subsample (every ``subsample``-th pixel), which changes them by well under a percent.
2. The ordered valid indices ``V`` are split into ``n`` contiguous regions of near-equal length
   ``R_i = V[v_{i-1}:v_i]`` and the middle slice ``s_i = R_i[floor(|R_i| / 2)]`` of each is taken.
3. Fewer than ``n`` valid slices: ``V[round(linspace(0, |V| - 1, n))]``, which repeats the nearest valid
   slices (a warning says so). No valid slice: the rule is applied to all slices, with a warning, and the
   result is marked unreliable. A single-slice input gives ``[0]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import SalientSpec
from .scan import Scan

__all__ = ["SliceSelection", "foreground_fractions", "select_from_valid", "select_salient_slices"]


@dataclass(frozen=True)
class SliceSelection:
    """Chosen slice indices along ``axis`` and what the rule noticed."""

    indices: tuple[int, ...]
    axis: str
    n_valid: int
    n_total: int
    warnings: tuple[str, ...] = ()
    reliable: bool = True


def foreground_fractions(volume: np.ndarray, spec: SalientSpec, is_ct: bool | None = None) -> np.ndarray:
    """Fraction of foreground pixels in each slice of ``volume`` (``[D, H, W]`` or ``[D, H, W, 3]``).

    Args:
        volume: slices along axis 0 (already subsampled in-plane if wanted), physical units.
        spec: thresholds.
        is_ct: force the CT rule (True) or the relative rule (False); ``None`` decides from the values.
    """
    vol = volume.mean(axis=-1) if volume.ndim == 4 else volume
    if is_ct:  # a fixed threshold: no percentiles needed (NaN compares False, as below)
        with np.errstate(invalid="ignore"):
            return (vol > spec.ct_threshold_hu).mean(axis=(1, 2))
    finite = vol[np.isfinite(vol)]
    if finite.size == 0:
        return np.zeros(vol.shape[0])
    if is_ct is None:
        is_ct = _percentile_below(finite, 1.0, spec.ct_threshold_hu)
    if is_ct:
        threshold = spec.ct_threshold_hu
    else:
        p99 = np.percentile(finite, 99.0)
        low = float(finite.min())
        threshold = low + spec.relative_threshold * (float(p99) - low)
        if p99 <= low:  # constant volume: nothing stands out
            return np.zeros(vol.shape[0])
    with np.errstate(invalid="ignore"):
        return (vol > threshold).mean(axis=(1, 2))


def _percentile_below(values: np.ndarray, q: float, threshold: float) -> bool:
    """``np.percentile(values, q) < threshold`` (linear interpolation), mostly from one count instead of a
    partition: with ``k = floor(q / 100 * (n - 1))`` and ``c = #(values < threshold)``, the answer is True
    when ``c >= k + 2`` (both interpolated neighbours lie below), False when ``c <= k``; only ``c == k + 1``
    needs the percentile itself."""
    n = values.size
    k = int(np.floor(q / 100.0 * (n - 1)))
    below = int(np.count_nonzero(values < threshold))
    if n > 1 and below >= k + 2:
        return True
    if below <= k:
        return False
    return bool(np.percentile(values, q) < threshold)


def select_from_valid(valid: np.ndarray, n: int = 7) -> tuple[tuple[int, ...], tuple[str, ...], bool]:
    """Apply steps 2 and 3 of the rule to a boolean validity mask.

    Returns:
        indices, warnings, reliable.
    """
    total = int(valid.shape[0])
    if total == 0:
        raise ValueError("cannot select slices from an empty volume")
    warnings: list[str] = []
    reliable = True
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        warnings.append(
            f"no slice has enough foreground (all {total} look like background): slices chosen evenly "
            "over the whole volume; the score is unreliable"
        )
        reliable = False
        idx = np.arange(total)
    if idx.size >= n:
        regions = np.array_split(idx, n)
        chosen = tuple(int(r[len(r) // 2]) for r in regions)
    else:
        picks = np.rint(np.linspace(0, idx.size - 1, n)).astype(int)
        chosen = tuple(int(idx[p]) for p in picks)
        if total > 1:
            warnings.append(
                f"only {idx.size} slice(s) with foreground: {n} salient slices repeat the nearest valid ones"
            )
    return chosen, tuple(warnings), reliable


def select_salient_slices(scan: Scan, spec: SalientSpec, is_ct: bool | None = None) -> SliceSelection:
    """Choose the slices of ``scan`` to score: ``spec.n_slices`` for volumes, ``[0]`` for 2D inputs."""
    if scan.dim == "2d" or scan.n_slices == 1:
        return SliceSelection(indices=(0,), axis=scan.axis, n_valid=1, n_total=scan.n_slices)
    step = spec.subsample
    stack = scan.slices
    # loaders' stacks read the subsampled slices cheaply (native DICOM: without decoding whole slices)
    sub = stack.preview(step) if hasattr(stack, "preview") else stack[:, ::step, ::step]
    preview = np.asarray(sub, dtype=np.float32)
    fractions = foreground_fractions(preview, spec, is_ct)
    valid = fractions >= spec.min_foreground_fraction
    indices, warnings, reliable = select_from_valid(valid, spec.n_slices)
    return SliceSelection(
        indices=indices,
        axis=scan.axis,
        n_valid=int(valid.sum()),
        n_total=scan.n_slices,
        warnings=warnings,
        reliable=reliable,
    )
