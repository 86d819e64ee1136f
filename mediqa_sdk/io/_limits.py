"""Size ceilings checked from headers before any pixel data is decoded (decompression-bomb guard)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputTooLargeError

__all__ = ["DEFAULT_LIMITS", "ReadLimits", "check_file_size", "check_pixels_2d", "check_voxels"]


@dataclass(frozen=True)
class ReadLimits:
    """Ceilings a loader checks from the header before it decodes anything.

    Attributes:
        max_voxels: most voxels in one volume (the volume that is scored, after a 4D input is reduced to its
            first volume).
        max_pixels_2d: most pixels in one 2D image (PNG, JPEG, TIFF).
        max_file_bytes: most bytes in one file, compressed or inflated.
    """

    max_voxels: int = 600_000_000
    max_pixels_2d: int = 200_000_000
    max_file_bytes: int = 8 * 2**30


DEFAULT_LIMITS = ReadLimits()


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}P"


def check_file_size(path: Path, size: int, limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when ``size`` bytes exceed ``limits.max_file_bytes``."""
    if size > limits.max_file_bytes:
        raise InputTooLargeError(
            f"{path.name}: file is {size / 2**30:.1f} GiB, above the limit of "
            f"{limits.max_file_bytes / 2**30:.1f} GiB (raise ReadLimits.max_file_bytes to read it)"
        )


def check_voxels(name: str, shape: Sequence[int], limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when a volume of ``shape`` exceeds ``limits.max_voxels``."""
    n = math.prod(int(s) for s in shape)
    if n > limits.max_voxels:
        dims = "x".join(str(int(s)) for s in shape)
        raise InputTooLargeError(
            f"{name}: header claims a {dims} volume ({_human(n)} voxels), above the limit of "
            f"{_human(limits.max_voxels)} voxels (raise ReadLimits.max_voxels to read it)"
        )


def check_pixels_2d(name: str, width: int, height: int, limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when ``width`` x ``height`` exceeds ``limits.max_pixels_2d``."""
    n = int(width) * int(height)
    if n > limits.max_pixels_2d:
        raise InputTooLargeError(
            f"{name}: header claims a {width}x{height} image ({_human(n)} pixels), above the limit of "
            f"{_human(limits.max_pixels_2d)} pixels (raise ReadLimits.max_pixels_2d to read it)"
        )
