"""Labels of a sample: the physics targets (as data, one place) and the pseudo-MOS fidelity measure.

Physics (upstream) label = the physical parameter normalised to 0..1 by a stored mapping, so the runtime can
map a network output back to physical units. ``log`` mapping:
``norm = clip(log(x / lo) / log(hi / lo), 0, 1)``, ``x = lo * (hi / lo) ** norm``.

Pseudo-MOS (downstream default): the SSIM map of the degraded image against its clean source (both mapped to
0..1 in the scored window) averaged over the anatomy (a dilated foreground mask of the clean image), turned
into a distortion ``d = 1 - SSIM_mask`` and mapped through a per-family calibrated curve
``mos = exp(-(d / d0)^gamma)`` that puts each family's just-noticeable parameter at 0.9 and its clearly
non-diagnostic one at 0.3. A clean input scores exactly 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from mediqa_sdk.registry import ModelRecord, load_registry

__all__ = [
    "CALIBRATION",
    "CT_WINDOWS",
    "PHANTOM_CT_DOSE_MAS",
    "PHANTOM_MR_FIELD_T",
    "PHYSICS",
    "REAL_CT_DEFAULT_DOSE_MAS",
    "REAL_MR_DEFAULT_FIELD_T",
    "VOCAB",
    "Calibration",
    "PhysicsLabel",
    "calibration_for",
    "denormalise",
    "fidelity_loss",
    "foreground_mask",
    "mos_from_loss",
    "normalise",
    "pseudo_mos",
    "scored_unit",
    "ssim",
    "ssim_map",
]


@dataclass(frozen=True)
class PhysicsLabel:
    """One physical target: ``norm = clip(log(x / lo) / log(hi / lo), 0, 1)`` for ``mapping == "log"``."""

    name: str
    unit: str
    mapping: str
    lo: float
    hi: float
    modality: str
    description: str


def _scorer_record() -> ModelRecord:
    """The registry's default scorer: the one source of physics mappings, CT windows and vocabulary."""
    return load_registry().get(None, "scorer")


PHYSICS: dict[str, PhysicsLabel] = {
    p.name: PhysicsLabel(p.name, p.unit, p.mapping, p.lo, p.hi, p.modality, p.description)
    for p in _scorer_record().physics
}

#: Dose assumed for a real CT source whose header has no Exposure (mAs).
REAL_CT_DEFAULT_DOSE_MAS = 200.0
#: Noise-free CT phantoms are labelled as full dose.
PHANTOM_CT_DOSE_MAS = 500.0
#: Field strength assumed for a real MR source whose header has none.
REAL_MR_DEFAULT_FIELD_T = 3.0
#: Noise-free MR phantoms are labelled as the top of the field-strength scale.
PHANTOM_MR_FIELD_T = 7.0

#: CT display windows (center, width) in HU, by prompt type (from the registry).
CT_WINDOWS: dict[str, tuple[float, float]] = dict(_scorer_record().preprocess.ct_windows)

#: Prompt vocabulary (from the registry).
VOCAB: dict[str, tuple[str, ...]] = {
    key: getattr(_scorer_record().vocabulary, key) for key in ("dim", "modality", "region", "type")
}


def normalise(name: str, value: float) -> float:
    """Physical value -> 0..1 with the mapping of ``PHYSICS[name]``."""
    spec = PHYSICS[name]
    if spec.mapping != "log":
        raise ValueError(f"unknown mapping {spec.mapping!r} for {name}")
    norm = math.log(max(value, 1e-12) / spec.lo) / math.log(spec.hi / spec.lo)
    return float(min(max(norm, 0.0), 1.0))


def denormalise(name: str, norm: float) -> float:
    """0..1 -> physical value: ``lo * (hi / lo) ** norm``."""
    spec = PHYSICS[name]
    return float(spec.lo * (spec.hi / spec.lo) ** norm)


def scored_unit(image: np.ndarray, modality: str, type_: str, reference: np.ndarray) -> np.ndarray:
    """Map an image to 0..1 in the scored window.

    CT: the display window of ``type_``; MR: the reference's robust range p0.5..p99.5 (the same bounds for
    clean and degraded); fundus: luminance ``(0.299 R + 0.587 G + 0.114 B) / 255``.
    """
    if modality == "ct":
        center, width = CT_WINDOWS[type_]
        return np.clip((image - (center - width / 2.0)) / width, 0.0, 1.0).astype(np.float32)
    if modality == "mr":
        lo, hi = np.percentile(reference, [0.5, 99.5])
        return np.clip((image - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
    lum = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
    return np.clip(lum / 255.0, 0.0, 1.0).astype(np.float32)


def ssim_map(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """SSIM map (Wang et al. 2004, Gaussian window sigma 1.5, K1 0.01, K2 0.03, data range 1).

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``.
    """
    c1, c2 = 0.01**2, 0.03**2
    x = x.astype(np.float32)
    y = y.astype(np.float32)

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return num / den


def ssim(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> float:
    """Mean of :func:`ssim_map` over the whole image."""
    return float(np.mean(ssim_map(x, y, sigma)))


#: Foreground rule: CT body above this HU; MR above this fraction of the clean p99; fundus luminance above
#: this grey level (illuminated field). Holes are filled, then the mask is dilated by ``MASK_DILATION_PX``.
CT_BODY_HU = -500.0
MR_FOREGROUND_FRACTION = 0.1
FUNDUS_FIELD_GREY = 15.0
MASK_DILATION_PX = 4
_DISC = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1, 2 * MASK_DILATION_PX + 1))


def foreground_mask(clean: np.ndarray, modality: str) -> np.ndarray:
    """Anatomy mask of one clean slice/photo: threshold, fill holes (lungs, ventricles), dilate 4 px.

    CT: ``HU > -500``; MR: ``x > 0.1 * p99(x)``; fundus: luminance ``> 15`` grey levels. A mask covering
    less than 1 % of the image falls back to the whole image.
    """
    if modality == "ct":
        mask = clean > CT_BODY_HU
    elif modality == "mr":
        mask = clean > MR_FOREGROUND_FRACTION * float(np.percentile(clean, 99.0))
    else:
        lum = clean[..., 0] * 0.299 + clean[..., 1] * 0.587 + clean[..., 2] * 0.114
        mask = lum > FUNDUS_FIELD_GREY
    mask = binary_fill_holes(mask)
    mask = cv2.dilate(mask.astype(np.uint8), _DISC) > 0
    return mask if mask.mean() >= 0.01 else np.ones_like(mask)


def fidelity_loss(
    degraded: np.ndarray, clean: np.ndarray, modality: str, type_: str, *, is_stack: bool = False
) -> float:
    """Distortion ``d = 1 - mean(SSIM map over the foreground mask of the clean image)``, in [0, 2].

    Both images are mapped to 0..1 in the scored window (:func:`scored_unit`); for a stack the masked
    pixels of all slices are pooled. ``d = 0`` for identical images.
    """
    pairs = zip(degraded, clean, strict=True) if is_stack else [(degraded, clean)]
    total, count = 0.0, 0
    for d, c in pairs:
        smap = ssim_map(scored_unit(d, modality, type_, c), scored_unit(c, modality, type_, c))
        mask = foreground_mask(c, modality)
        total += float(smap[mask].sum())
        count += int(mask.sum())
    return float(max(1.0 - total / max(count, 1), 0.0))


@dataclass(frozen=True)
class Calibration:
    """Anchors of one family: ``d_jnd`` (distortion at a just-noticeable parameter ``p_jnd``, maps to
    ``MOS_JND``) and ``d_nd`` (at a clearly non-diagnostic ``p_nd``, maps to ``MOS_ND``); medians over the
    calibration sources (``python -m mediqa_sdk.train.data.calibrate``)."""

    p_jnd: float
    p_nd: float
    d_jnd: float
    d_nd: float


MOS_JND = 0.9
MOS_ND = 0.3

#: family -> anchors. Regenerate with ``python -m mediqa_sdk.train.data.calibrate`` (prints this table).
CALIBRATION: dict[str, Calibration] = {
    # BEGIN CALIBRATION
    "ct_dose": Calibration(100, 10, 0.02197, 0.1636),
    "ct_dose:lung_window": Calibration(100, 10, 0.007316, 0.08816),
    "ct_dose:soft_window": Calibration(100, 10, 0.07376, 0.4111),
    "ct_dose:bone_window": Calibration(100, 10, 0.002547, 0.04454),
    "ct_dose:brain_window": Calibration(100, 10, 0.09615, 0.4454),
    "ct_sparse_views": Calibration(100, 30, 0.1025, 0.3963),
    "ct_sparse_views:lung_window": Calibration(100, 30, 0.06074, 0.3479),
    "ct_sparse_views:soft_window": Calibration(100, 30, 0.1391, 0.4519),
    "ct_sparse_views:bone_window": Calibration(100, 30, 0.007667, 0.08501),
    "ct_sparse_views:brain_window": Calibration(100, 30, 0.3007, 0.6857),
    "ct_motion": Calibration(1, 6, 0.02602, 0.2932),
    "ct_motion:lung_window": Calibration(1, 6, 0.006136, 0.1943),
    "ct_motion:soft_window": Calibration(1, 6, 0.03044, 0.2964),
    "ct_motion:bone_window": Calibration(1, 6, 0.01058, 0.2687),
    "ct_motion:brain_window": Calibration(1, 6, 0.1386, 0.4903),
    "ct_slice_thickness": Calibration(6, 15, 0.04736, 0.1223),
    "ct_slice_thickness:lung_window": Calibration(6, 15, 0.01891, 0.06633),
    "ct_slice_thickness:soft_window": Calibration(6, 15, 0.04346, 0.1044),
    "ct_slice_thickness:bone_window": Calibration(6, 15, 0.0394, 0.1476),
    "ct_slice_thickness:brain_window": Calibration(6, 15, 0.1577, 0.3162),
    "ct_resolution": Calibration(1.5, 5, 0.01671, 0.3175),
    "ct_resolution:lung_window": Calibration(1.5, 5, 0.00156, 0.1318),
    "ct_resolution:soft_window": Calibration(1.5, 5, 0.008004, 0.3455),
    "ct_resolution:bone_window": Calibration(1.5, 5, 0.01314, 0.1769),
    "ct_resolution:brain_window": Calibration(1.5, 5, 0.1459, 0.4373),
    "mr_field_strength": Calibration(2, 0.3, 0.07045, 0.6918),
    "mr_motion": Calibration(1, 6, 0.04655, 0.2425),
    "mr_gibbs": Calibration(160, 48, 0.01208, 0.2961),
    "mr_undersampling": Calibration(2, 5, 0.2323, 0.2936),
    "mr_bias_field": Calibration(0.4, 2.4, 0.009429, 0.05247),
    "fundus_defocus": Calibration(1, 5, 0.02246, 0.2115),
    "fundus_motion_blur": Calibration(3, 14, 0.0286, 0.2048),
    "fundus_illumination": Calibration(0.3, 0.95, 0.00725, 0.1344),
    "fundus_exposure": Calibration(-0.7, -2.5, 0.03123, 0.2967),
    "fundus_haze": Calibration(0.15, 0.7, 0.02486, 0.2552),
    "fundus_jpeg": Calibration(40, 6, 0.07591, 0.2463),
    "fundus_noise": Calibration(4, 20, 0.04729, 0.4678),
    # END CALIBRATION
}


def _curve(d_jnd: float, d_nd: float) -> tuple[float, float]:
    """``(d0, gamma)`` of ``mos = exp(-(d / d0)^gamma)`` through ``(d_jnd, 0.9)`` and ``(d_nd, 0.3)``."""
    a_j, a_n = -math.log(MOS_JND), -math.log(MOS_ND)
    d_jnd = max(d_jnd, 1e-6)
    d_nd = max(d_nd, d_jnd * 1.5)
    gamma = math.log(a_n / a_j) / math.log(d_nd / d_jnd)
    return d_jnd / a_j ** (1.0 / gamma), gamma


def calibration_for(
    modality: str, family: str | Mapping[str, float] | None, type_: str | None = None
) -> tuple[float, float]:
    """Anchors ``(d_jnd, d_nd)`` for a family, a weighted mix of families, or ``None``.

    A family's entry for the prompt type (``"ct_dose:soft_window"``, CT windows) is used when present,
    else the family's. A mix (a sample with two degradations, each weighted by its share of the
    distortion) and ``None`` (every family of the modality, equally) take the weighted geometric mean.
    """
    if family is None:
        mix: Mapping[str, float] = {
            f: 1.0 for f in CALIBRATION if f.startswith(modality + "_") and ":" not in f
        }
    elif isinstance(family, str):
        mix = {family: 1.0}
    else:
        mix = family
    anchors = []
    for name, weight in mix.items():
        cal = CALIBRATION.get(f"{name}:{type_}") or CALIBRATION.get(name)
        if cal is not None and weight > 0:
            anchors.append((weight, cal))
    if not anchors:
        return 0.05, 0.4
    total = sum(w for w, _ in anchors)
    log_j = sum(w * math.log(max(c.d_jnd, 1e-6)) for w, c in anchors) / total
    log_n = sum(w * math.log(max(c.d_nd, 1e-6)) for w, c in anchors) / total
    return math.exp(log_j), math.exp(log_n)


def mos_from_loss(d: float, d_jnd: float, d_nd: float) -> float:
    """``mos = exp(-(d / d0)^gamma)``, with ``d0``, ``gamma`` such that ``d_jnd -> 0.9``, ``d_nd -> 0.3``.

    1.0 at ``d = 0``, strictly decreasing in ``d``.
    """
    if d <= 0:
        return 1.0
    d0, gamma = _curve(d_jnd, d_nd)
    return float(math.exp(-((d / d0) ** gamma)))


def pseudo_mos(
    degraded: np.ndarray,
    clean: np.ndarray,
    modality: str,
    type_: str,
    *,
    is_stack: bool = False,
    family: str | Mapping[str, float] | None = None,
) -> float:
    """Pseudo-MOS in 0..1: the masked SSIM distortion mapped through the family's calibrated curve.

    ``d = 1 - mean_{mask} SSIM(window(degraded), window(clean))`` (:func:`fidelity_loss`), then
    ``mos = exp(-(d / d0)^gamma)`` with ``(d0, gamma)`` from the family's anchors so that its
    just-noticeable parameter scores 0.9 and its non-diagnostic one 0.3 (:data:`CALIBRATION`).
    A clean input scores exactly 1.0.

    Args:
        degraded: the degraded image (or ``[S, H, W(, 3)]`` stack when ``is_stack``), physical units.
        clean: its clean source, same shape.
        modality: ``ct``, ``mr`` or ``fundus``.
        type_: prompt type (selects the CT window).
        is_stack: pool the masked SSIM over axis 0 (3D samples).
        family: degradation family (its calibration), ``{family: weight}`` for a mix, or ``None`` for the
            modality's average curve.
    """
    if np.array_equal(degraded, clean):
        return 1.0
    d = fidelity_loss(degraded, clean, modality, type_, is_stack=is_stack)
    return mos_from_loss(d, *calibration_for(modality, family, type_))
