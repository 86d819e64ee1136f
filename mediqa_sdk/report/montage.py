"""The montage PNG: salient slices in their scoring window, each labelled with slice index, score and weight.

Layout (pixels): a title bar, then one row per scored window: a row header, the tiles (``tile`` px square,
as the network saw them) with a border in the colour of the slice score's grade band, a caption
(``slice 41`` / ``q 0.62  w 0.18``) and a bar whose length is the slice weight relative to the largest one.
Drawn with numpy and OpenCV only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..registry import GradeBand
from ..result import QualityResult
from ._views import SliceViews

__all__ = ["MontageLayout", "band_color", "draw_montage", "encode_png", "montage_thumbnail"]

_BG = (30, 27, 24)  # BGR
_PANEL = (46, 42, 38)
_TEXT = (240, 240, 240)
_MUTED = (170, 170, 170)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# grade band colours (RGB hex, shared with the HTML pages); other band names get a neutral blue
BAND_COLORS = {"poor": "#d64541", "acceptable": "#e5a03a", "good": "#3aa76d"}
_OTHER_COLOR = "#5b8def"


def band_color(name: str) -> str:
    """RGB hex colour of a grade band name."""
    return BAND_COLORS.get(name, _OTHER_COLOR)


def _bgr(hex_color: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


@dataclass(frozen=True)
class MontageLayout:
    """Pixel geometry of a montage with ``n_slices`` tiles per row and ``n_rows`` windows."""

    n_slices: int
    n_rows: int
    tile: int = 224
    gap: int = 10
    margin: int = 14
    title: int = 50
    header: int = 30
    caption: int = 44
    bar: int = 6

    @property
    def row_height(self) -> int:
        return self.header + self.tile + self.caption + self.bar + self.gap

    @property
    def width(self) -> int:
        return max(2 * self.margin + self.n_slices * self.tile + (self.n_slices - 1) * self.gap, 520)

    @property
    def height(self) -> int:
        return self.title + self.n_rows * self.row_height + self.margin

    def tile_origin(self, row: int, k: int) -> tuple[int, int]:
        """Top-left ``(x, y)`` of tile ``k`` in window row ``row``."""
        tiles_width = self.n_slices * self.tile + (self.n_slices - 1) * self.gap
        x0 = (self.width - tiles_width) // 2
        return x0 + k * (self.tile + self.gap), self.title + row * self.row_height + self.header


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "replace").decode("ascii")


def _text(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, int, int]
) -> None:
    cv2.putText(img, _ascii(text), org, _FONT, scale, color, 1, cv2.LINE_AA)


def _fit(text: str, width: int, scale: float) -> str:
    """Shorten ``text`` with ``...`` until it fits ``width`` pixels."""
    text = _ascii(text)
    while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        text = text[:-4] + "..."
    return text


def _grade_of(score: float, bands: Sequence[GradeBand]) -> str:
    for band in bands:
        if band.lower <= score < band.upper or score == band.upper:
            return band.name
    return ""


def _as_bgr_tile(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] != size or image.shape[1] != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., ::-1])  # RGB -> BGR


def draw_montage(result: QualityResult, views: SliceViews, bands: Sequence[GradeBand] = ()) -> np.ndarray:
    """The montage of ``result`` as a BGR uint8 image (see the module docstring for the layout)."""
    by_type = dict(views.windows)
    rows = [(w, by_type[w.type]) for w in result.windows if w.type in by_type]
    n = len(result.slice_indices)
    lay = MontageLayout(n_slices=n, n_rows=max(len(rows), 1))
    img = np.full((lay.height, lay.width, 3), _BG, dtype=np.uint8)
    img[: lay.title] = _PANEL
    grade_hex = band_color(result.grade)
    title = f"{result.label}"
    right = f"Q {result.score:.3f}  {result.grade}{'  FLAGGED' if result.flagged else ''}"
    right_w = cv2.getTextSize(right, _FONT, 0.7, 2)[0][0]
    _text(img, _fit(title, lay.width - right_w - 3 * lay.margin, 0.62), (lay.margin, 32), 0.62, _TEXT)
    cv2.putText(
        img, right, (lay.width - lay.margin - right_w, 33), _FONT, 0.7, _bgr(grade_hex), 2, cv2.LINE_AA
    )
    axis = result.axis if result.dim == "3d" else "2d image"
    for r, (window, images) in enumerate(rows):
        x0, y0 = lay.tile_origin(r, 0)
        head = f"{window.type.replace('_', ' ')}: {window.score:.3f}"
        _text(img, head, (x0, y0 - 9), 0.55, _TEXT)
        note = f"{axis}, as scored ({lay.tile} px)"
        note_w = cv2.getTextSize(note, _FONT, 0.45, 1)[0][0]
        head_end = x0 + cv2.getTextSize(_ascii(head), _FONT, 0.55, 1)[0][0]
        x_note = max(lay.tile_origin(r, n - 1)[0] + lay.tile, lay.width - lay.margin) - note_w
        if x_note > head_end + 12:
            _text(img, note, (x_note, y0 - 9), 0.45, _MUTED)
        peak = max(window.slice_weights) if window.slice_weights else 1.0
        for k in range(n):
            x, y = lay.tile_origin(r, k)
            q, wt = window.slice_scores[k], window.slice_weights[k]
            color = _bgr(band_color(_grade_of(q, bands))) if bands else _MUTED
            img[y : y + lay.tile, x : x + lay.tile] = _as_bgr_tile(images[k], lay.tile)
            cv2.rectangle(img, (x - 2, y - 2), (x + lay.tile + 1, y + lay.tile + 1), color, 2)
            where = f"slice {result.slice_indices[k]}" if result.dim == "3d" else "image"
            _text(img, where, (x, y + lay.tile + 19), 0.5, _TEXT)
            _text(img, f"q {q:.3f}   w {wt:.2f}", (x, y + lay.tile + 38), 0.5, _MUTED)
            bar_y = y + lay.tile + lay.caption
            cv2.rectangle(img, (x, bar_y), (x + lay.tile - 1, bar_y + lay.bar - 1), _PANEL, -1)
            length = round((lay.tile - 1) * (wt / peak if peak > 0 else 0.0))
            if length > 0:
                cv2.rectangle(img, (x, bar_y), (x + length, bar_y + lay.bar - 1), color, -1)
    return img


def montage_thumbnail(montage: np.ndarray, n_slices: int, height: int = 72) -> np.ndarray:
    """The first window's row of tiles of a montage made by :func:`draw_montage`, scaled to ``height``."""
    lay = MontageLayout(n_slices=n_slices, n_rows=1)
    x0, y0 = lay.tile_origin(0, 0)
    x1 = lay.tile_origin(0, n_slices - 1)[0] + lay.tile
    strip = montage[y0 : y0 + lay.tile, x0:x1]
    if strip.size == 0:
        strip = montage
    width = max(1, round(strip.shape[1] * height / strip.shape[0]))
    return cv2.resize(strip, (width, height), interpolation=cv2.INTER_AREA)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a BGR (or grey) uint8 image."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return buf.tobytes()
