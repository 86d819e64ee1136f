"""Loading inputs into :class:`~mediqa_sdk.scan.Scan` objects: discovery, format detection and the readers.

>>> from mediqa_sdk.io import load_scan
>>> scan = load_scan("scan.nii.gz")  # doctest: +SKIP
>>> items, failures = discover_inputs(["study_dir"], recursive=True)  # doctest: +SKIP
>>> scans = [load_input(item) for item in items]  # doctest: +SKIP

Formats are detected from file content, never from the extension alone: DICOM (single files, series,
enhanced multi-frame, Siemens/UIH mosaics, ``.dcm.gz``), NIfTI-1/2 (``.nii``, ``.nii.gz``), NRRD, MetaImage,
PNG, JPEG and TIFF. Discovery rules are in :mod:`mediqa_sdk.io._discover`; display orientation rules in
:mod:`mediqa_sdk.io._volume` (NIfTI/NRRD/MetaImage) and :mod:`mediqa_sdk.io.dicom`. Heavy libraries (pydicom,
nibabel, OpenCV) are imported when a file of their format is read, so importing this package is cheap.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from ..errors import (
    InputTooLargeError,
    MediqaError,
    MultipleSeriesError,
    ScanReadError,
    UnsupportedFormatError,
)
from ..scan import Scan
from ._discover import InputItem, SeriesEntry, discover_entries, discover_inputs, unsupported_message
from ._files import describe_os_error, irregular_file_message
from ._limits import DEFAULT_LIMITS, ReadLimits
from ._sniff import detect_format

__all__ = [
    "DEFAULT_LIMITS",
    "InputItem",
    "ReadLimits",
    "discover_inputs",
    "load_file",
    "load_input",
    "load_scan",
]

# what a damaged file makes parsers raise; turned into ScanReadError with the file name
_DAMAGE = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    OverflowError,
    EOFError,
    zlib.error,
)


def _loader(kind: str | None) -> Callable[..., Scan] | None:
    if kind in ("dicom", "dicom-gz"):
        from .dicom import load_dicom

        def dicom(path: Path, limits: ReadLimits, label: str | None) -> Scan:
            return load_dicom([path], source=path, label=label, limits=limits)

        return dicom
    if kind == "nifti":
        from .nifti import load_nifti

        return load_nifti
    if kind == "nrrd":
        from .nrrd import load_nrrd

        return load_nrrd
    if kind == "metaimage":
        from .metaimage import load_metaimage

        return load_metaimage
    if kind in ("png", "jpeg", "tiff"):
        from .image2d import load_image2d

        return load_image2d
    return None


def _guarded(name: str, read: Callable[[], Scan]) -> Scan:
    """Run a reader; whatever a damaged file makes a parser raise becomes a one-line :class:`ScanReadError`
    (the exception type is named unless it is one damage usually raises)."""
    try:
        return read()
    except MediqaError:
        raise
    except MemoryError as err:
        raise InputTooLargeError(f"{name}: ran out of memory while reading it") from err
    except Exception as err:  # parsers of untrusted bytes raise anything (NotImplementedError, ...)
        text = " ".join(str(err).split())[:160] or type(err).__name__
        if not isinstance(err, _DAMAGE):
            text = f"{type(err).__name__}: {text}"
        raise ScanReadError(f"{name}: could not be read, the file looks damaged ({text})") from err


def load_file(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS, label: str | None = None) -> Scan:
    """Load one file of any supported format (detected from its content) as a :class:`Scan`.

    Raises:
        ScanReadError: missing, unreadable or damaged file (and the subclasses below).
        UnsupportedFormatError: not a format mediqa-sdk reads (or a DICOMDIR / Analyze pair).
        InputTooLargeError: the header claims more than ``limits`` allow.
        MissingDependencyError: compressed DICOM without an installed codec.
    """
    path = Path(path)
    irregular = irregular_file_message(path)
    if irregular is not None:
        raise ScanReadError(irregular)
    try:
        kind = detect_format(path)
    except OSError as err:
        raise ScanReadError(describe_os_error(path, err)) from err
    read = _loader(kind)
    if read is None:
        raise UnsupportedFormatError(unsupported_message(path, kind))
    return _guarded(path.name, lambda: read(path, limits, label))


def load_input(item: InputItem, limits: ReadLimits = DEFAULT_LIMITS) -> Scan:
    """Load one discovered item (a file, or the files of one DICOM series) as a :class:`Scan`.

    Raises:
        MediqaError: a subclass saying what is wrong, with a one-line message that starts with the file name.
    """
    if item.files:
        from .dicom import load_dicom

        return _guarded(
            item.label, lambda: load_dicom(item.files, source=item.path, label=item.label, limits=limits)
        )
    return load_file(item.path, limits, label=item.label)


def _pick_series(folder: Path, entries: list[SeriesEntry], series: str | None) -> SeriesEntry:
    listing = tuple(
        (e.item.series_uid or "", e.item.label.split(" [", 1)[-1].rstrip("]"), len(e.item.files))
        for e in entries
    )
    if series is None:
        if len(entries) == 1:
            return entries[0]
        shown = "; ".join(
            f"{e.key} = {e.description or 'no description'!r} ({len(e.item.files)} files)" for e in entries
        )
        raise MultipleSeriesError(
            f"{folder.name}: the folder holds {len(entries)} DICOM series, choose one with series= "
            f"(series number or SeriesInstanceUID): {shown}",
            listing,
        )
    wanted = str(series).strip()
    matches = [
        e
        for e in entries
        if wanted in (e.key, e.item.series_uid, str(e.number))
        or (e.item.series_uid and wanted == f"{e.item.series_uid}#{e.part}")
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(e.key for e in entries)
        raise MultipleSeriesError(
            f"{folder.name}: no DICOM series {wanted!r} in the folder (it holds: {known})", listing
        )
    keys = ", ".join(e.key for e in matches)
    raise MultipleSeriesError(
        f"{folder.name}: series {wanted!r} is split by image orientation or size into {len(matches)} parts: "
        f"choose one of {keys}",
        listing,
    )


def load_scan(path: str | Path, *, series: str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> Scan:
    """Load a file, or the DICOM series in a directory, as a :class:`Scan`.

    Args:
        path: a file of any supported format, or a directory holding DICOM files (not searched recursively).
        series: for a directory holding several series, the one to load: its SeriesNumber or
            SeriesInstanceUID (``"3#2"`` or ``"<uid>#2"`` picks part 2 of a series split by orientation/size).
            Ignored for a file.
        limits: ceilings checked from headers before decoding.

    Raises:
        MultipleSeriesError: the directory holds several series and ``series`` does not name exactly one
            (the error lists them: uid, description, number of files).
        ScanReadError: missing path, no DICOM series in the directory, or a damaged file.
        MediqaError: the other subclasses raised by the readers (too large, missing codec, unsupported).
    """
    path = Path(path)
    if not path.exists():
        why = "broken link (its target does not exist)" if path.is_symlink() else "no such file or directory"
        raise ScanReadError(f"{path}: {why}")
    if not path.is_dir():
        return load_file(path, limits, label=path.name)
    entries, failures = discover_entries([path])
    dicom = [e for e in entries if e.item.files]
    if not dicom:
        others = [e for e in entries if not e.item.files]
        hint = f" ({len(others)} other image files: pass one of them)" if others else ""
        if not others and failures:
            raise failures[0][1]
        raise ScanReadError(f"{path.name}: no DICOM series in this folder{hint}")
    return load_input(_pick_series(path, dicom, series).item, limits)
