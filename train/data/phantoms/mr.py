"""MR phantoms: brain (T1, T2, FLAIR, PD) and breast (T1, T2), from tissue maps and signal equations.

Signal of a tissue with proton density ``PD``, relaxation times ``T1``, ``T2`` (ms, about 1.5-3 T):
spin echo ``S = PD (1 - exp(-TR/T1)) exp(-TE/T2)``; FLAIR (inversion recovery)
``S = PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``. Values are scaled to about 0..1000 (arbitrary
MR units), noise-free (labelled as the top of the field-strength scale).
"""

from __future__ import annotations

import numpy as np

from ._common import Grid, Phantom, partial_volume, smooth_noise
from .ct import head_labels

__all__ = ["SEQUENCES", "TISSUES", "mr_brain", "mr_breast", "signal"]

#: tissue -> (PD, T1 ms, T2 ms)
TISSUES: dict[str, tuple[float, float, float]] = {
    "air": (0.0, 1000.0, 1.0),
    "scalp": (0.8, 900.0, 60.0),
    "bone": (0.05, 500.0, 1.0),
    "csf": (1.0, 4000.0, 2000.0),
    "grey": (0.85, 1300.0, 100.0),
    "white": (0.7, 800.0, 80.0),
    "lesion": (0.85, 1400.0, 180.0),
    "fat": (0.9, 300.0, 80.0),
    "marrow": (0.6, 350.0, 60.0),
    "gland": (0.8, 1200.0, 50.0),
    "muscle": (0.75, 1100.0, 40.0),
    "blood": (0.9, 1600.0, 200.0),
}
#: sequence -> (TR, TE, TI or 0) in ms
SEQUENCES: dict[str, tuple[float, float, float]] = {
    "t1": (500.0, 10.0, 0.0),
    "t2": (4000.0, 100.0, 0.0),
    "pd": (3000.0, 15.0, 0.0),
    "flair": (9000.0, 120.0, 2500.0),
}

_HEAD_ORDER = ("air", "scalp", "bone", "csf", "grey", "white", "lesion", "fat", "marrow")


def signal(tissue: str, sequence: str) -> float:
    """Signal equation of ``sequence`` for ``tissue`` (see module docstring)."""
    pd, t1, t2 = TISSUES[tissue]
    tr, te, ti = SEQUENCES[sequence]
    if ti:
        return float(pd * abs(1 - 2 * np.exp(-ti / t1) + np.exp(-tr / t1)) * np.exp(-te / t2))
    return float(pd * (1 - np.exp(-tr / t1)) * np.exp(-te / t2))


def _scale(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p99 = float(np.percentile(img, 99.5))
    return (img / max(p99, 1e-6) * rng.uniform(500, 1500)).astype(np.float32)


def mr_brain(seed: int, n_slices: int = 24, sequence: str | None = None) -> Phantom:
    """Brain MR: scalp, skull, CSF, grey and white matter, ventricles, lesions; T1, T2, FLAIR or PD."""
    rng = np.random.default_rng(seed)
    seq = sequence or str(rng.choice(["t1", "t2", "flair", "pd"]))
    px = rng.uniform(220, 250) / 256
    g = Grid((n_slices, 256, 256), (float(rng.choice([3.0, 4.0, 5.0])), px, px))
    lab, tex = head_labels(g, rng)
    table = np.array([signal(t, seq) for t in _HEAD_ORDER], dtype=np.float32)
    img = table[lab] * (1 + 0.03 * tex)
    img = partial_volume(img, 0.8)
    return Phantom(_scale(img, rng), g.spacing, "mr", "head", (seq,), {"sequence": seq})


def mr_breast(seed: int, n_slices: int = 24, sequence: str | None = None) -> Phantom:
    """Breast MR (prone, axial, anterior up): two breasts of fat and fibroglandular tissue, chest wall."""
    rng = np.random.default_rng(seed)
    seq = sequence or str(rng.choice(["t1", "t2"]))
    px = rng.uniform(320, 380) / 256
    g = Grid((n_slices, 256, 256), (float(rng.choice([2.0, 3.0, 4.0])), px, px))
    tex = smooth_noise(g.shape, 4, rng)
    glandular = smooth_noise(g.shape, 6, rng)
    lab = np.zeros(g.shape, dtype=np.uint8)  # 0 air, 1 fat, 2 gland, 3 muscle, 4 lung(air), 5 blood, 6 skin
    chest_y = rng.uniform(10, 35)
    torso = g.ellipsoid(0, chest_y + 80, 160, 100) < 1
    lab[torso] = 1
    lab[(g.ellipsoid(0, chest_y + 90, 140, 85) < 1)] = 3  # pectoral / chest wall muscle
    lab[(g.ellipsoid(0, chest_y + 100, 125, 72) < 1)] = 4  # lungs and mediastinum
    lab[(g.ellipsoid(-15, chest_y + 75, 45, 35) < 1)] = 5  # heart
    for side in (-1, 1):
        r = rng.uniform(55, 80)
        breast = g.ellipsoid(side * rng.uniform(60, 75), chest_y, r, r * rng.uniform(0.9, 1.2), rz=90)
        breast = (breast < 1) & (g.y < chest_y + 10)
        lab[breast & (lab == 0)] = 1
        depth = g.ellipsoid(side * 68, chest_y, r * 0.8, r * 0.9, rz=80)
        gland = breast & (glandular > rng.uniform(-0.2, 0.7)) & (depth < 0.95)
        lab[gland & (lab == 1)] = 2
    body = lab > 0
    edge = body & ~(partial_volume(body.astype(np.float32), 1.0) > 0.9)
    lab[edge & (lab == 1)] = 6
    names = ("air", "fat", "gland", "muscle", "air", "blood", "scalp")
    table = np.array([signal(t, seq) for t in names], dtype=np.float32)
    img = table[lab] * (1 + 0.04 * tex)
    img = partial_volume(img, 0.7)
    return Phantom(_scale(img, rng), g.spacing, "mr", "breast", (seq,), {"sequence": seq})
