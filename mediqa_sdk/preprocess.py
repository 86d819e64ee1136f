"""Slices to network input: window or normalise, pad to square, area-resize, 3 channels, mean/std.

Every function is pure numpy/OpenCV and takes its constants from a :class:`~mediqa_sdk.registry.Preprocess`
record, so a retrained model carries its own settings.
"""

from __future__ import annotations

import cv2
import numpy as np

from .registry import NEIGHBOUR_RECIPES, Preprocess

__all__ = [
    "apply_window",
    "classifier_input",
    "color_to_unit",
    "crop_to_field",
    "input_key",
    "neighbour_indices",
    "normalise_percentiles",
    "pad_square",
    "percentile_range",
    "prepare_color",
    "prepare_gray",
    "resize_area",
    "scorer_input",
    "scoring_window",
    "to_network",
]


def apply_window(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Display window in HU: ``clip((x - (c - w/2)) / w, 0, 1)``."""
    low = center - width / 2.0
    return np.clip((image - low) / width, 0.0, 1.0, dtype=np.float32)


def percentile_range(images: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Intensities at the ``low`` and ``high`` percentiles of the finite values of ``images``."""
    finite = images[np.isfinite(images)]
    if finite.size == 0:
        return 0.0, 1.0
    a, b = np.percentile(finite, [low, high])
    return float(a), float(b)


def normalise_percentiles(image: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Robust min-max: ``clip((x - a) / (b - a), 0, 1)`` with ``(a, b)`` from :func:`percentile_range`.

    A constant image (``b == a``) maps to 0.
    """
    a, b = bounds
    if b <= a:
        return np.zeros(image.shape, dtype=np.float32)
    return np.clip((image - a) / (b - a), 0.0, 1.0, dtype=np.float32)


def pad_square(image: np.ndarray, fill: float | np.ndarray = 0.0) -> np.ndarray:
    """Pad the shorter side symmetrically with ``fill`` (a scalar or one value per channel): rows == cols."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = np.full((side, side, *image.shape[2:]), fill, dtype=image.dtype)
    out[top : top + h, left : left + w] = image
    return out


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square image to ``size`` x ``size`` with OpenCV's area interpolation (deterministic)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image.astype(np.float32, copy=False)
    return cv2.resize(image.astype(np.float32, copy=False), (size, size), interpolation=cv2.INTER_AREA)


def color_to_unit(image: np.ndarray) -> np.ndarray:
    """Scale an RGB image to 0..1 by its bit depth (8-bit if the maximum is <= 255, else 16-bit)."""
    peak = float(np.nanmax(image)) if image.size else 0.0
    scale = 255.0 if peak <= 255.0 else 65535.0
    return np.clip(image / scale, 0.0, 1.0, dtype=np.float32)


def crop_to_field(image: np.ndarray, threshold: float = 0.08) -> np.ndarray:
    """Crop an RGB fundus photo (0..1) to the bounding box of its illuminated field.

    The field is where the luminance exceeds ``threshold`` times its maximum; an image without a dark
    surround is returned unchanged.
    """
    lum = (image[..., 0] + image[..., 1] + image[..., 2]) / np.float32(3)  # = mean(axis=-1), 10x faster
    peak = float(lum.max()) if lum.size else 0.0
    if peak <= 0:
        return image
    mask = lum > threshold * peak
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return image
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def to_network(channels: np.ndarray, pre: Preprocess) -> np.ndarray:
    """``[S, H, W, 3]`` images in 0..1 -> ``[S, 3, size, size]`` float32: padded, resized, mean/std.

    Padding uses each channel's minimum, i.e. its background, so padding never adds a value the image lacks
    (padding an MR's absolute-intensity channel with 0 would make it look like air in a CT).
    """
    out = np.empty((channels.shape[0], 3, pre.size, pre.size), dtype=np.float32)
    mean = np.asarray(pre.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(pre.std, dtype=np.float32)[:, None, None]
    for i, img in enumerate(channels):
        square = img.shape[0] == img.shape[1]
        # per-channel minimum: a strided reduction per channel is 30x faster than min(axis=(0, 1))
        fill = 0.0 if square else np.array([img[..., c].min() for c in range(img.shape[-1])], img.dtype)
        sq = resize_area(pad_square(img, fill), pre.size)
        out[i] = (np.moveaxis(sq, -1, 0) - mean) / std
    return out


def prepare_gray(
    slices: np.ndarray,
    pre: Preprocess,
    *,
    window: str | None,
    channels: tuple[str, str, str] | None = None,
    neighbours: np.ndarray | None = None,
) -> np.ndarray:
    """Grey slices ``[S, H, W]`` in physical units -> network input ``[S, 3, size, size]``.

    Args:
        slices: the chosen slices.
        pre: the model's preprocessing record.
        window: CT window name (values in HU), or ``None`` for percentile normalisation (MR, non-HU images).
        channels: channel recipes, default ``pre.gray_channels``: ``"scored"`` = the window, or the
            percentile normalisation when ``window`` is None; ``"percentile"``; ``"hu_wide"`` =
            ``clip((x - lo) / (hi - lo), 0, 1)`` over ``pre.hu_wide``; ``"scored_prev"`` /
            ``"scored_next"`` = the scored recipe of ``neighbours[:, 0]`` / ``neighbours[:, 1]`` (with the
            chosen slices' percentile bounds, so a neighbour differs only by what differs in the volume).
        neighbours: ``[S, 2, H, W]`` the slices before and after each chosen one along the acquisition axis;
            ``None`` (a 2D image): the neighbour channels hold the channel's normalisation mean, i.e. 0 at
            the network input, so "no neighbour" differs from "a neighbour equal to the slice" (which is
            what thick or overlapping slices look like).
    """
    recipes = channels or pre.gray_channels
    scored = {"scored", *NEIGHBOUR_RECIPES}
    needs_pct = "percentile" in recipes or (window is None and bool(scored & set(recipes)))
    bounds = percentile_range(slices, *pre.mr_percentiles) if needs_pct else (0.0, 1.0)
    cache: dict[str, np.ndarray] = {}

    def scored_of(images: np.ndarray) -> np.ndarray:
        if window is not None:
            center, width = pre.ct_windows[window]
            return apply_window(images, center, width)
        return normalise_percentiles(images, bounds)

    def channel(recipe: str) -> np.ndarray:
        if recipe not in cache:
            if recipe == "scored":
                cache[recipe] = scored_of(slices)
            elif recipe in NEIGHBOUR_RECIPES:
                side = 0 if recipe == "scored_prev" else 1
                assert neighbours is not None  # stacked below as the mean when there are none
                cache[recipe] = scored_of(neighbours[:, side])
            elif recipe == "percentile":
                cache[recipe] = normalise_percentiles(slices, bounds)
            else:  # hu_wide
                lo, hi = pre.hu_wide
                cache[recipe] = apply_window(slices, (lo + hi) / 2.0, hi - lo)
        return cache[recipe]

    def absent(recipe: str) -> bool:
        return neighbours is None and recipe in NEIGHBOUR_RECIPES

    stacked = np.stack(
        [
            np.full(slices.shape, pre.mean[c], np.float32) if absent(r) else channel(r)
            for c, r in enumerate(recipes)
        ],
        axis=-1,
    )
    return to_network(stacked, pre)


def prepare_color(slices: np.ndarray, pre: Preprocess) -> np.ndarray:
    """RGB images ``[S, H, W, 3]`` -> network input: scaled to 0..1, cropped to the field, resized."""
    unit = [color_to_unit(img) for img in slices]
    if pre.fundus_crop:
        unit = [crop_to_field(img) for img in unit]
    out = np.empty((len(unit), 3, pre.size, pre.size), dtype=np.float32)
    for i, img in enumerate(unit):
        out[i] = to_network(img[None], pre)[0]
    return out


def scoring_window(pre: Preprocess, modality: str, type_: str, values_in_hu: bool) -> str | None:
    """The CT window a type names when the values are HU, else ``None`` (percentile normalisation)."""
    if modality == "ct" and values_in_hu and type_ in pre.ct_windows:
        return type_
    return None


def input_key(pre: Preprocess, *, is_color: bool, window: str | None) -> tuple:
    """The constants :func:`scorer_input` reads for this kind of input: records with equal keys give the
    same network input for the same slices (the classifier and the scorer share it for colour photos)."""
    common = (pre.size, pre.resize, pre.mean, pre.std)
    if is_color:
        return ("color", *common, pre.fundus_crop)
    center_width = pre.ct_windows[window] if window is not None else None
    return ("gray", *common, center_width, pre.gray_channels, pre.mr_percentiles, pre.hu_wide)


def scorer_input(
    slices: np.ndarray,
    pre: Preprocess,
    *,
    is_color: bool,
    window: str | None,
    neighbours: np.ndarray | None = None,
) -> np.ndarray:
    """The scorer's input for slices of one scan (``[S, H, W]`` grey or ``[S, H, W, 3]`` colour; grey
    ``neighbours`` ``[S, 2, H, W]`` for records whose channels read them, see :func:`prepare_gray`).

    The runtime and the training code both build network input here, so they cannot drift apart.
    """
    if is_color:
        return prepare_color(slices, pre)
    return prepare_gray(slices, pre, window=window, neighbours=neighbours)


def neighbour_indices(indices: tuple[int, ...], n_total: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The slices before and after each index along the acquisition axis, clamped to ``0..n_total - 1``
    (an end slice is its own neighbour on the open side)."""
    before = tuple(max(i - 1, 0) for i in indices)
    after = tuple(min(i + 1, n_total - 1) for i in indices)
    return before, after


def classifier_input(slices: np.ndarray, pre: Preprocess, *, is_color: bool) -> np.ndarray:
    """The prompt classifier's input: colour as RGB, grey with the record's modality-agnostic channels."""
    return prepare_color(slices, pre) if is_color else prepare_gray(slices, pre, window=None)
