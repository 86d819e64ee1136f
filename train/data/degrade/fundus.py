"""Fundus photo degradations on RGB images in 0..255 (float32 ``[H, W, 3]``), each seeded and pure.

Parameters are in the units a photographer would use at the working resolution (about 256 px across
the field): blur radius / length in pixels, exposure in stops (EV), veil strength as a fraction of the
scene radiance, JPEG quality, sensor noise in 8-bit grey levels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "fundus_defocus",
    "fundus_exposure",
    "fundus_haze",
    "fundus_illumination",
    "fundus_jpeg",
    "fundus_motion_blur",
    "fundus_noise",
]


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 255).astype(np.float32)


def fundus_defocus(image: np.ndarray, radius_px: float, rng: np.random.Generator) -> np.ndarray:
    """Defocus: convolution with a uniform disc (pillbox) of ``radius_px``; ``rng`` unused."""
    del rng
    if radius_px <= 0.25:
        return np.asarray(image, dtype=np.float32).copy()
    r = math.ceil(radius_px)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = np.clip(radius_px + 0.5 - np.hypot(yy, xx), 0.0, 1.0).astype(np.float32)
    kernel /= kernel.sum()
    return _u8(cv2.filter2D(np.asarray(image, dtype=np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT))


def fundus_motion_blur(image: np.ndarray, length_px: float, rng: np.random.Generator) -> np.ndarray:
    """Linear motion blur of ``length_px`` at a random angle (eye movement during exposure)."""
    if length_px < 1:
        return np.asarray(image, dtype=np.float32).copy()
    size = math.ceil(length_px) | 1
    kernel = np.zeros((size, size), dtype=np.float32)
    kernel[size // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (size, size)).astype(np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return _u8(cv2.filter2D(np.asarray(image, dtype=np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT))


def fundus_illumination(image: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination: ``x * (1 + a * g)``, ``g`` a smooth field in [-1, 0] (off-axis light fall-off)."""
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    cy, cx = rng.uniform(-0.8, 0.8, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy / h - 0.5 - cy / 2, xx / w - 0.5 - cx / 2)
    g = -(np.clip(d / max(float(d.max()), 1e-6), 0, 1) ** 1.5)
    return _u8(img * (1.0 + amplitude * g)[..., None])


def fundus_exposure(image: np.ndarray, stops: float, rng: np.random.Generator) -> np.ndarray:
    """Under/over exposure by ``stops`` EV in linear light: ``255 * clip(lin(x) * 2^stops)``, sRGB gamma."""
    del rng
    lin = (np.asarray(image, dtype=np.float32) / 255.0) ** 2.2
    return _u8(255.0 * np.clip(lin * 2.0**stops, 0.0, 1.0) ** (1 / 2.2))


def fundus_haze(image: np.ndarray, veil: float, rng: np.random.Generator) -> np.ndarray:
    """Cataract-like veil: ``x t + A (1 - t)`` with transmission ``t = 1 - veil`` and a blurred scatter.

    ``A`` is a warm grey airlight; light scattered in the lens also blurs the image (sigma grows with veil).
    """
    img = np.asarray(image, dtype=np.float32)
    t = 1.0 - float(np.clip(veil, 0, 0.95))
    scatter = cv2.GaussianBlur(img, (0, 0), 1.0 + 6.0 * veil)
    air = np.array([200.0, 170.0, 140.0], dtype=np.float32) * rng.uniform(0.8, 1.1)
    fov = (img.max(axis=2) > 15).astype(np.float32)[..., None]  # veil only inside the field of view
    out = (scatter * veil * 0.5 + img * (1 - veil * 0.5)) * t + air * (1 - t) * fov
    return _u8(out)


def fundus_jpeg(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """JPEG compression at ``quality`` (1..100) with OpenCV's encoder (4:2:0 chroma)."""
    del rng
    bgr = cv2.cvtColor(_u8(image).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(np.clip(quality, 1, 100))])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32)


def fundus_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: Poisson-Gaussian, ``sigma`` = grey-level standard deviation at mid-grey (128)."""
    img = np.asarray(image, dtype=np.float32)
    gain = sigma**2 / 128.0  # variance = gain * x -> sigma at mid-grey
    shot = rng.normal(0.0, 1.0, img.shape).astype(np.float32) * np.sqrt(np.maximum(img, 0) * gain + 1.0)
    return _u8(img + shot)
