"""Tiny synthetic anatomy made in code (no files): CT in HU, MR slices, fundus photos."""

from __future__ import annotations

import numpy as np


def ct_volume(n_slices: int = 24, size: int = 96, noise_hu: float = 10.0, seed: int = 0) -> np.ndarray:
    """A chest-like CT in HU: air outside, a body ellipse (40 HU) with two lungs (-850 HU), noise added.

    The first and last 3 slices hold air only, so a salient-slice rule must skip them.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    body = (xx / 0.42) ** 2 + (yy / 0.32) ** 2 < 1
    lungs = (((xx - 0.17) / 0.12) ** 2 + (yy / 0.2) ** 2 < 1) | (
        ((xx + 0.17) / 0.12) ** 2 + (yy / 0.2) ** 2 < 1
    )
    sl = np.where(body, 40.0, -1000.0)
    sl = np.where(lungs, -850.0, sl)
    vol = np.repeat(sl[None], n_slices, axis=0)
    vol[:3] = -1000.0
    vol[-3:] = -1000.0
    vol += rng.normal(0.0, noise_hu, vol.shape)
    return vol.astype(np.float32)


def mr_slice(size: int = 128, noise: float = 5.0, seed: int = 0) -> np.ndarray:
    """A brain-like MR slice in arbitrary units: dark background, bright head disc, darker ventricles."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    head = (xx / 0.38) ** 2 + (yy / 0.45) ** 2 < 1
    vent = ((xx / 0.08) ** 2 + (yy / 0.15) ** 2) < 1
    img = np.where(head, 600.0, 0.0) - np.where(vent, 300.0, 0.0)
    return np.abs(img + rng.normal(0, noise, img.shape)).astype(np.float32)


def fundus_photo(size: int = 160, seed: int = 0) -> np.ndarray:
    """An RGB fundus-like photo (uint8 values as float): orange disc on black, brighter optic disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    field = xx**2 + yy**2 < 0.45**2
    img = np.zeros((size, size, 3), np.float32)
    img[field] = (200.0, 90.0, 40.0)
    disc = (xx - 0.2) ** 2 + yy**2 < 0.06**2
    img[disc] = (250.0, 220.0, 160.0)
    img += rng.normal(0, 3, img.shape) * field[..., None]
    return np.clip(img, 0, 255)
