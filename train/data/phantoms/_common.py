"""Shapes, smooth random fields and vessel trees shared by the phantoms."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True, eq=False)
class Phantom:
    """A clean phantom volume ``[D, H, W]`` (or ``[D, H, W, 3]`` for fundus) and what it depicts.

    Attributes:
        volume: float32 values in physical units.
        spacing: ``(slice, row, col)`` in mm.
        modality, region, types: prompt labels; ``types`` lists the prompt types it can be scored in.
        meta: anything else (contrast, sequence, ...).
    """

    volume: np.ndarray
    spacing: tuple[float, float, float]
    modality: str
    region: str
    types: tuple[str, ...]
    meta: dict[str, object] = field(default_factory=dict)


class Grid:
    """Physical coordinates (mm) of a ``[D, H, W]`` volume centred at 0; y points down (posterior)."""

    def __init__(self, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> None:
        d, h, w = shape
        self.shape = shape
        self.spacing = spacing
        self.z = ((np.arange(d) - (d - 1) / 2) * spacing[0]).astype(np.float32)[:, None, None]
        self.y = ((np.arange(h) - (h - 1) / 2) * spacing[1]).astype(np.float32)[None, :, None]
        self.x = ((np.arange(w) - (w - 1) / 2) * spacing[2]).astype(np.float32)[None, None, :]

    def ellipsoid(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        cz: float = 0.0,
        rz: float = 1e9,
        angle: float = 0.0,
    ) -> np.ndarray:
        """Normalised radius ``sqrt((x'/rx)^2 + (y'/ry)^2 + ((z-cz)/rz)^2)`` (inside where < 1)."""
        x = self.x - cx
        y = self.y - cy
        if angle:
            c, s = np.cos(angle), np.sin(angle)
            x, y = c * x + s * y, -s * x + c * y
        return np.sqrt((x / rx) ** 2 + (y / ry) ** 2 + ((self.z - cz) / rz) ** 2)


def smooth_noise(shape: tuple[int, ...], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with correlation length about ``scale_px`` in-plane, unit std, zero mean.

    Made at coarse resolution and resized (cubic) so its cost does not depend on the correlation length.
    """
    d, h, w = shape[0], shape[1], shape[2]
    ch, cw = max(2, int(h / scale_px) + 2), max(2, int(w / scale_px) + 2)
    cd = max(2, int(d / max(scale_px / 2, 1)) + 2)
    coarse = gaussian_filter(rng.normal(size=(cd, ch, cw)).astype(np.float32), 0.7)
    planes = np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_CUBIC) for p in coarse])
    zpos = np.linspace(0, cd - 1, d)
    z0 = np.clip(np.floor(zpos).astype(int), 0, cd - 2)
    t = (zpos - z0).astype(np.float32)[:, None, None]
    out = planes[z0] * (1 - t) + planes[z0 + 1] * t
    out -= out.mean()
    out /= max(float(out.std()), 1e-6)
    return out.astype(np.float32)


def vessel_tree(
    shape: tuple[int, int, int],
    roots: list[tuple[np.ndarray, np.ndarray, float]],
    rng: np.random.Generator,
    *,
    generations: int = 6,
    length_px: float = 30.0,
    z_scale: float = 1.0,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Soft vessel occupancy (0..1) of random branching trees.

    Each root is ``(position zyx in voxels, direction zyx, radius px)``; a segment of length
    ``length_px * 0.8^generation`` bends randomly and splits in two thinner children (Murray-like radius
    ratio 0.79). Centre lines are rasterised per radius class and blurred with a Gaussian of that radius.
    ``z_scale`` = pixel size / slice spacing (directions are isotropic in mm). Points outside
    ``inside`` (a mask) are dropped.
    """
    classes = (0.6, 1.1, 2.0, 3.2)
    lines = [np.zeros(shape, dtype=np.float32) for _ in classes]
    stack = [(np.asarray(p, float), np.asarray(d, float), r, 0) for p, d, r in roots]
    bound = np.array(shape, float) - 1
    while stack:
        pos, direc, rad, gen = stack.pop()
        seg = length_px * (0.8**gen) * rng.uniform(0.7, 1.3)
        n = max(2, int(seg))
        cls = int(np.argmin([abs(rad - c) for c in classes]))
        for _ in range(n):
            direc = direc + rng.normal(0, 0.12, 3)
            direc /= np.linalg.norm(direc) + 1e-9
            pos = pos + direc * np.array([z_scale, 1.0, 1.0])
            if np.any(pos < 0) or np.any(pos > bound):
                break
            iz, iy, ix = np.rint(pos).astype(int)
            if inside is not None and not inside[iz, iy, ix]:
                break
            lines[cls][iz, iy, ix] = 1.0
        else:
            if gen + 1 < generations and rad > 0.45:
                for sign in (1, -1):
                    turn = rng.normal(0, 1, 3)
                    turn -= turn.dot(direc) * direc
                    turn /= np.linalg.norm(turn) + 1e-9
                    child = direc + sign * turn * rng.uniform(0.4, 0.9)
                    child /= np.linalg.norm(child)
                    stack.append((pos.copy(), child, rad * rng.uniform(0.7, 0.85), gen + 1))
    out = np.zeros(shape, dtype=np.float32)
    for c, line in zip(classes, lines, strict=True):
        if line.any():
            sig = (max(c * z_scale, 0.4), c, c)
            blurred = gaussian_filter(line, sig)
            peak = 1.0 / ((2 * np.pi) ** 1.5 * sig[0] * sig[1] * sig[2]) * (np.sqrt(2 * np.pi) * sig[0])
            out = np.maximum(out, np.clip(blurred / max(peak * 0.6, 1e-6), 0, 1))
    return out


def partial_volume(volume: np.ndarray, sigma_px: float = 0.6) -> np.ndarray:
    """Slight in-plane blur so tissue edges are not pixel-sharp (partial volume, system PSF)."""
    return gaussian_filter(volume, (0, sigma_px, sigma_px) if volume.ndim == 3 else sigma_px)
