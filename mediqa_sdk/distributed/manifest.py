"""Manifests of scans to score: a CSV or Parquet table with one row per scan.

Columns (names are case-insensitive; others are ignored):

- ``path`` (required): a local file or DICOM series folder (relative paths are relative to the manifest's
  folder), or an fsspec URL (``s3://``, ``gs://``, ``file://``, ``zip://member::file:///archive.zip``).
- ``id`` (optional): the key of the result row; default: the path as written. Ids must be unique.
- ``modality``, ``region``, ``type`` (optional): prompt overrides; empty means automatic.
- ``series`` (optional): for a folder holding several DICOM series, the one to score (number or UID).

CSV manifests are read with the standard library; Parquet manifests and URLs need the ``[ray]`` extra.
"""

from __future__ import annotations

import csv
import io
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..manifests import ManifestError
from ._deps import require

__all__ = ["PROMPT_COLUMNS", "ManifestError", "ScanRequest", "is_url", "read_scan_manifest"]

PROMPT_COLUMNS = ("modality", "region", "type")
_AUTOMATIC = frozenset({"", "auto", "none", "nan", "null"})
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class ScanRequest:
    """One manifest row: what to score and under which key.

    Attributes:
        id: the result's key.
        path: absolute local path or URL.
        modality, region, type: prompt overrides (``None``: automatic).
        series: DICOM series to pick in a folder holding several (``None``: the only one).
    """

    id: str
    path: str
    modality: str | None = None
    region: str | None = None
    type: str | None = None
    series: str | None = None

    def overrides(self) -> dict[str, str]:
        """The prompt overrides that are set."""
        return {k: v for k in PROMPT_COLUMNS if (v := getattr(self, k)) is not None}


def is_url(path: str) -> bool:
    """True for fsspec URLs (``scheme://...`` or a chained ``a::b`` URL), False for local paths."""
    head = path.split("::", 1)[0]
    return "::" in path or ("://" in head and head.split("://", 1)[0].replace("+", "").isalnum())


def read_scan_manifest(manifest: str | Path) -> list[ScanRequest]:
    """Read a manifest of scans (see the module docstring for its columns).

    Raises:
        ManifestError: missing or unreadable file, no ``path`` column, an empty path, duplicate ids, no rows
            (one line naming the file and the problem).
        MissingDependencyError: a Parquet manifest or a URL without the ``[ray]`` extra.
    """
    name = str(manifest)
    rows = _read_rows(name)
    if not rows.columns:
        raise ManifestError(f"{name}: the manifest is empty (no header row)")
    if "path" not in rows.columns:
        raise ManifestError(f"{name}: the manifest has no 'path' column (columns: {', '.join(rows.columns)})")
    if not rows.records:
        raise ManifestError(f"{name}: the manifest has no rows")
    base = _base_of(name)
    requests: list[ScanRequest] = []
    seen: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for number, record in enumerate(rows.records, start=1):
        written = _text(record.get("path"))
        if written is None:
            raise ManifestError(f"{name}: row {number} has an empty path")
        key = _text(record.get("id")) or written
        if key in seen:
            duplicates.append((key, seen[key], number))
        seen.setdefault(key, number)
        prompts = {k: _prompt(record.get(k)) for k in PROMPT_COLUMNS}
        requests.append(
            ScanRequest(key, _resolve(base, written), series=_text(record.get("series")), **prompts)
        )
    if duplicates:
        key, first, again = duplicates[0]
        more = f" ({len(duplicates)} duplicates in all)" if len(duplicates) > 1 else ""
        raise ManifestError(
            f"{name}: duplicate id {key!r} in rows {first} and {again}{more}; ids must be unique "
            "(add an 'id' column)"
        )
    return requests


@dataclass(frozen=True)
class _Rows:
    columns: tuple[str, ...]
    records: list[Mapping[str, Any]]


def _read_rows(name: str) -> _Rows:
    url = is_url(name)
    if not url and not Path(name).exists():
        raise ManifestError(f"{name}: manifest not found")
    try:
        if url:
            fsspec = require("fsspec", f"reading the manifest {name}")
            with fsspec.open(name, "rb") as fh:
                data = fh.read()
        elif Path(name).is_dir():
            return _parquet_rows(name, name)
        else:
            data = Path(name).read_bytes()
    except FileNotFoundError as err:
        raise ManifestError(f"{name}: manifest not found") from err
    except OSError as err:
        raise ManifestError(f"{name}: manifest not readable ({err.strerror or err})") from err
    if data[:4] == b"PAR1" or name.lower().endswith(_PARQUET_SUFFIXES):
        return _parquet_rows(name, io.BytesIO(data))
    return _csv_rows(name, data)


def _csv_rows(name: str, data: bytes) -> _Rows:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{name}: not a UTF-8 CSV file ({err.reason} at byte {err.start})") from err
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        columns = tuple(c.strip().lower() for c in header)
        records = [dict(zip(columns, row, strict=False)) for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise ManifestError(f"{name}: not a readable CSV file ({err})") from err
    return _Rows(columns, records)  # type: ignore[arg-type]


def _parquet_rows(name: str, source: Any) -> _Rows:
    pq = require("pyarrow.parquet", f"the Parquet manifest {name}")
    try:
        table = pq.read_table(source)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... on damaged files
        raise ManifestError(
            f"{name}: not a readable Parquet file ({' '.join(str(err).split())[:160]})"
        ) from err
    columns = tuple(str(c).strip().lower() for c in table.column_names)
    table = table.rename_columns(list(columns))
    return _Rows(columns, table.to_pylist())


def _text(value: Any) -> str | None:
    """A cell as stripped text; ``None`` for empty cells, nulls and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _prompt(value: Any) -> str | None:
    text = _text(value)
    return None if text is None or text.lower() in _AUTOMATIC else text.lower()


def _base_of(manifest: str) -> str:
    if is_url(manifest):
        return manifest.rsplit("/", 1)[0] if "::" not in manifest else ""
    return str(Path(manifest).absolute().parent)


def _resolve(base: str, written: str) -> str:
    if is_url(written):
        return written
    if is_url(base):
        return written if written.startswith("/") else posixpath.join(base, written)
    path = Path(written).expanduser()
    return str(path if path.is_absolute() or not base else Path(base) / path)
