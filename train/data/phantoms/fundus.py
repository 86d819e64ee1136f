"""Colour fundus photo phantom: field stop, choroid texture, vignetting, optic disc and cup, macula, vessels.

RGB 0..255 float32, ``[1, 256, 256, 3]`` (a one-slice "volume"). Vessels are a branching tree of veins
(darker, wider) and arteries (lighter, thinner) leaving the disc in four arcades around the macula.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._common import Phantom, smooth_noise

__all__ = ["fundus_photo"]

SIZE = 256
_SS = 2  # supersampling of the drawing


def _draw_tree(
    canvas: np.ndarray,
    start: np.ndarray,
    angle: float,
    width: float,
    length: float,
    rng: np.random.Generator,
    gen: int,
    curl: float,
) -> None:
    pos = start.astype(float)
    pts = [pos.copy()]
    n = max(3, int(length / 4))
    for _ in range(n):
        angle += curl + rng.normal(0, 0.08)
        pos = pos + 4.0 * np.array([np.cos(angle), np.sin(angle)])
        pts.append(pos.copy())
    arr = (np.array(pts) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [arr], False, 1.0, max(1, round(width)), cv2.LINE_AA, shift=4)
    if gen < 4 and width > 1.2:
        for k in range(2):
            idx = int(rng.integers(len(pts) // 3, len(pts)))
            sign = 1 if k % 2 == 0 else -1
            _draw_tree(
                canvas,
                pts[idx],
                angle + sign * rng.uniform(0.4, 1.0),
                width * rng.uniform(0.6, 0.8),
                length * rng.uniform(0.5, 0.75),
                rng,
                gen + 1,
                curl * 0.5 + rng.normal(0, 0.01),
            )


def fundus_photo(seed: int, n_slices: int = 1) -> Phantom:
    """A synthetic colour fundus photograph (``n_slices`` is ignored: a photo is 2D)."""
    del n_slices
    rng = np.random.default_rng(seed)
    n = SIZE * _SS
    yy, xx = np.mgrid[0:n, 0:n] / n - 0.5
    radius = rng.uniform(0.44, 0.49)
    rr = np.hypot(yy, xx) / radius
    fov = np.clip((1.0 - rr) * 60, 0, 1)
    left_eye = rng.random() < 0.5
    side = -1 if left_eye else 1
    disc = np.array([0.5 + side * rng.uniform(0.2, 0.27), 0.5 + rng.uniform(-0.04, 0.04)]) * n  # x, y
    macula = np.array([0.5 - side * rng.uniform(0.0, 0.05), 0.5 + rng.uniform(-0.03, 0.03)]) * n
    tex = smooth_noise((1, n, n), 10 * _SS, rng)[0]
    fine = smooth_noise((1, n, n), 2 * _SS, rng)[0]
    pigment = rng.uniform(0.75, 1.15)
    base = np.stack(
        [np.full((n, n), 205.0), np.full((n, n), 95.0) * pigment, np.full((n, n), 40.0) * pigment], -1
    )
    base *= (1 + 0.06 * tex + 0.03 * fine)[..., None]
    vignette = 1.0 - 0.45 * np.clip(rr, 0, 1) ** 2.5
    dm = np.hypot(xx * n - macula[0] + n / 2, yy * n - macula[1] + n / 2) / n
    mac = 1.0 - 0.35 * np.exp(-((dm / 0.07) ** 2))
    img = base * (vignette * mac)[..., None]
    vessels_v = np.zeros((n, n), np.float32)
    vessels_a = np.zeros((n, n), np.float32)
    w0 = rng.uniform(4.5, 6.0) * _SS / 2
    for up in (-1, 1):
        for is_vein, canvas in ((True, vessels_v), (False, vessels_a)):
            ang = np.arctan2(up * 1.0, -side * rng.uniform(0.4, 0.8))  # up/down and temporal
            _draw_tree(
                canvas,
                disc + rng.normal(0, 3, 2),
                float(ang),
                w0 * (1.3 if is_vein else 1.0),
                n * 0.3,
                rng,
                0,
                side * up * 0.022,
            )
            nasal = np.arctan2(up * 0.7, side * 1.0)
            _draw_tree(canvas, disc, float(nasal), w0 * 0.8, n * 0.2, rng, 1, 0.0)
    vein_col = np.array([110.0, 25.0, 15.0])
    art_col = np.array([175.0, 55.0, 30.0])
    img = img * (1 - vessels_v[..., None] * 0.85) + vein_col * vessels_v[..., None] * 0.85
    img = img * (1 - vessels_a[..., None] * 0.7) + art_col * vessels_a[..., None] * 0.7
    dd = np.hypot(xx * n - disc[0] + n / 2, (yy * n - disc[1] + n / 2) * 0.9) / n
    disc_r = rng.uniform(0.05, 0.065)
    d_mask = np.clip((disc_r - dd) / 0.006 + 0.5, 0, 1)
    cup = np.clip((disc_r * rng.uniform(0.3, 0.6) - dd) / 0.006 + 0.5, 0, 1)
    disc_col = np.array([245.0, 190.0, 120.0])
    img = img * (1 - d_mask[..., None] * 0.8) + disc_col * d_mask[..., None] * 0.8
    img = img * (1 - cup[..., None] * 0.5) + np.array([255.0, 235.0, 200.0]) * cup[..., None] * 0.5
    img = img * (1 - vessels_v[..., None] * d_mask[..., None] * 0.5)
    img *= fov[..., None] * rng.uniform(0.85, 1.1)
    img = cv2.resize(np.clip(img, 0, 255).astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return Phantom(img[None], (float("nan"), 1.0, 1.0), "fundus", "eye", ("color",), {"left_eye": left_eye})
