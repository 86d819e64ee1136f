"""Calibrate the pseudo-MOS curves: measure the masked-SSIM distortion at each family's anchor parameters.

Each family has two anchor parameters, chosen by hand and written down here: ``p_jnd``, a degradation a
reader would just notice (maps to pseudo-MOS 0.9), and ``p_nd``, one that makes the image clearly
non-diagnostic (maps to 0.3). The distortion ``d`` (:func:`labels.fidelity_loss`) at each anchor is the
median over calibration sources (phantoms of fixed test-range seeds in every prompt type, plus the real
scans present, two slices each; for a volume family such as slice thickness, the 7-slice stack the engine
labels, since it is only drawn for 3D samples); CT families get one entry per display window as well.
``python -m mediqa_sdk.train.data.calibrate [--write] [--family NAME ...]`` prints the table (``--write``:
also into ``labels.py``; ``--family``: only those families' entries).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from . import labels
from .catalogue import real_sources
from .degrade.registry import FAMILIES
from .generator import CleanSource, load_real, make_phantom, make_sample, select_slices

__all__ = ["ANCHORS", "measure"]

#: family -> (just-noticeable parameter, clearly non-diagnostic parameter), in the family's unit.
ANCHORS: dict[str, tuple[float, float]] = {
    "ct_dose": (100.0, 10.0),  # noise ~16 HU -> ~50 HU (1.5 mm pixels, 5 mm slices, 32 cm water)
    "ct_sparse_views": (100.0, 30.0),
    "ct_motion": (1.0, 6.0),
    "ct_slice_thickness": (6.0, 15.0),
    "ct_resolution": (1.5, 5.0),  # in-plane PSF FWHM (mm): about one 1.5 mm pixel -> over three
    "mr_field_strength": (2.0, 0.3),  # SNR 27 -> 4 (law SNR 40 at 3 T)
    "mr_motion": (1.0, 6.0),
    "mr_gibbs": (160.0, 48.0),
    "mr_undersampling": (2.0, 5.0),
    "mr_bias_field": (0.4, 2.4),  # coil shading is rarely non-diagnostic: a far anchor
    "fundus_defocus": (1.0, 5.0),
    "fundus_motion_blur": (3.0, 14.0),
    "fundus_illumination": (0.3, 0.95),
    "fundus_exposure": (-0.7, -2.5),
    "fundus_haze": (0.15, 0.7),
    "fundus_jpeg": (40.0, 6.0),
    "fundus_noise": (4.0, 20.0),
}
_PHANTOMS = {
    "ct": ("ct_chest", "ct_abdomen", "ct_head"),
    "mr": ("mr_brain", "mr_breast"),
    "fundus": ("fundus",),
}
_SEEDS = (990_001, 990_002, 990_003)


def _sources(modality: str) -> list[CleanSource]:
    out = [make_phantom(kind, seed, 24) for kind in _PHANTOMS[modality] for seed in _SEEDS]
    for src in real_sources():
        if src.modality == modality:
            try:
                out.append(load_real(src.source_id))
            except (OSError, ValueError, StopIteration):
                continue
    return out


def measure(family: str, sources: list[CleanSource]) -> dict[str, tuple[float, float]]:
    """Median distortion of ``family`` at its two anchors over ``sources`` (two slices each).

    Returns ``{key: (d_jnd, d_nd)}`` with ``key`` = the family, and for CT also ``family:type`` per
    display window (a window's width changes what SSIM sees tenfold: lung vs. brain).
    """
    results: dict[str, list[list[float]]] = {}
    volume = FAMILIES[family].volume
    for src in sources:
        if volume and src.volume.shape[0] < 3:
            continue
        if volume:  # drawn for 3D samples only: measured on the stack the engine labels
            views = [select_slices(src.valid, "3d", np.random.default_rng(0))]
        else:
            valid = np.flatnonzero(src.valid) if src.valid.any() else np.arange(src.volume.shape[0])
            views = [(i,) for i in sorted({int(valid[len(valid) // 3]), int(valid[(2 * len(valid)) // 3])})]
        for type_ in sorted(set(src.types)):
            keys = [family] + ([f"{family}:{type_}"] if src.modality == "ct" else [])
            for indices in views:
                for k, param in enumerate(ANCHORS[family]):
                    s = make_sample(
                        src,
                        "3d" if volume else "2d",
                        family,
                        np.random.default_rng(k),
                        param=param,
                        type_=type_,
                        indices=indices,
                    )
                    d = labels.fidelity_loss(s.image, s.clean, src.modality, type_, is_stack=volume)
                    for key in keys:
                        results.setdefault(key, [[], []])[k].append(d)
    return {key: (float(np.median(a)), float(np.median(b))) for key, (a, b) in results.items()}


def _table(values: dict[str, tuple[float, float]]) -> str:
    lines = []
    for key, (d_jnd, d_nd) in values.items():
        p_jnd, p_nd = ANCHORS[key.split(":")[0]]
        lines.append(f'    "{key}": Calibration({p_jnd:g}, {p_nd:g}, {d_jnd:.4g}, {d_nd:.4g}),')
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Measure every family (or those after ``--family``) and print (``--write``: also store) the table."""
    only = [a for a, prev in zip(argv, ["", *argv][:-1], strict=True) if prev == "--family"]
    if unknown := set(only) - set(ANCHORS):
        sys.exit(f"error: no anchors for {', '.join(sorted(unknown))}; known: {', '.join(ANCHORS)}")
    values: dict[str, tuple[float, float]] = {}
    cache: dict[str, list[CleanSource]] = {}
    for family in only or ANCHORS:
        modality = FAMILIES[family].modality
        for key, (d_jnd, d_nd) in measure(family, cache.setdefault(modality, _sources(modality))).items():
            if not d_nd > d_jnd:
                raise RuntimeError(f"{key}: anchors not ordered (d_jnd {d_jnd:.4g}, d_nd {d_nd:.4g})")
            values[key] = (d_jnd, d_nd)
    table = _table(values)
    sys.stdout.write(table + "\n")
    if "--write" in argv:
        path = Path(labels.__file__)
        text = path.read_text()
        if only:  # replace those entries in place, keep the others
            for line in table.splitlines():
                key = line.split('"')[1]
                text = re.sub(rf'^    "{re.escape(key)}": Calibration\(.*\),$', line, text, flags=re.M)
        else:
            text = re.sub(
                r"(    # BEGIN CALIBRATION\n).*?(    # END CALIBRATION)",
                lambda m: m.group(1) + table + "\n" + m.group(2),
                text,
                flags=re.S,
            )
        path.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
