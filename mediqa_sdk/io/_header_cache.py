"""DICOM headers parsed once: discovery parses each file's header the way the loader does and leaves it here.

Grouping a folder into series needs every file's header, and loading a series needs the same headers again
(geometry, rescale, where the pixel data start). :func:`parse_header` parses a file exactly as the loader's
:func:`~mediqa_sdk.io._dicom_meta.read_header` does (pydicom, values over 4 KiB such as the pixel data
deferred: read from the file only when used), except that it stops before the functional group sequences of
an enhanced multi-frame object, which discovery does not need and which can be large; such a partial header
is never kept. :func:`keep` stores a complete header, and :func:`take` hands it to the loader, once, if the
file is unchanged since it was parsed (same size, modification and change times, inode and device), else the
loader parses the file again.

Bounded: at most :data:`MAX_HEADERS` headers are kept (the oldest are dropped first), and a header leaves the
store when it is taken. :func:`clear` drops them all (a worker process that reads the files parses them
itself).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._dicom_meta import _DEFER_BYTES

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["MAX_HEADERS", "FileStamp", "clear", "keep", "parse_header", "take"]

#: most headers kept at once (a header takes about 15-130 KiB of memory)
MAX_HEADERS = 1024

# (5200,9229) Shared and (5200,9230) Per-frame Functional Groups Sequence of enhanced objects
_FUNCTIONAL_GROUPS = (0x52009229, 0x52009230)

FileStamp = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device

_store: OrderedDict[str, tuple[FileStamp, Dataset]] = OrderedDict()
_lock = threading.Lock()


def _stamp(path: Path) -> FileStamp:
    st = Path(path).stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def parse_header(path: Path) -> tuple[Dataset, FileStamp | None]:
    """The dataset of ``path`` as the loader reads it, and the file's stamp; the stamp is ``None`` when the
    parse stopped at the functional groups of an enhanced object (the dataset then lacks them).

    Raises:
        OSError: the file cannot be read.
        Exception: whatever pydicom raises on a damaged header.
    """
    from pydicom.filereader import read_partial

    stopped = False

    def at_functional_groups(tag: Any, vr: Any, length: Any) -> bool:
        nonlocal stopped
        stopped = int(tag) in _FUNCTIONAL_GROUPS
        return stopped

    stamp = _stamp(path)  # before reading: a change during the parse makes the stamp stale
    with Path(path).open("rb") as fh:  # as pydicom.dcmread(path, force=True, defer_size=...) opens it
        ds = read_partial(fh, stop_when=at_functional_groups, defer_size=_DEFER_BYTES, force=True)
    return ds, None if stopped else stamp


def keep(path: Path, ds: Dataset, stamp: FileStamp) -> None:
    """Keep the complete header ``ds`` of ``path`` (parsed when the file had ``stamp``) for :func:`take`."""
    key = os.fspath(path)
    with _lock:
        _store[key] = (stamp, ds)
        _store.move_to_end(key)
        while len(_store) > MAX_HEADERS:
            _store.popitem(last=False)


def take(path: Path) -> tuple[Dataset, int] | None:
    """The kept header of ``path`` and the file's size, if the file is unchanged since; ``None`` otherwise.
    Removes it from the store."""
    with _lock:
        entry = _store.pop(os.fspath(path), None)
    if entry is None:
        return None
    stamp, ds = entry
    try:
        if _stamp(path) != stamp:
            return None
    except OSError:
        return None
    return ds, stamp[0]


def clear() -> None:
    """Drop every kept header."""
    with _lock:
        _store.clear()
