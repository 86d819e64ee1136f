"""How grainy are the real CTs, and the CT phantoms with a noise floor? (the range of ``NOISE_FLOOR_HU``).

Run ``python bench/ct_noise_levels.py`` (about a minute). Noise is a robust in-plane estimate on every sixth
slice: ``sigma = 1.4826 MAD(x - median3x3(x)) / 0.85`` over soft tissue (-100..150 HU, eroded by 3 px), the
median over slices; for pure white noise the residual of a 3x3 median keeps about 0.85 of its std.
"""

from __future__ import annotations

import numpy as np
from mediqa_sdk.train.data.catalogue import real_sources
from mediqa_sdk.train.data.generator import load_real, make_phantom, with_noise_floor
from mediqa_sdk.train.data.splits import load_splits
from scipy.ndimage import binary_erosion, median_filter


def noise_hu(volume: np.ndarray) -> float:
    """Robust noise std (HU) of a CT volume ``[D, H, W]``; nan when no slice has enough soft tissue."""
    out = []
    for s in volume[:: max(1, volume.shape[0] // 6)]:
        resid = s - median_filter(s, 3)
        tissue = binary_erosion((s > -100) & (s < 150), iterations=3)
        if tissue.sum() > 500:
            r = resid[tissue]
            out.append(1.4826 * float(np.median(np.abs(r - np.median(r)))) / 0.85)
    return float(np.median(out)) if out else float("nan")


def main() -> None:
    splits = load_splits()
    print("split  source                   slices  dose mAs  noise HU")
    for src in real_sources():
        if src.modality == "ct":
            clean = load_real(src.source_id)
            dose = clean.physics.get("ct_dose", float("nan"))
            print(
                f"{splits.get(src.source_id, '-'):6s} {src.source_id:24s} {clean.volume.shape[0]:6d}  "
                f"{dose:8.0f}  {noise_hu(clean.volume):8.1f}"
            )
    print("\nphantom      floor asked (HU) -> estimated (HU), labelled dose (mAs)")
    for kind in ("ct_head", "ct_abdomen", "ct_chest"):
        src = make_phantom(kind, 100, 12)
        row = []
        for hu in (1.0, 3.0, 8.0):
            floored = with_noise_floor(src, hu, np.random.default_rng(0))
            row.append(f"{hu:g} -> {noise_hu(floored.volume):.1f}, {floored.physics['ct_dose']:.0f}")
        print(f"{kind:12s} " + ";  ".join(row))


if __name__ == "__main__":
    main()
