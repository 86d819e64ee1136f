"""Size ceilings checked from headers before any pixel data is decoded (decompression-bomb guard).

Every reader checks, from the header and before it decodes or inflates anything:

- the voxels of the volume that is scored (``max_voxels``; a 4D input counts its first volume),
- the pixels of a 2D image (``max_pixels_2d``; PNG/JPEG/TIFF, colour DICOM),
- the bytes of a file, and the bytes a compressed stream (``.nii.gz``, ``.dcm.gz``, NRRD/MetaImage
  ``gzip``/``zlib``/``bzip2``) may inflate to (``max_file_bytes``). A gzip stream is inflated only up to
  what its header says the image needs, so a stream that inflates to far more (a gzip bomb) costs nothing.

The defaults hold a 512 x 512 x 2000 CT and a 14000 x 14000 photo. They can be changed per
:class:`~mediqa_sdk.Assessor` (``limits=ReadLimits(...)``), with ``mediqa score --max-voxels``, or with the
environment variables ``MEDIQA_MAX_VOXELS``, ``MEDIQA_MAX_PIXELS_2D`` and ``MEDIQA_MAX_FILE_BYTES`` (numbers
with an optional ``k``/``M``/``G`` (powers of 1000) or ``KiB``/``MiB``/``GiB`` suffix), read by
:meth:`ReadLimits.from_env`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputTooLargeError

__all__ = [
    "DEFAULT_LIMITS",
    "ENV_VARS",
    "ReadLimits",
    "check_file_size",
    "check_padded_square",
    "check_pixels_2d",
    "check_voxels",
    "parse_size",
]

#: environment variable -> :class:`ReadLimits` field
ENV_VARS = {
    "MEDIQA_MAX_VOXELS": "max_voxels",
    "MEDIQA_MAX_PIXELS_2D": "max_pixels_2d",
    "MEDIQA_MAX_FILE_BYTES": "max_file_bytes",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """``"600M"`` -> 600_000_000, ``"2GiB"`` -> 2 * 2**30, ``"1e6"`` or ``"1000"`` as numbers.

    Raises:
        ValueError: not a size.
    """
    match = _SIZE.match(str(text))
    if match is None:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a size (e.g. 600M, 2GiB, 1000000)") from None
    else:
        number, prefix, binary, _ = match.groups()
        base = 1024 if binary else 1000
        value = float(number) * base ** _POWERS[prefix.lower()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return int(value)


@dataclass(frozen=True)
class ReadLimits:
    """Ceilings a loader checks from the header before it decodes anything.

    Attributes:
        max_voxels: most voxels in one volume (the volume that is scored, after a 4D input is reduced to its
            first volume). Default 600 M: a 512 x 512 x 2288 CT (1.2 GB as int16).
        max_pixels_2d: most pixels in one 2D image (PNG, JPEG, TIFF, colour DICOM). Default 200 M.
        max_file_bytes: most bytes in one file, and most bytes one compressed stream may inflate to.
            Default 8 GiB.
    """

    max_voxels: int = 600_000_000
    max_pixels_2d: int = 200_000_000
    max_file_bytes: int = 8 * 2**30

    def __post_init__(self) -> None:
        for name in ("max_voxels", "max_pixels_2d", "max_file_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ReadLimits.{name} must be a positive integer, not {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: ReadLimits | None = None) -> ReadLimits:
        """``base`` (the defaults) with each ``MEDIQA_MAX_*`` variable that is set applied on top.

        Raises:
            ValueError: a variable holds something that is not a size (the message names it).
        """
        env = os.environ if environ is None else environ
        changes: dict[str, int] = {}
        for var, field in ENV_VARS.items():
            text = env.get(var, "").strip()
            if text:
                try:
                    changes[field] = parse_size(text)
                except ValueError as err:
                    raise ValueError(f"{var}: {err}") from None
        return replace(base or cls(), **changes)


DEFAULT_LIMITS = ReadLimits()


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}P"


def _raise_hint(setting: str) -> str:
    env = next(var for var, field in ENV_VARS.items() if field == setting)
    option = ", --max-voxels" if setting == "max_voxels" else ""
    return f"raise ReadLimits.{setting}{option} or {env} to read it"


def check_file_size(path: Path, size: int, limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when ``size`` bytes exceed ``limits.max_file_bytes``."""
    if size > limits.max_file_bytes:
        raise InputTooLargeError(
            f"{path.name}: file is {size / 2**30:.1f} GiB, above the limit of "
            f"{limits.max_file_bytes / 2**30:.1f} GiB ({_raise_hint('max_file_bytes')})"
        )


def check_voxels(name: str, shape: Sequence[int], limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when a volume of ``shape`` exceeds ``limits.max_voxels``."""
    n = math.prod(int(s) for s in shape)
    if n > limits.max_voxels:
        dims = "x".join(str(int(s)) for s in shape)
        raise InputTooLargeError(
            f"{name}: header claims a {dims} volume ({_human(n)} voxels), above the limit of "
            f"{_human(limits.max_voxels)} voxels ({_raise_hint('max_voxels')})"
        )


def check_padded_square(name: str, width: int, height: int, limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when the square a ``width`` x ``height`` slice is padded to for
    scoring, ``max(width, height)**2`` pixels, exceeds ``limits.max_pixels_2d`` (a 65000 x 1 image would
    otherwise need a 65000 x 65000 canvas)."""
    side = max(int(width), int(height))
    if side * side > limits.max_pixels_2d:
        raise InputTooLargeError(
            f"{name}: a {width}x{height} image is scored as a {side}x{side} square ({_human(side * side)} "
            f"pixels), above the limit of {_human(limits.max_pixels_2d)} pixels "
            f"({_raise_hint('max_pixels_2d')})"
        )


def check_pixels_2d(name: str, width: int, height: int, limits: ReadLimits) -> None:
    """Raise :class:`InputTooLargeError` when ``width`` x ``height`` exceeds ``limits.max_pixels_2d``."""
    n = int(width) * int(height)
    if n > limits.max_pixels_2d:
        raise InputTooLargeError(
            f"{name}: header claims a {width}x{height} image ({_human(n)} pixels), above the limit of "
            f"{_human(limits.max_pixels_2d)} pixels ({_raise_hint('max_pixels_2d')})"
        )
