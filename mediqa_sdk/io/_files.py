"""File access shared by the loaders: bytes read once (with the size ceiling), hashing, gzip/zlib inflate.

``isal`` (Intel ISA-L) inflates two to three times faster than :mod:`zlib`; it is used when installed.
"""

from __future__ import annotations

import errno
import hashlib
import stat
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ScanReadError
from ._limits import ReadLimits, check_file_size

_zlib_impl: ModuleType
try:  # optional: faster inflate
    from isal import isal_zlib as _zlib_impl
except ImportError:  # pragma: no cover - depends on the environment
    _zlib_impl = zlib

__all__ = [
    "GZIP_MAGIC",
    "describe_os_error",
    "inflate",
    "inflate_prefix",
    "irregular_file_message",
    "read_bytes",
    "sha256_of_files",
]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def describe_os_error(path: Path, err: OSError) -> str:
    """One line naming ``path`` and what the operating system refused, in plain words."""
    if isinstance(err, PermissionError) or err.errno == errno.EACCES:
        why = "permission denied (check the file's read permissions)"
    elif isinstance(err, FileNotFoundError):
        why = "no such file or directory"
    elif isinstance(err, IsADirectoryError):
        why = "is a folder, not a file"
    else:
        why = err.strerror or str(err)
    return f"{path.name or path}: cannot read the file: {why}"


def irregular_file_message(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read (a named pipe, socket or device, whose reading
    could block forever or never end), or ``None`` when it is one (or cannot be inspected: the read then says
    why)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"{path.name or path}: not a regular file but {kind}: nothing to score (reading it could block)"


def read_bytes(path: Path, limits: ReadLimits) -> bytes:
    """Read a whole file once, after checking its size against ``limits.max_file_bytes``.

    Raises:
        ScanReadError: the file cannot be read.
        InputTooLargeError: the file is larger than the limit.
    """
    try:
        size = path.stat().st_size
        check_file_size(path, size, limits)
        with path.open("rb") as fh:
            return fh.read()
    except OSError as err:
        raise ScanReadError(describe_os_error(path, err)) from err


def sha256_of_files(paths: Iterable[Path]) -> str:
    """sha256 of the concatenated bytes of ``paths`` in the given order, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            with Path(path).open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
        except OSError as err:
            raise ScanReadError(describe_os_error(path, err)) from err
    return digest.hexdigest()


def _decompressobj(wbits: int) -> Any:
    return _zlib_impl.decompressobj(wbits=wbits)


def inflate(
    data: bytes | memoryview,
    name: str,
    *,
    wbits: int = 31,
    max_out: int | None = None,
    what: str = "gzip",
) -> bytes:
    """Inflate a gzip (``wbits=31``) or zlib (``wbits=15``; ``47`` detects either) stream.

    Concatenated gzip members (bgzip, parallel compressors) are inflated one after the other.

    Args:
        data: the compressed bytes.
        name: file name for error messages.
        wbits: window bits / container, as in :func:`zlib.decompressobj`.
        max_out: stop once this many bytes are produced (what the header says is needed); ``None`` for all.
        what: the stream's name in messages ("gzip", "zlib").

    Returns:
        The inflated bytes (at most ``max_out``).

    Raises:
        ScanReadError: the stream is truncated or corrupt.
    """
    parts: list[bytes] = []
    produced = 0
    view = memoryview(data)
    while True:
        dec = _decompressobj(wbits)
        try:
            chunk = dec.decompress(view) if max_out is None else dec.decompress(view, max_out - produced)
        except (zlib.error, _zlib_impl.error, OSError, ValueError) as err:  # isal raises its own error class
            raise ScanReadError(f"{name}: corrupt {what} stream ({err}); the file is damaged") from err
        parts.append(chunk)
        produced += len(chunk)
        if max_out is not None and produced >= max_out:
            break
        if not dec.eof:
            raise ScanReadError(f"{name}: truncated {what} stream (file ends early)")
        rest = dec.unused_data
        if not rest or wbits not in (31, 47) or bytes(rest[:2]) != GZIP_MAGIC:
            break
        view = memoryview(rest)
    return b"".join(parts)


def inflate_prefix(data: bytes, n: int, wbits: int = 31) -> bytes:
    """Up to the first ``n`` inflated bytes of a gzip/zlib stream; ``b""`` when it is not one."""
    try:
        return bytes(zlib.decompressobj(wbits).decompress(data, n))
    except zlib.error:
        return b""
