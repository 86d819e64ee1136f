"""MR degradations in k-space: field strength (SNR), motion ghosting, Gibbs ringing, undersampling, bias.

Field-strength law (stated assumption): ``SNR ∝ B0`` (linear, the usual approximation between 0.5 and 3 T;
it ignores the longer T1 and larger susceptibility effects at high field). Absolute anchor:
``SNR(B0) = SNR_AT_3T * B0 / 3 T`` where SNR is the mean foreground signal over the noise standard deviation
of one quadrature channel. The noise is complex Gaussian in k-space (orthonormal FFT, so the image-domain
standard deviation per channel equals the k-space one); the magnitude image is Rician, Rayleigh in the
background.

A source at field ``B_src`` with measured noise ``sigma_src`` (at least the law's value at ``B_src``) is
taken to ``B_tgt`` by adding only the difference: ``sigma_tgt = sigma_src * B_src / B_tgt`` and
``sigma_add^2 = sigma_tgt^2 - sigma_src^2``. A noise-free phantom gets ``sigma_tgt = S / SNR(B_tgt)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "REFERENCE_FIELD_T",
    "SNR_AT_3T",
    "estimate_noise_sigma",
    "mr_bias_field",
    "mr_field_strength",
    "mr_gibbs",
    "mr_motion",
    "mr_undersampling",
    "nominal_sigma",
    "signal_level",
]

REFERENCE_FIELD_T = 3.0
#: SNR of a structural scan at 3 T (mean foreground signal / noise sigma); an assumed anchor.
SNR_AT_3T = 40.0


def signal_level(images: np.ndarray) -> float:
    """Mean foreground signal ``S``: mean of voxels above ``0.2 * p99`` (the tissue, not the background)."""
    arr = np.asarray(images, dtype=np.float32)
    p99 = float(np.percentile(arr, 99.0))
    fg = arr[arr > 0.2 * p99]
    return float(fg.mean()) if fg.size else max(p99, 1e-6)


def nominal_sigma(signal: float, field_t: float) -> float:
    """Noise sigma of the law: ``S / (SNR_AT_3T * B0 / 3 T)`` (0 for an infinite field)."""
    if math.isinf(field_t):
        return 0.0
    return signal / (SNR_AT_3T * field_t / REFERENCE_FIELD_T)


def estimate_noise_sigma(images: np.ndarray) -> float:
    """Robust noise sigma of a magnitude image stack: ``median(|HH|) / 0.6745`` over the foreground.

    ``HH = (a - b - c + d) / 2`` is the Haar diagonal detail of each 2x2 block (Donoho's MAD estimator),
    restricted to blocks whose mean is above ``0.2 * p99`` so the zero background of masked or
    skull-stripped volumes does not pull the estimate to 0.
    """
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    h, w = (arr.shape[1] // 2) * 2, (arr.shape[2] // 2) * 2
    a, b = arr[:, 0:h:2, 0:w:2], arr[:, 0:h:2, 1:w:2]
    c, d = arr[:, 1:h:2, 0:w:2], arr[:, 1:h:2, 1:w:2]
    hh = (a - b - c + d) / 2.0
    mean = (a + b + c + d) / 4.0
    fg = mean > 0.2 * float(np.percentile(arr, 99.0))
    if not fg.any():
        return 0.0
    return float(np.median(np.abs(hh[fg])) / 0.6745)


def _kspace(images: np.ndarray) -> np.ndarray:
    return np.fft.fft2(images, norm="ortho")


def _image(kspace: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.ifft2(kspace, norm="ortho")).astype(np.float32)


def mr_field_strength(
    images: np.ndarray,
    field_t: float,
    rng: np.random.Generator,
    *,
    source_field_t: float = math.inf,
    source_sigma: float = 0.0,
    signal: float | None = None,
) -> np.ndarray:
    """Magnitude image at main field ``field_t`` (tesla), adding complex k-space noise.

    Args:
        images: ``[H, W]`` or ``[S, H, W]`` magnitude slices.
        field_t: target B0.
        rng: random generator.
        source_field_t: B0 of the source (``inf`` for a noise-free phantom).
        source_sigma: measured noise sigma of the source (see :func:`estimate_noise_sigma`).
        signal: foreground signal ``S`` (default: :func:`signal_level` of ``images``); pass the volume's
            value so all slices of a scan share it.
    """
    arr = np.asarray(images, dtype=np.float32)
    s = signal_level(arr) if signal is None else signal
    if math.isinf(source_field_t):
        sigma_tgt, sigma_src = nominal_sigma(s, field_t), 0.0
    else:
        sigma_src = max(nominal_sigma(s, source_field_t), source_sigma)
        sigma_tgt = sigma_src * source_field_t / field_t
    var_add = sigma_tgt**2 - sigma_src**2
    if var_add <= 0:
        return arr.copy()
    sigma = math.sqrt(var_add)
    k = _kspace(arr)
    k = k + (rng.normal(0.0, sigma, k.shape) + 1j * rng.normal(0.0, sigma, k.shape))
    return _image(k)


def mr_motion(
    images: np.ndarray, displacement_mm: float, rng: np.random.Generator, *, pixel_mm: float = 1.0
) -> np.ndarray:
    """Motion ghosting: phase-encode lines (axis -2) acquired with the object shifted.

    A random fraction (10-40 %) of lines, periodic or random, gets the phase ramp of a rigid shift of up to
    ``displacement_mm`` along both axes: ``K(ky, kx) *= exp(-2 pi i (ky dy + kx dx))``.
    """
    arr = np.asarray(images, dtype=np.float32)
    h, w = arr.shape[-2:]
    k = _kspace(arr)
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    fraction = rng.uniform(0.1, 0.4)
    if rng.random() < 0.5:  # periodic motion (breathing, pulsation) -> discrete ghosts
        period = int(rng.integers(3, 12))
        lines = np.flatnonzero((np.arange(h) % period) < max(1, round(period * fraction)))
    else:
        lines = np.flatnonzero(rng.random(h) < fraction)
    amp = displacement_mm / pixel_mm
    dy = rng.uniform(-1, 1, lines.size) * amp
    dx = rng.uniform(-1, 1, lines.size) * amp * 0.5
    ramp = np.exp(-2j * np.pi * (ky[lines] * dy[:, None] + kx * dx[:, None]))
    k[..., lines, :] *= ramp
    return _image(k)


def mr_gibbs(images: np.ndarray, matrix: int, rng: np.random.Generator) -> np.ndarray:
    """Truncation (Gibbs) ringing: keep the central ``matrix`` k-space lines and columns, zero-fill.

    ``rng`` is unused (the operation is deterministic) but kept for a uniform signature.
    """
    del rng
    arr = np.asarray(images, dtype=np.float32)
    h, w = arr.shape[-2:]
    k = np.fft.fftshift(_kspace(arr), axes=(-2, -1))
    keep_y, keep_x = min(matrix, h), min(matrix, w)
    mask = np.zeros((h, w), dtype=bool)
    y0, x0 = (h - keep_y) // 2, (w - keep_x) // 2
    mask[y0 : y0 + keep_y, x0 : x0 + keep_x] = True
    k = np.where(mask, k, 0)
    return _image(np.fft.ifftshift(k, axes=(-2, -1)))


def undersampling_mask(h: int, acceleration: float, rng: np.random.Generator) -> np.ndarray:
    """Phase-encode lines kept (``[h]`` bool, FFT order): the 8 % centre and, of the ``n`` other lines, the
    first ``round(n / R)`` of one random order drawn from ``rng``, so one draw's masks are nested in ``R``."""
    centre = np.abs(np.fft.fftfreq(h) * h) < 0.04 * h
    outer = np.flatnonzero(~centre)
    order = outer[rng.permutation(len(outer))]
    keep = centre.copy()
    keep[order[: round(len(outer) / max(float(acceleration), 1.0))]] = True
    return keep


def mr_undersampling(images: np.ndarray, acceleration: float, rng: np.random.Generator) -> np.ndarray:
    """Aliasing of a zero-filled reconstruction keeping the 8 % centre and a random ``1/R`` of the other
    phase-encode lines: ``x_R = |F^-1(M_R F x)|`` with the mask :func:`undersampling_mask`.

    ``R = acceleration``. For one draw a higher ``R`` keeps a subset of a lower one's lines and loses strictly
    more of the signal. (Until 2026-12-07 every ``R``-th line with a random offset: its coherent ghosts at
    ``FOV / R`` overlap more or less anatomy by chance, so R 3 was often labelled worse than R 4;
    ``bench/level_order.py``.)
    """
    arr = np.asarray(images, dtype=np.float32)
    keep = undersampling_mask(arr.shape[-2], acceleration, rng)
    k = _kspace(arr)
    k[..., ~keep, :] = 0
    return _image(k)


def mr_bias_field(images: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative bias (coil shading): ``x * exp(a * f)``, ``f`` a smooth field in [-1, 1].

    ``amplitude`` = peak-to-peak log-intensity variation ``2a`` (0.4 = about ±20 %).
    """
    arr = np.asarray(images, dtype=np.float32)
    h, w = arr.shape[-2:]
    coarse = rng.normal(size=(4, 4)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    ang = rng.uniform(0, 2 * np.pi)
    field = field + 2.0 * (np.cos(ang) * xx + np.sin(ang) * yy)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6) * 2.0 - 1.0
    return (arr * np.exp(amplitude / 2.0 * field)).astype(np.float32)
