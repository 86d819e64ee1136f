"""The suite's figures, drawn with OpenCV (no matplotlib): robustness curves and grouped SRCC bars."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["bars_figure", "robustness_figure", "write_png"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (40, 40, 40)
_GRID = (228, 228, 228)
_LINE = (180, 110, 30)  # BGR blue
_BAND = (235, 205, 170)
_MOS = (120, 120, 120)
#: BGR colours for bar series (tab10-like)
PALETTE = (
    (180, 119, 31),
    (14, 127, 255),
    (44, 160, 44),
    (40, 39, 214),
    (189, 103, 148),
    (75, 86, 140),
    (194, 119, 227),
    (127, 127, 127),
    (34, 189, 188),
    (207, 190, 23),
)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.4, color=_INK) -> None:
    cv2.putText(img, text, org, _FONT, scale, color, 1, cv2.LINE_AA)


def _centered(img: np.ndarray, text: str, cx: int, y: int, scale: float = 0.4) -> None:
    (w, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    _text(img, text, (int(cx - w / 2), y), scale)


def _dashed(img: np.ndarray, pts: np.ndarray, color: tuple[int, int, int], dash: int = 6) -> None:
    for a, b in itertools.pairwise(pts):
        length = float(np.hypot(*(b - a)))
        steps = max(1, int(length // dash))
        for k in range(0, steps, 2):
            p = a + (b - a) * k / steps
            q = a + (b - a) * min(k + 1, steps) / steps
            cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q), color, 1, cv2.LINE_AA)


def _short(v: float | None) -> str:
    return "clean" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"


def robustness_figure(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    title: str,
    cols: int = 4,
    panel: tuple[int, int] = (300, 230),
) -> np.ndarray:
    """One panel per degradation family: score mean (line) +- sd (band) and mean pseudo-MOS (dashed) per
    severity; x ticks are the levels (``clean`` first), y is 0..1."""
    names = list(curves)
    rows = max(1, math.ceil(len(names) / cols))
    pw, ph = panel
    top = 60
    img = np.full((top + rows * ph, cols * pw, 3), 255, np.uint8)
    _centered(img, title, img.shape[1] // 2, 24, 0.6)
    cv2.line(img, (20, 44), (50, 44), _LINE, 2, cv2.LINE_AA)
    _text(img, "score (mean, band = +-1 sd over held-out sources)", (56, 48))
    _dashed(img, np.array([[440.0, 44.0], [470.0, 44.0]]), _MOS)
    _text(img, "pseudo-MOS (mean)", (476, 48))
    for n, name in enumerate(names):
        r, c = divmod(n, cols)
        x0, y0 = c * pw + 42, top + r * ph + 26
        x1, y1 = c * pw + pw - 12, top + r * ph + ph - 40
        pts = list(curves[name])
        k = max(1, len(pts) - 1)

        def px(i: float, x0: int = x0, x1: int = x1, k: int = k) -> float:
            return x0 + i / k * (x1 - x0)

        def py(v: float, y0: int = y0, y1: int = y1) -> float:
            return y1 - min(max(v, 0.0), 1.0) * (y1 - y0)

        for v in (0.0, 0.5, 1.0):
            y = round(py(v))
            cv2.line(img, (x0, y), (x1, y), _GRID, 1)
            _text(img, f"{v:g}", (x0 - 26, y + 4), 0.35)
        cv2.rectangle(img, (x0, y0), (x1, y1), _INK, 1)
        _centered(img, name, (x0 + x1) // 2, y0 - 8, 0.42)
        for i, p in enumerate(pts):
            _centered(img, _short(p.get("param")), round(px(i)), y1 + 16, 0.32)
        mean = np.array([p["mean"] for p in pts], float)
        sd = np.nan_to_num(np.array([p["sd"] for p in pts], float))
        ok = np.isfinite(mean)
        if ok.sum() >= 2:
            xs = np.array([px(i) for i in range(len(pts))])[ok]
            upper = np.array([py(v) for v in (mean + sd)[ok]])
            lower = np.array([py(v) for v in (mean - sd)[ok]])
            poly = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]]).round()
            layer = img.copy()
            cv2.fillPoly(layer, [poly.astype(np.int32)], _BAND)
            img[:] = cv2.addWeighted(layer, 0.6, img, 0.4, 0.0)
            line = np.stack([xs, [py(v) for v in mean[ok]]], 1).round().astype(np.int32)
            cv2.polylines(img, [line], False, _LINE, 2, cv2.LINE_AA)
        mos = np.array([p["mos"] for p in pts], float)
        if np.isfinite(mos).sum() >= 2:
            okm = np.isfinite(mos)
            xs = np.array([px(i) for i in range(len(pts))])[okm]
            _dashed(img, np.stack([xs, [py(v) for v in mos[okm]]], 1), _MOS)
    return img


def bars_figure(
    cells: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    size: tuple[int, int] = (1200, 520),
) -> np.ndarray:
    """Grouped bars: one group per cell, one bar per series (model), y from -1 to 1 (SRCC)."""
    width, height = size
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 70, 90
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    _centered(img, title, width // 2, 24, 0.6)

    def py(v: float) -> int:
        return round(y1 - (min(max(v, -1.0), 1.0) + 1.0) / 2.0 * (y1 - y0))

    for v in (-1.0, -0.5, 0.0, 0.5, 1.0):
        cv2.line(img, (x0, py(v)), (x1, py(v)), _INK if v == 0 else _GRID, 1)
        _text(img, f"{v:g}", (x0 - 34, py(v) + 4), 0.4)
    names = list(series)
    group = (x1 - x0) / max(1, len(cells))
    bar = group * 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        colour = PALETTE[j % len(PALETTE)]
        lx = 20 + j * (width - 40) // max(1, len(names))
        cv2.rectangle(img, (lx, 40), (lx + 14, 52), colour, -1)
        _text(img, name, (lx + 18, 51), 0.38)
        for i, v in enumerate(series[name]):
            if v is None or not math.isfinite(v):
                continue
            bx = x0 + i * group + group * 0.1 + j * bar
            cv2.rectangle(img, (round(bx), py(0.0)), (round(bx + bar) - 1, py(v)), colour, -1)
    for i, cell in enumerate(cells):
        cx = round(x0 + (i + 0.5) * group)
        for k, part in enumerate(cell.split("\n")):
            _centered(img, part, cx, y1 + 18 + 14 * k, 0.36)
    cv2.rectangle(img, (x0, y0), (x1, y1), _INK, 1)
    return img


def write_png(path: str | Path, img: np.ndarray) -> Path:
    """Encode ``img`` (BGR) as PNG at ``path``."""
    path = Path(path)
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"{path}: could not encode the figure as PNG")
    path.write_bytes(data.tobytes())
    return path
