"""A scatter plot of predicted vs. true scores with the fitted logistic, drawn with OpenCV (no matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import ArrayLike

from .logistic import Logistic4

__all__ = ["nice_ticks", "render_scatter", "write_scatter"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (40, 40, 40)
_GRID = (225, 225, 225)
_POINT = (180, 110, 30)  # BGR: a blue
_CURVE = (40, 40, 210)  # BGR: a red


def nice_ticks(lo: float, hi: float, target: int = 6) -> np.ndarray:
    """Round tick values covering ``[lo, hi]``: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = (lo - 0.5, lo + 0.5) if math.isfinite(lo) else (0.0, 1.0)
    raw = (hi - lo) / max(target - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    return np.round(np.arange(first, last + step / 2, step), 10)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5, thick: int = 1) -> None:
    cv2.putText(img, text, org, _FONT, scale, _INK, thick, cv2.LINE_AA)


def _centered(img: np.ndarray, text: str, cx: int, y: int, scale: float = 0.5, thick: int = 1) -> None:
    (w, _), _ = cv2.getTextSize(text, _FONT, scale, thick)
    _text(img, text, (int(cx - w / 2), y), scale, thick)


def _tick_label(v: float) -> str:
    return f"{v:.6g}" if abs(v) >= 1e-9 else "0"


def render_scatter(
    pred: ArrayLike,
    true: ArrayLike,
    fit: Logistic4 | None = None,
    *,
    title: str = "",
    x_label: str = "predicted score",
    y_label: str = "true score (normalised)",
    size: tuple[int, int] = (800, 640),
) -> np.ndarray:
    """The plot as a BGR uint8 image: points, the fitted curve (if any), axes, ticks, labels and a title."""
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    width, height = size
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 90, 30, 60, 70
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    xt = nice_ticks(float(p.min()) if p.size else 0.0, float(p.max()) if p.size else 1.0)
    yt = nice_ticks(float(t.min()) if t.size else 0.0, float(t.max()) if t.size else 1.0)
    xlo, xhi, ylo, yhi = float(xt[0]), float(xt[-1]), float(yt[0]), float(yt[-1])

    def px(x: np.ndarray | float) -> np.ndarray:
        return x0 + (np.asarray(x) - xlo) / (xhi - xlo) * (x1 - x0)

    def py(y: np.ndarray | float) -> np.ndarray:
        return y1 - (np.asarray(y) - ylo) / (yhi - ylo) * (y1 - y0)

    for v in xt:
        x = round(float(px(v)))
        cv2.line(img, (x, y0), (x, y1), _GRID, 1)
        cv2.line(img, (x, y1), (x, y1 + 6), _INK, 1)
        _centered(img, _tick_label(float(v)), x, y1 + 24, 0.45)
    for v in yt:
        y = round(float(py(v)))
        cv2.line(img, (x0, y), (x1, y), _GRID, 1)
        cv2.line(img, (x0 - 6, y), (x0, y), _INK, 1)
        label = _tick_label(float(v))
        (w, h), _ = cv2.getTextSize(label, _FONT, 0.45, 1)
        _text(img, label, (x0 - 10 - w, y + h // 2), 0.45)
    cv2.rectangle(img, (x0, y0), (x1, y1), _INK, 1)

    if p.size:
        layer = img.copy()
        for xv, yv in zip(px(p), py(t), strict=True):
            cv2.circle(layer, (round(float(xv)), round(float(yv))), 4, _POINT, -1, cv2.LINE_AA)
        alpha = 0.75 if p.size < 500 else 0.4
        img = np.asarray(cv2.addWeighted(layer, alpha, img, 1.0 - alpha, 0.0), dtype=np.uint8)
    if fit is not None:
        xs = np.linspace(xlo, xhi, 300)
        ys = np.clip(fit(xs), ylo - 0.05 * (yhi - ylo), yhi + 0.05 * (yhi - ylo))
        pts = np.stack([px(xs), py(ys)], axis=1).round().astype(np.int32)
        inside = (pts[:, 1] >= y0 - 1) & (pts[:, 1] <= y1 + 1)
        if inside.sum() > 1:
            cv2.polylines(img, [pts[inside]], False, _CURVE, 2, cv2.LINE_AA)
        cv2.line(img, (x1 - 190, y0 + 18), (x1 - 160, y0 + 18), _CURVE, 2, cv2.LINE_AA)
        _text(img, "logistic fit", (x1 - 152, y0 + 23), 0.45)

    _centered(img, x_label, (x0 + x1) // 2, height - 20, 0.55)
    (w, h), base = cv2.getTextSize(y_label, _FONT, 0.55, 1)
    strip = np.full((h + base + 4, w + 4, 3), 255, np.uint8)
    cv2.putText(strip, y_label, (2, h + 2), _FONT, 0.55, _INK, 1, cv2.LINE_AA)
    strip = np.asarray(cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE), dtype=np.uint8)
    sy = max(0, (y0 + y1) // 2 - strip.shape[0] // 2)
    sh = min(strip.shape[0], height - sy)
    img[sy : sy + sh, 12 : 12 + strip.shape[1]] = strip[:sh]
    if title:
        _centered(img, title, width // 2, 35, 0.6, 1)
    return img


def write_scatter(
    path: str | Path, pred: ArrayLike, true: ArrayLike, fit: Logistic4 | None, title: str = ""
) -> Path:
    """Render the scatter plot and write it as a PNG.

    Raises:
        OSError: the file could not be written.
    """
    path = Path(path)
    img = render_scatter(pred, true, fit, title=title)
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"{path}: could not encode the plot as PNG")
    path.write_bytes(data.tobytes())
    return path
