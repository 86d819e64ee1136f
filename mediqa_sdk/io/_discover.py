"""Expanding paths (CLI arguments) into scoreable items: single files and DICOM series.

Rules:

- **A file argument is one item**, whatever its extension. Its format is detected from its content:
  the DICOM preamble (``DICM`` at byte 128) or a DICOM stream without preamble that pydicom parses, a
  NIfTI-1/2 header (plain or inside gzip), gzip-wrapped DICOM (``.dcm.gz``), the PNG/JPEG/TIFF
  signatures, ``NRRD000x`` and the MetaImage ``Key = Value`` header. A DICOMDIR, an Analyze/NIfTI pair
  header or an unknown format is reported as a failure with a message saying why.
- **A directory argument**: its DICOM files (plain or ``.dcm.gz``) are grouped into series by
  SeriesInstanceUID (files without one are grouped per folder), and each series is split further by image
  orientation and rows/columns so a series never mixes geometries; one item per series (labelled
  ``"dir [series 3: CHEST 1mm]"``, with ``", part 2/3"`` for a split). Other supported files in it are single
  items. Subdirectories are descended only with ``recursive=True``; every folder is visited once (symlink
  loops are cut by tracking resolved real paths) and a series spread over several folders of one argument is
  one item. Hidden files and folders (name starting with ``.``), DICOMDIR index files, DICOM objects without
  pixel data (structured reports, presentation states, RT plans) and companion files with a non-image
  extension (``.json``, ``.txt``, ``.md``, ``.csv``, ``.bval``, ``.bvec``, raw data files of
  ``.nhdr``/``.mhd`` headers, ...) or name (README, LICENSE, ...) are skipped quietly; any other
  unreadable or unrecognised file is a failure.
- Nonexistent paths, permission problems and unknown formats never raise: they are returned as
  ``(path, error)`` pairs, each with a one-line message that starts with the file name. So are empty files,
  named pipes, sockets and devices given as arguments (never opened: reading a pipe could block), and a
  folder argument in which nothing scoreable was found (a folder never vanishes from a batch silently).
- Items keep the order of the arguments; within one argument they are sorted by path, then series number,
  then UID. The same file or series reached twice is listed once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediqaError, ScanReadError, UnsupportedFormatError
from . import _header_cache
from ._dicom_meta import DicomSummary, read_summary, summary_of
from ._files import describe_os_error, irregular_file_message
from ._sniff import detect_format

__all__ = ["InputItem", "SeriesEntry", "discover_entries", "discover_inputs", "unsupported_message"]

# companions of images that are not images themselves: skipped quietly inside folders
_QUIET_EXTENSIONS = frozenset(
    [
        ".json",
        ".txt",
        ".md",
        ".rst",
        ".csv",
        ".tsv",
        ".bval",
        ".bvec",
        ".xml",
        ".html",
        ".htm",
        ".pdf",
        ".py",
        ".log",
        ".yaml",
        ".yml",
        ".ini",
        ".cfg",
        ".toml",
        ".sh",
        ".bat",
        ".raw",
        ".zraw",
        ".img",
    ]  # the last three: data halves of .nhdr / .mhd / .hdr headers
)
_QUIET_SUFFIXES = (".raw.gz", ".img.gz")
_QUIET_NAMES = frozenset(
    {
        "dicomdir",
        "readme",
        "license",
        "licence",
        "copying",
        "notice",
        "authors",
        "changelog",
        "thumbs.db",
        "desktop.ini",
    }
)
_ORIENTATION_TOL = 0.01
_DICOM_KINDS = ("dicom", "dicom-gz")


@dataclass(frozen=True)
class InputItem:
    """One thing to score: a file, or one DICOM series (its files listed).

    Attributes:
        path: the file, or the directory holding the series.
        label: short name for tables, e.g. ``"scan.nii.gz"`` or ``"CT_dir [series 3: CHEST 1mm]"``.
        series_uid: SeriesInstanceUID of a DICOM item, when known.
        files: the series' files (empty for single files).
    """

    path: Path
    label: str
    series_uid: str | None = None
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SeriesEntry:
    """An item plus what is needed to pick a series by number or UID (used by ``load_scan``)."""

    item: InputItem
    number: int | None = None
    description: str = ""
    part: int = 0  # 1-based part of a split series, 0 when not split

    @property
    def key(self) -> str:
        """How a caller names this series: ``"<number or uid>"``, with ``"#<part>"`` for a split series."""
        base = str(self.number) if self.number is not None else (self.item.series_uid or "")
        return f"{base}#{self.part}" if self.part else base


def unsupported_message(path: Path, kind: str | None) -> str:
    """One-line reason why a detected (or undetected) format cannot be scored."""
    name = path.name
    if kind is None:
        try:
            empty = path.stat().st_size == 0
        except OSError:
            empty = False
        if empty:
            return f"{name}: the file is empty (0 bytes)"
    if kind == "dicomdir":
        return (
            f"{name}: a DICOMDIR is an index of a DICOM disc or folder, not an image: pass the folder that "
            "holds the image files instead"
        )
    if kind == "analyze":
        return (
            f"{name}: Analyze or NIfTI pair header (.hdr/.img) is not supported: convert it to a .nii.gz file"
        )
    return (
        f"{name}: not a recognised image format (expected DICOM, NIfTI, NRRD, MetaImage, PNG, JPEG or TIFF)"
    )


def _quiet(path: Path) -> bool:
    name = path.name.lower()
    stem = name.split(".", 1)[0]
    return (
        path.suffix.lower() in _QUIET_EXTENSIONS
        or name.endswith(_QUIET_SUFFIXES)
        or name in _QUIET_NAMES
        or stem in _QUIET_NAMES
    )


def _walk(root: Path, recursive: bool) -> tuple[list[Path], list[tuple[Path, MediqaError]]]:
    """Files under ``root`` (its own files, plus subfolders when ``recursive``), each folder visited once."""
    files: list[Path] = []
    failures: list[tuple[Path, MediqaError]] = []
    visited = {os.path.realpath(root)}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            failures.append(
                (
                    folder,
                    ScanReadError(
                        f"{folder.name}: cannot list the folder: "
                        f"{describe_os_error(folder, err).split(': ', 2)[-1]}"
                    ),
                )
            )
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError:
                is_dir = is_file = False
            if is_dir:
                if recursive:
                    real = os.path.realpath(path)
                    if real not in visited:
                        visited.add(real)
                        subfolders.append(path)
            elif is_file:
                files.append(path)
            elif entry.is_symlink():
                failures.append(
                    (path, ScanReadError(f"{entry.name}: broken link (its target does not exist)"))
                )
        pending.extend(reversed(subfolders))
    return files, failures


def _series_label(folder_label: str, summary: DicomSummary, part: int, parts: int) -> str:
    number = summary.series_number if summary.series_number is not None else "?"
    text = f"series {number}"
    if summary.description:
        text += f": {summary.description}"
    if parts > 1:
        text += f", part {part}/{parts}"
    return f"{folder_label} [{text}]"


def _split_geometry(members: list[DicomSummary]) -> list[list[DicomSummary]]:
    """Split one series into groups of equal rows/cols and orientation (within 0.01 of each cosine)."""
    groups: list[tuple[tuple[int | None, int | None], tuple[float, ...] | None, list[DicomSummary]]] = []
    for s in members:
        for size, ori, group in groups:
            same = (ori is None and s.orientation is None) or (
                ori is not None
                and s.orientation is not None
                and float(np.max(np.abs(np.subtract(ori, s.orientation)))) < _ORIENTATION_TOL
            )
            if size == (s.rows, s.cols) and same:
                group.append(s)
                break
        else:
            groups.append(((s.rows, s.cols), s.orientation, [s]))
    return [g[2] for g in groups]


def _folder_label(root: Path, folder: Path) -> str:
    base = Path(root).absolute().name or str(root)
    try:
        rel = folder.relative_to(root)
    except ValueError:
        return folder.name
    return base if str(rel) in ("", ".") else f"{base}/{rel.as_posix()}"


def _sort_key(entry: SeriesEntry) -> tuple[str, int, int, str, int, str]:
    """Folder, then series before single files, then series number, UID, part, file path."""
    item = entry.item
    folder = item.path if item.files else item.path.parent
    number = entry.number if entry.number is not None else 1 << 62
    return (str(folder), 0 if item.files else 1, number, item.series_uid or "", entry.part, str(item.path))


def _summary(path: Path, kind: str) -> DicomSummary:
    """Grouping facts of one DICOM file. A plain file's header is parsed as the loader parses it and kept for
    the loader (:mod:`._header_cache`), so a series' headers are parsed once; a damaged header is parsed
    again by :func:`read_summary`, which says what is wrong (as does a ``.dcm.gz``).

    Raises:
        ScanReadError: unreadable or damaged header.
    """
    if kind == "dicom":
        try:
            ds, stamp = _header_cache.parse_header(path)
            summary = summary_of(path, ds)
        except Exception:  # read_summary below raises the one-line error, or reads what the parse could not
            pass
        else:
            if stamp is not None and summary.has_pixels:
                _header_cache.keep(path, ds, stamp)
            return summary
    return read_summary(path, gz=kind == "dicom-gz")


def _discover_dir(root: Path, recursive: bool) -> tuple[list[SeriesEntry], list[tuple[Path, MediqaError]]]:
    files, failures = _walk(root, recursive)
    singles: list[SeriesEntry] = []
    dicoms: list[DicomSummary] = []
    for path in files:
        if _quiet(path):
            continue
        try:
            kind = detect_format(path)
        except OSError as err:
            failures.append((path, ScanReadError(describe_os_error(path, err))))
            continue
        if kind in _DICOM_KINDS:
            try:
                summary = _summary(path, kind)
            except MediqaError as err:
                failures.append((path, err))
                continue
            if summary.has_pixels:
                dicoms.append(summary)
            continue  # SR, presentation states, KOs: companions of a study, nothing to score
        if kind == "dicomdir":
            continue
        if kind is None or kind == "analyze":
            failures.append((path, UnsupportedFormatError(unsupported_message(path, kind))))
            continue
        label = _folder_label(root, path.parent) + "/" + path.name
        singles.append(SeriesEntry(InputItem(path=path, label=label)))

    by_series: dict[str, list[DicomSummary]] = {}
    for s in dicoms:
        key = s.series_uid or f"no-uid:{s.path.parent}"
        by_series.setdefault(key, []).append(s)
    entries: list[SeriesEntry] = []
    for members in by_series.values():
        parts = _split_geometry(members)
        for k, part in enumerate(parts, start=1):
            part.sort(key=lambda s: str(s.path))
            paths = tuple(s.path for s in part)
            folder = Path(os.path.commonpath([str(p.parent) for p in paths]))
            head = part[0]
            label = _series_label(_folder_label(root, folder), head, k, len(parts))
            item = InputItem(path=folder, label=label, series_uid=head.series_uid or None, files=paths)
            entries.append(
                SeriesEntry(item, head.series_number, head.description, k if len(parts) > 1 else 0)
            )
    entries.extend(singles)
    entries.sort(key=_sort_key)
    return entries, failures


def _nothing_found(path: Path, arg: str | Path, recursive: bool) -> str:
    hint = ""
    if not recursive:
        try:
            if any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(path)):
                hint = " (it has subfolders: search them with recursive=True / --recursive)"
        except OSError:
            pass
    where = "the folder and its subfolders" if recursive else "the folder"
    return (
        f"{arg}: no images found in {where}{hint}; DICOM objects without pixel data, DICOMDIR indexes and "
        "companion files are skipped"
    )


def _discover_file(path: Path, label: str) -> tuple[list[SeriesEntry], list[tuple[Path, MediqaError]]]:
    irregular = irregular_file_message(path)
    if irregular is not None:
        return [], [(path, ScanReadError(irregular))]
    try:
        kind = detect_format(path)
    except OSError as err:
        return [], [(path, ScanReadError(describe_os_error(path, err)))]
    if kind is None or kind in ("dicomdir", "analyze"):
        return [], [(path, UnsupportedFormatError(unsupported_message(path, kind)))]
    uid = None
    if kind in _DICOM_KINDS:
        try:
            uid = _summary(path, kind).series_uid or None
        except MediqaError as err:
            return [], [(path, err)]
    return [SeriesEntry(InputItem(path=path, label=label, series_uid=uid))], []


def discover_entries(
    paths: Iterable[str | Path], recursive: bool = False
) -> tuple[list[SeriesEntry], list[tuple[Path, MediqaError]]]:
    """Like :func:`discover_inputs`, with the series number and description of each DICOM item."""
    entries: list[SeriesEntry] = []
    failures: list[tuple[Path, MediqaError]] = []
    seen: set[tuple[str, ...]] = set()
    for arg in paths:
        path = Path(arg)
        if not path.exists():
            why = (
                "broken link (its target does not exist)"
                if path.is_symlink()
                else "no such file or directory"
            )
            failures.append((path, ScanReadError(f"{arg}: {why}")))
            continue
        if path.is_dir():
            found, failed = _discover_dir(path, recursive)
            if not found and not failed:  # never let a folder argument vanish from a batch silently
                failed = [(path, ScanReadError(_nothing_found(path, arg, recursive)))]
        else:
            found, failed = _discover_file(path, path.name)
        failures.extend(failed)
        for entry in found:
            files = entry.item.files or (entry.item.path,)
            key = tuple(os.path.realpath(f) for f in files)
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return entries, failures


def discover_inputs(
    paths: Iterable[str | Path], recursive: bool = False
) -> tuple[list[InputItem], list[tuple[Path, MediqaError]]]:
    """Expand CLI arguments into scoreable items plus per-path failures (never raises for one bad path).

    See the module docstring for the rules.

    Args:
        paths: files and/or directories.
        recursive: descend into subdirectories of directory arguments.

    Returns:
        ``(items, failures)``: items in a deterministic order, and ``(path, error)`` for every path that could
        not become an item, each error with a one-line message starting with the file name.
    """
    entries, failures = discover_entries(paths, recursive)
    return [e.item for e in entries], failures
