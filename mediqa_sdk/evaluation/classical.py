"""Classical no-reference quality measures people use today, as baselines for the learned score (numpy + cv2).

- **CT global noise level** (Christianson et al., AJR 2015): a local standard-deviation map over a small
  square kernel, taken where the image is soft tissue (0..100 HU), and the mode of its histogram. Our soft
  tissue mask thresholds the *local mean* (not the noisy pixel), so heavy noise does not empty the mask;
  the mode comes from a lightly smoothed histogram.
- **MR measures as MRIQC defines them** (Esteban et al. 2017, ``mriqc.qc.anatomical``): SNR inside the
  tissue classes ``mu / (sigma sqrt(n / (n - 1)))`` averaged over classes; Dietrich's SNR
  ``mu / (sqrt(2 / (4 - pi)) sigma_air)`` averaged over classes; CNR
  ``|mu_GM - mu_WM| / sqrt(sigma_air^2 + sigma_GM^2 + sigma_WM^2)``; CJV
  ``(sigma_WM + sigma_GM) / |mu_WM - mu_GM|``; EFC, the Shannon entropy of voxel intensities
  ``E = -sum (x / x_max) ln(x / x_max)``, ``x_max = sqrt(sum x^2)``, divided by its maximum
  ``(N / sqrt(N)) ln(1 / sqrt(N))``; FBER ``E[|F|^2] / E[|B|^2]``.
  *Approximation:* MRIQC uses a registered head mask, an air mask without artefacts and an FSL FAST
  tissue segmentation. We have no segmentation: the head is an Otsu foreground with holes filled, the air is
  everything outside the foreground dilated by ``margin`` pixels, and the tissue classes are three-class
  k-means on foreground intensities (WM and GM are the two most populous classes, WM the brighter). Values
  are therefore comparable between images of one protocol, not with published MRIQC numbers.
- **Sharpness**: variance of the Laplacian (or the Tenengrad mean squared Sobel gradient) of the image
  scaled to its 1st..99th percentile range, so it does not depend on the intensity unit. Noise raises it.

2D images are ``[H, W]``; volumes ``[D, H, W]`` are processed slice by slice with their pixels pooled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MRMeasures",
    "ct_noise_level",
    "efc",
    "foreground_mask",
    "mr_measures",
    "otsu_threshold",
    "sharpness",
]

SOFT_TISSUE_HU = (0.0, 100.0)


def _slices(image: ArrayLike) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3 and a.shape[-1] not in (3, 4):
        return a
    raise ValueError(f"expected a 2D image [H, W] or a volume [D, H, W], got shape {a.shape}")


def _local_sd(img: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and sample standard deviation over a ``kernel x kernel`` window."""
    x = img.astype(np.float64)
    mean = cv2.boxFilter(x, cv2.CV_64F, (kernel, kernel), borderType=cv2.BORDER_REFLECT)
    sq = cv2.boxFilter(x * x, cv2.CV_64F, (kernel, kernel), borderType=cv2.BORDER_REFLECT)
    n = kernel * kernel
    var = np.maximum(sq - mean * mean, 0.0) * n / (n - 1)
    return mean, np.sqrt(var)


def _histogram_mode(values: np.ndarray, bins: int = 256) -> float:
    hi = float(np.percentile(values, 99.0))
    if not hi > 0:
        return float(np.median(values))
    hist, edges = np.histogram(values, bins=bins, range=(0.0, hi))
    kernel = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    smooth = np.convolve(hist.astype(np.float64), kernel, mode="same")
    i = int(np.argmax(smooth))
    return float((edges[i] + edges[i + 1]) / 2.0)


def ct_noise_level(
    hu: ArrayLike,
    *,
    kernel: int = 5,
    soft_tissue: tuple[float, float] = SOFT_TISSUE_HU,
    min_pixels: int = 200,
) -> float:
    """Global noise level in HU: the mode of the local-SD histogram over soft tissue (Christianson 2015).

    Args:
        hu: a CT slice or volume in Hounsfield units.
        kernel: side of the square window of the local SD, in pixels (odd, >= 3).
        soft_tissue: HU range of the local mean that counts as soft tissue.
        min_pixels: fewest soft-tissue pixels for an estimate.

    Returns:
        The noise level, or ``nan`` when the image holds fewer than ``min_pixels`` soft-tissue pixels.
    """
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"kernel must be odd and >= 3, got {kernel}")
    lo, hi = soft_tissue
    pooled = []
    for sl in _slices(hu):
        mean, sd = _local_sd(sl, kernel)
        inside = (mean >= lo) & (mean <= hi)
        # keep windows whose every pixel has a soft-tissue local mean: edges between tissues inflate the SD
        full = cv2.erode(inside.astype(np.uint8), np.ones((kernel, kernel), np.uint8)) > 0
        pooled.append(sd[full])
    values = np.concatenate(pooled) if pooled else np.zeros(0)
    if values.size < min_pixels:
        return math.nan
    return _histogram_mode(values)


def otsu_threshold(values: ArrayLike, bins: int = 256) -> float:
    """Otsu's threshold: the cut maximising the between-class variance of the histogram (the middle of the
    best cuts when an empty gap makes several equal)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0 or np.ptp(v) == 0:
        return float(v[0]) if v.size else math.nan
    hist, edges = np.histogram(v, bins=bins)
    p = hist / hist.sum()
    centers = (edges[:-1] + edges[1:]) / 2.0
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centers)
    total = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    best = np.flatnonzero(between >= between.max() * (1.0 - 1e-9))  # a plateau over an empty gap: its middle
    return float(np.mean(edges[best + 1]))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Foreground plus every background region not connected to the image border."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask.astype(np.uint8)
    flood = padded.copy()
    ff_mask = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 1)
    holes = flood == 0
    return (padded.astype(bool) | holes)[1:-1, 1:-1]


def foreground_mask(image: ArrayLike) -> np.ndarray:
    """Otsu foreground of each slice, opened to drop speckle and with holes filled; same shape as input."""
    vol = _slices(image)
    t = otsu_threshold(vol)
    out = np.zeros(vol.shape, dtype=bool)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    for i, sl in enumerate(vol):
        m = cv2.morphologyEx((sl > t).astype(np.uint8), cv2.MORPH_OPEN, se)
        out[i] = _fill_holes(m > 0)
    return out if np.asarray(image).ndim == 3 else out[0]


def _kmeans_1d(values: np.ndarray, k: int = 3, iterations: int = 30) -> np.ndarray:
    """Labels ``0..k-1`` (ascending centre) of 1D k-means started at evenly spaced percentiles."""
    centres = np.percentile(values, np.linspace(100.0 / (2 * k), 100.0 - 100.0 / (2 * k), k))
    labels = np.zeros(values.size, dtype=np.int64)
    for _ in range(iterations):
        cuts = (centres[1:] + centres[:-1]) / 2.0
        labels = np.searchsorted(cuts, values)
        new = np.array([values[labels == j].mean() if np.any(labels == j) else centres[j] for j in range(k)])
        new.sort()
        if np.allclose(new, centres):
            break
        centres = new
    return labels


@dataclass(frozen=True)
class MRMeasures:
    """MRIQC-style measures of one MR image (see the module docstring); higher SNR/CNR/FBER and lower
    CJV/EFC are better."""

    snr: float
    snr_dietrich: float
    cnr: float
    cjv: float
    efc: float
    fber: float

    def to_dict(self) -> dict[str, float]:
        """Plain floats."""
        return asdict(self)


def efc(image: ArrayLike) -> float:
    """Entropy focus criterion of the whole image, normalised to its maximum (0 = all energy in one pixel)."""
    x = np.clip(np.asarray(image, dtype=np.float64), 0.0, None).ravel()
    n = x.size
    b_max = math.sqrt(float(np.dot(x, x)))
    if n < 2 or b_max == 0:
        return math.nan
    efc_max = n / math.sqrt(n) * math.log(1.0 / math.sqrt(n))
    r = x / b_max
    entropy = float(np.sum(r * np.log(r + 1e-16)))
    return entropy / efc_max


def mr_measures(image: ArrayLike, *, margin: int = 5) -> MRMeasures:
    """SNR, Dietrich SNR, CNR, CJV, EFC and FBER of an MR magnitude image or volume.

    Args:
        image: magnitude image ``[H, W]`` or volume ``[D, H, W]`` (background near zero).
        margin: pixels between the foreground and the air mask (partial volume, ringing).

    Raises:
        ValueError: no foreground or no air could be found.
    """
    vol = np.clip(_slices(image).astype(np.float64), 0.0, None)
    fg = foreground_mask(vol)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    air = np.stack([~(cv2.dilate(f.astype(np.uint8), se) > 0) for f in fg])
    if fg.sum() < 30 or air.sum() < 30:
        raise ValueError(
            f"too little foreground ({int(fg.sum())} px) or air ({int(air.sum())} px) to measure"
        )
    tissue = vol[fg]
    labels = _kmeans_1d(tissue, 3)
    classes = [tissue[labels == j] for j in range(3)]
    stats = [(c.mean(), c.std(), c.size) for c in classes if c.size > 1]
    snr = float(np.mean([mu / (sd * math.sqrt(n / (n - 1))) for mu, sd, n in stats if sd > 0]))
    sigma_air = float(vol[air].std())
    rayleigh = math.sqrt(2.0 / (4.0 - math.pi))
    snr_d = float(np.mean([mu / (rayleigh * sigma_air) for mu, _, _ in stats])) if sigma_air > 0 else math.inf
    wm_gm = sorted(sorted(range(3), key=lambda j: classes[j].size)[-2:])  # the two most populous, dark first
    gm, wm = classes[wm_gm[0]], classes[wm_gm[1]]
    contrast = abs(float(wm.mean()) - float(gm.mean()))
    cnr = contrast / math.sqrt(sigma_air**2 + float(gm.var()) + float(wm.var()))
    cjv = (float(wm.std()) + float(gm.std())) / contrast if contrast > 0 else math.inf
    bg_energy = float(np.mean(vol[~fg] ** 2)) if (~fg).any() else 0.0
    fber = float(np.mean(tissue**2)) / bg_energy if bg_energy > 1e-12 else math.inf
    return MRMeasures(snr=snr, snr_dietrich=snr_d, cnr=cnr, cjv=cjv, efc=efc(vol), fber=fber)


def sharpness(image: ArrayLike, method: str = "laplacian") -> float:
    """Sharpness of an image (mean over the slices of a volume), intensities scaled to their p1..p99 range.

    ``laplacian``: variance of the 3x3 Laplacian; ``tenengrad``: mean of the squared 3x3 Sobel gradient
    magnitude. Higher is sharper.
    """
    if method not in ("laplacian", "tenengrad"):
        raise ValueError(f"method must be 'laplacian' or 'tenengrad', got {method!r}")
    a = np.asarray(image, dtype=np.float64)
    vol = a.mean(axis=-1)[None] if a.ndim == 3 and a.shape[-1] in (3, 4) else _slices(a).astype(np.float64)
    lo, hi = np.percentile(vol, (1.0, 99.0))
    if hi <= lo:
        return 0.0
    values = []
    for sl in (vol - lo) / (hi - lo):
        if method == "laplacian":
            values.append(float(cv2.Laplacian(sl, cv2.CV_64F, ksize=1).var()))
        else:
            gx = cv2.Sobel(sl, cv2.CV_64F, 1, 0, ksize=3)
            gy = cv2.Sobel(sl, cv2.CV_64F, 0, 1, ksize=3)
            values.append(float(np.mean(gx * gx + gy * gy)))
    return float(np.mean(values))
