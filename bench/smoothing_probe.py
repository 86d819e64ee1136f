"""Does the scorer reward in-plane smoothing of a real CT? (the reason slice thickness runs backwards).

Run ``python bench/smoothing_probe.py`` (``--split test``, the default scorer; under a minute). For each real
3D CT of the split, the clean version of the held-out benchmark (7 salient slices with their neighbours,
:func:`mediqa_sdk.export.heldout.heldout_series`) is blurred slice by slice with a Gaussian of each
``--sigmas`` (pixels of the 256-pixel slices) and scored through the runtime on the same slices. A scorer
that reads quality from anatomy should not rise with the blur; one that reads "less grain = better" does.
"""

from __future__ import annotations

import argparse

import numpy as np
from mediqa_sdk.export.heldout import heldout_series, middle_slices, sample_volume
from scipy.ndimage import gaussian_filter

from mediqa_sdk import Assessor


def probe(split: str, sigmas: list[float], model: str | None = None) -> dict[str, list[float]]:
    """``source_id -> [score at sigma 0, score at each of sigmas]`` for the real 3D CTs of ``split``."""
    assessor = Assessor(model, device="cpu")
    out: dict[str, list[float]] = {}
    for v in heldout_series(split, 0, ("ct",)):
        if v.dim != "3d" or v.severity or v.source_id in out:
            continue
        volume, chosen = sample_volume(v.sample), middle_slices(len(v.sample.image))
        blurred = [volume] + [np.stack([gaussian_filter(s, sigma) for s in volume]) for sigma in sigmas]
        out[v.source_id] = [
            round(assessor.score_slices(b.astype(np.float32), chosen, **v.prompts).score, 4) for b in blurred
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.6, 1.0, 1.5])
    parser.add_argument("--model", default=None, help="Scorer name (default: the registry's default).")
    args = parser.parse_args()
    print("source                 sigma 0  " + "  ".join(f"sigma {s:<4g}" for s in args.sigmas))
    for source, scores in probe(args.split, args.sigmas, args.model).items():
        print(f"{source:22s} " + "  ".join(f"{s:8.4f}" for s in scores))


if __name__ == "__main__":
    main()
