"""The degradation families as data: parameter, unit, sampling range, severity direction, physics target."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import ct, fundus, mr

__all__ = ["FAMILIES", "Context", "Degradation", "apply_degradation", "sample_param"]


@dataclass(frozen=True)
class Context:
    """Facts about the clean source a degradation may need (physical units)."""

    pixel_mm: float = 1.5
    source_dose_mas: float = math.inf
    source_field_t: float = math.inf
    source_sigma: float = 0.0
    signal: float | None = None
    spacing_z_mm: float = 3.0
    thickness_mm: float = 3.0


@dataclass(frozen=True)
class Degradation:
    """One family. ``worse``: ``"low"`` if a smaller parameter is worse, ``"high"`` if larger, ``"abs"`` if
    farther from zero. ``physics``: the physics target the parameter *is* (else the source's label stays).
    ``volume``: applied to the whole volume before slices are taken (through-plane effects).
    ``stage``: order when two families are combined (0 volume, 1 object/optics, 2 acquisition noise,
    3 reconstruction/encoding), lowest first. ``opt_in``: drawn only when a stream asks for it (a training
    option), and not one of the held-out benchmark's families."""

    name: str
    modality: str
    param: str
    unit: str
    lo: float
    hi: float
    scale: str
    worse: str
    physics: str | None = None
    volume: bool = False
    stage: int = 1
    opt_in: bool = False


FAMILIES: dict[str, Degradation] = {
    d.name: d
    for d in (
        Degradation("ct_dose", "ct", "dose", "mAs", 5.0, 500.0, "log", "low", physics="ct_dose", stage=2),
        Degradation("ct_sparse_views", "ct", "views", "views/180deg", 24.0, 120.0, "log", "low", stage=3),
        Degradation("ct_motion", "ct", "displacement", "mm", 1.0, 10.0, "log", "high"),
        Degradation(
            "ct_slice_thickness", "ct", "thickness", "mm", 3.0, 12.0, "linear", "high", volume=True, stage=0
        ),
        Degradation("ct_resolution", "ct", "fwhm", "mm", 1.0, 6.0, "log", "high", stage=3, opt_in=True),
        Degradation(
            "mr_field_strength",
            "mr",
            "field",
            "T",
            0.1,
            7.0,
            "log",
            "low",
            physics="mr_field_strength",
            stage=2,
        ),
        Degradation("mr_motion", "mr", "displacement", "mm", 0.5, 8.0, "log", "high"),
        Degradation("mr_gibbs", "mr", "matrix", "lines", 40.0, 160.0, "log", "low", stage=3),
        Degradation("mr_undersampling", "mr", "acceleration", "R", 2.0, 6.0, "linear", "high", stage=3),
        Degradation("mr_bias_field", "mr", "amplitude", "log-intensity p-p", 0.2, 1.2, "linear", "high"),
        Degradation("fundus_defocus", "fundus", "radius", "px", 0.7, 6.0, "log", "high"),
        Degradation("fundus_motion_blur", "fundus", "length", "px", 2.0, 16.0, "log", "high"),
        Degradation("fundus_illumination", "fundus", "amplitude", "fraction", 0.2, 0.9, "linear", "high"),
        Degradation("fundus_exposure", "fundus", "exposure", "EV", -3.0, 2.0, "linear", "abs"),
        Degradation("fundus_haze", "fundus", "veil", "fraction", 0.1, 0.8, "linear", "high"),
        Degradation("fundus_jpeg", "fundus", "quality", "JPEG quality", 4.0, 60.0, "log", "low", stage=3),
        Degradation("fundus_noise", "fundus", "sigma", "grey levels", 2.0, 25.0, "log", "high", stage=2),
    )
}


def sample_param(family: Degradation, rng: np.random.Generator, ctx: Context) -> float:
    """Draw a parameter (log- or linearly uniform); the physics ones stay below the source's value."""
    lo, hi = family.lo, family.hi
    if family.name == "ct_dose" and math.isfinite(ctx.source_dose_mas):
        hi = min(hi, ctx.source_dose_mas)
    if family.name == "mr_field_strength" and math.isfinite(ctx.source_field_t):
        hi = min(hi, ctx.source_field_t)
    if family.name == "ct_slice_thickness":
        lo = max(lo, ctx.thickness_mm + 1.0)
        hi = max(hi, lo + 1.0)
    if family.worse == "abs":  # e.g. exposure: keep away from 0
        return float(rng.uniform(0.3, 1.0)) * (lo if rng.random() < 0.6 else hi)
    if family.scale == "log":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def apply_degradation(
    name: str, images: np.ndarray, param: float, rng: np.random.Generator, ctx: Context
) -> np.ndarray:
    """Apply family ``name`` with ``param`` to ``images`` (``[S, H, W]``, or ``[S, H, W, 3]`` for fundus).

    For ``volume`` families ``images`` is the whole volume (axis 0 through-plane).
    """
    if name == "ct_dose":
        return ct.ct_dose(
            images,
            param,
            rng,
            source_dose_mas=ctx.source_dose_mas,
            pixel_mm=ctx.pixel_mm,
            thickness_mm=ctx.thickness_mm,
        )
    if name == "ct_sparse_views":
        return ct.ct_sparse_views(images, round(param), rng)
    if name == "ct_motion":
        return ct.ct_motion(images, param, rng, pixel_mm=ctx.pixel_mm)
    if name == "ct_resolution":
        return ct.ct_resolution(images, param, pixel_mm=ctx.pixel_mm)
    if name == "ct_slice_thickness":
        return ct.ct_slice_thickness(
            images, param, spacing_mm=ctx.spacing_z_mm, source_thickness_mm=ctx.thickness_mm
        )
    if name == "mr_field_strength":
        return mr.mr_field_strength(
            images,
            param,
            rng,
            source_field_t=ctx.source_field_t,
            source_sigma=ctx.source_sigma,
            signal=ctx.signal,
        )
    if name == "mr_motion":
        return mr.mr_motion(images, param, rng, pixel_mm=ctx.pixel_mm)
    if name == "mr_gibbs":
        return mr.mr_gibbs(images, round(param), rng)
    if name == "mr_undersampling":
        return mr.mr_undersampling(images, param, rng)
    if name == "mr_bias_field":
        return mr.mr_bias_field(images, param, rng)
    funcs = {
        "fundus_defocus": fundus.fundus_defocus,
        "fundus_motion_blur": fundus.fundus_motion_blur,
        "fundus_illumination": fundus.fundus_illumination,
        "fundus_exposure": fundus.fundus_exposure,
        "fundus_haze": fundus.fundus_haze,
        "fundus_jpeg": fundus.fundus_jpeg,
        "fundus_noise": fundus.fundus_noise,
    }
    if name in funcs:
        return np.stack([funcs[name](img, param, rng) for img in images])
    raise KeyError(f"unknown degradation {name!r}; known: {', '.join(FAMILIES)}")
