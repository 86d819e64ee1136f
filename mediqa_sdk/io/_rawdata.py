"""Decoding the raw voxel block shared by the NRRD and MetaImage readers (pure numpy)."""

from __future__ import annotations

import bz2
import math

import numpy as np

from ..errors import InputTooLargeError, ScanReadError, UnsupportedFormatError
from ._files import inflate
from ._limits import ReadLimits

__all__ = ["decode_block"]


def decode_block(
    payload: bytes | memoryview,
    *,
    name: str,
    encoding: str,
    dtype: np.dtype,
    count: int,
    byte_skip: int,
    limits: ReadLimits,
) -> np.ndarray:
    """Turn the data part of a file into a flat array of ``count`` values.

    Args:
        payload: the bytes after the header (or of the detached data file).
        name: file name for messages.
        encoding: ``raw``, ``gzip``, ``zlib``, ``bzip2``, ``ascii`` or ``hex``.
        dtype: element type, with its byte order.
        count: number of elements expected.
        byte_skip: bytes to skip before the data (after decompression); ``-1``: the data end the file.
        limits: ``max_file_bytes`` bounds the inflated size.

    Raises:
        UnsupportedFormatError: unknown encoding.
        ScanReadError: not enough data, or a damaged compressed stream.
        InputTooLargeError: the data would inflate beyond ``limits.max_file_bytes``.
    """
    nbytes = count * dtype.itemsize
    if nbytes > limits.max_file_bytes:
        raise InputTooLargeError(
            f"{name}: the header claims {nbytes / 2**30:.1f} GiB of voxel data, above the "
            f"limit of {limits.max_file_bytes / 2**30:.1f} GiB"
        )
    skip = max(byte_skip, 0)
    if encoding == "raw":
        buf: bytes | memoryview = payload
    elif encoding in ("gzip", "zlib"):
        what = encoding
        buf = inflate(payload, name, wbits=47, max_out=skip + nbytes if byte_skip >= 0 else None, what=what)
    elif encoding == "bzip2":
        try:
            dec = bz2.BZ2Decompressor()
            buf = dec.decompress(bytes(payload), max_length=skip + nbytes if byte_skip >= 0 else -1)
        except (OSError, ValueError) as err:
            raise ScanReadError(f"{name}: corrupt bzip2 stream ({err}); the file is damaged") from err
    elif encoding in ("ascii", "text"):
        try:
            values = np.array(bytes(payload).decode("ascii").split(), dtype=np.float64)
        except (UnicodeDecodeError, ValueError) as err:
            raise ScanReadError(f"{name}: unreadable text-encoded voxel values ({err})") from err
        if values.size < count:
            raise ScanReadError(
                f"{name}: the file holds {values.size} of the {count} values its header claims"
            )
        return values[:count].astype(dtype.newbyteorder("="))
    elif encoding == "hex":
        try:
            buf = bytes.fromhex(bytes(payload).decode("ascii"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ScanReadError(f"{name}: unreadable hex-encoded voxel data ({err})") from err
    else:
        raise UnsupportedFormatError(
            f"{name}: data encoding {encoding!r} is not supported (raw, gzip, zlib, bzip2, ascii and hex are)"
        )
    if byte_skip < 0:
        skip = max(len(buf) - nbytes, 0)
    if len(buf) - skip < nbytes:
        have = max(len(buf) - skip, 0)
        raise ScanReadError(
            f"{name}: the file holds {have} of the {nbytes} bytes of voxel data its header claims: "
            "it is truncated"
        )
    return np.frombuffer(buf, dtype=dtype, count=count, offset=skip)


def product(values: list[int]) -> int:
    """Product of sizes, as a Python int."""
    return math.prod(int(v) for v in values)
