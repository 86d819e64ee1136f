"""Lazy :class:`~mediqa_sdk.scan.SliceStack` adapters: slices leave the loader as float32 only when asked.

Two kinds:

- :class:`ArrayStack` wraps a native-dtype array view (``int16`` CT, ``uint8`` photos) and converts only the
  part that is indexed: ``value = stored * slope + intercept`` in float32, non-finite values replaced by a
  fill.
- :class:`LazyStack` decodes slice ``i`` on demand with a callable (DICOM: one file or frame per slice) and
  keeps the most recently decoded slices in a small cache.

Both have ``preview(step)`` = ``stack[:, ::step, ::step]``, what the salient-slice rule looks at; a
:class:`LazyStack` gets it from its loader's cheap subsampled read where there is one, so most slices of a
native DICOM series are never decoded in full.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import ScanReadError

__all__ = ["ArrayStack", "LazyStack", "finite_fill"]


def _split_index(index: Any) -> tuple[Any, tuple[Any, ...]]:
    """Split a numpy index into (index along the slice axis, index of the remaining axes)."""
    if not isinstance(index, tuple):
        index = (index,)
    if not index:
        return slice(None), ()
    first, rest = index[0], tuple(index[1:])
    if first is Ellipsis:
        # "..." swallows the slice axis only when it stands for at least one axis
        return slice(None), (Ellipsis, *rest) if rest else ()
    return first, rest


class ArrayStack:
    """A slice stack over a native-dtype array, scaled to float32 physical units when indexed.

    Args:
        data: array of shape ``(n, rows, cols)`` or ``(n, rows, cols, 3)``, usually a view (transposed and
            flipped) of the decoded file; never copied as a whole.
        slope: multiplier applied after conversion to float32.
        intercept: offset added after the slope.
        fill: value (physical units) that replaces NaN and Inf; ``None`` when the data are all finite.
    """

    def __init__(
        self, data: np.ndarray, slope: float = 1.0, intercept: float = 0.0, fill: float | None = None
    ) -> None:
        self._data = data
        self._slope = float(slope)
        self._intercept = float(intercept)
        self._fill = fill

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_slices, rows, cols[, 3])``."""
        return tuple(int(s) for s in self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        """Always float32: the dtype of what indexing returns."""
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self._data.ndim

    @property
    def stored_dtype(self) -> np.dtype:
        """The dtype held in memory (as stored in the file)."""
        return self._data.dtype

    def __len__(self) -> int:
        return int(self._data.shape[0])

    def __getitem__(self, index: Any) -> np.ndarray:
        out = np.array(self._data[index], dtype=np.float32, copy=True)
        if self._slope != 1.0:
            out *= np.float32(self._slope)
        if self._intercept != 0.0:
            out += np.float32(self._intercept)
        if self._fill is not None:
            bad = ~np.isfinite(out)
            if bad.any():
                out[bad] = self._fill
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def preview(self, step: int) -> np.ndarray:
        """Every slice subsampled in-plane: ``self[:, ::step, ::step]``."""
        return self[:, ::step, ::step]

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        scale = f"slope={self._slope:g}, intercept={self._intercept:g}"
        return f"ArrayStack({shape}, stored {self._data.dtype}, {scale})"


class LazyStack:
    """A slice stack whose slices are decoded one by one by ``load(i)`` (float32, 2D or 2D x 3).

    Args:
        shape: ``(n_slices, rows, cols[, 3])``.
        load: returns slice ``i`` as a float32 array of shape ``shape[1:]``.
        cache_slices: how many decoded slices to keep (least recently used are dropped).
        preview: ``preview(i, step)`` returns ``load(i)[::step, ::step]`` more cheaply, or ``None`` when it
            cannot (then the slice is loaded in full).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        load: Callable[[int], np.ndarray],
        cache_slices: int = 16,
        preview: Callable[[int, int], np.ndarray | None] | None = None,
    ) -> None:
        self._shape = tuple(int(s) for s in shape)
        self._load = load
        self._preview = preview
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_slices = max(0, int(cache_slices))

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_slices, rows, cols[, 3])``."""
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        """Always float32."""
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self._shape)

    def __len__(self) -> int:
        return self._shape[0]

    def _slice(self, i: int) -> np.ndarray:
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        arr = self._load(i)
        if arr.shape != self._shape[1:] or arr.dtype != np.float32:
            arr = np.asarray(arr, dtype=np.float32).reshape(self._shape[1:])
        arr.setflags(write=False)
        if self._cache_slices:
            self._cache[i] = arr
            if len(self._cache) > self._cache_slices:
                self._cache.popitem(last=False)
        return arr

    def __getitem__(self, index: Any) -> np.ndarray:
        first, rest = _split_index(index)
        picked = np.arange(self._shape[0])[first]
        if np.ndim(picked) == 0:
            return np.array(self._slice(int(picked))[rest], dtype=np.float32, copy=True)
        parts = [self._slice(int(i))[rest] for i in np.ravel(picked)]
        if not parts:
            empty = np.empty((0, *self._shape[1:]), dtype=np.float32)
            index = (slice(None), *rest)
            return empty[index]
        return np.ascontiguousarray(
            np.stack(parts).reshape(np.shape(picked) + parts[0].shape), dtype=np.float32
        )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def preview(self, step: int) -> np.ndarray:
        """Every slice subsampled in-plane, ``self[:, ::step, ::step]``: from the cache, the loader's cheap
        subsampled read, or a full load, in that order of preference."""
        step = max(1, int(step))
        rows, cols = -(-self._shape[1] // step), -(-self._shape[2] // step)
        out = np.empty((self._shape[0], rows, cols, *self._shape[3:]), dtype=np.float32)
        for i in range(self._shape[0]):
            part = self._cache.get(i)
            if part is not None:
                part = part[::step, ::step]
            elif self._preview is not None:
                part = self._preview(i, step)
            if part is None or part.shape != out.shape[1:]:
                part = self._slice(i)[::step, ::step]
            out[i] = part
        return out

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self._shape)
        return f"LazyStack({shape}, decoded on demand)"


def finite_fill(
    data: np.ndarray, name: str, slope: float = 1.0, intercept: float = 0.0
) -> tuple[float | None, str | None]:
    """Value that replaces NaN/Inf voxels (the finite minimum, in physical units) and the warning to give.

    Scans the array slab by slab so no full-size temporary is made. Integer arrays are always finite.

    Returns:
        ``(None, None)`` when every voxel is finite, else ``(fill, warning)``.

    Raises:
        ScanReadError: no voxel is finite.
    """
    if data.dtype.kind not in "fc":
        return None, None
    flat_axis = data.ndim - 1 if data.flags.f_contiguous and not data.flags.c_contiguous else 0
    n_slabs = max(1, data.shape[flat_axis] if data.ndim else 1)
    step = max(1, n_slabs // 16)

    def slabs() -> Iterator[np.ndarray]:
        for start in range(0, n_slabs, step):
            index = [slice(None)] * data.ndim
            index[flat_axis] = slice(start, start + step)
            yield data[tuple(index)]

    bad = sum(int(s.size - np.count_nonzero(np.isfinite(s))) for s in slabs())
    if bad == 0:
        return None, None
    if bad == data.size:
        raise ScanReadError(f"{name}: every voxel is NaN or infinite: there is no image to score")
    lo, hi = math.inf, -math.inf
    for s in slabs():
        vals = s[np.isfinite(s)]
        if vals.size:
            lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
    fill = min(lo * slope + intercept, hi * slope + intercept)
    pct = 100.0 * bad / data.size
    return (
        fill,
        f"{name}: {bad} voxels ({pct:.2g} %) are NaN or infinite: replaced with the smallest value "
        f"({fill:g})",
    )
