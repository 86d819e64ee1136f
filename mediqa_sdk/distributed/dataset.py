"""The result dataset: a folder of Parquet part files (local or any fsspec URL), one row per manifest id.

Layout: ``OUTPUT/part-<run>-<n>.parquet``. A part is written under a hidden temporary name
(``.tmp-part-...``) and renamed when complete, so readers (pyarrow, DuckDB, Spark, which skip names starting
with ``.`` or ``_``) never see half a file, and a killed run loses only the blocks it had in flight. Parts
that cannot be read (a crash on a store without atomic rename, a truncated copy) are moved to
``OUTPUT/_quarantine/`` with a warning; leftover temporary files are removed.

Resume: for each id the *winning* row is its newest ``ok`` row, else its newest ``error`` row (newest by
``scored_at``, then part name). An id whose winner is ``ok`` is done; other rows of an id are stale and are
removed from their parts (rewritten atomically: temporary file, then rename). An id whose winner is an error
is scored again, and its old row is removed once the new one is written.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._deps import require
from .rows import STATUS_OK

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ResultDataset", "ResumePlan", "RowRef", "plan_resume"]

PART_PREFIX = "part-"
TMP_PREFIX = ".tmp-"
QUARANTINE = "_quarantine"
_READERS = 16


@dataclass(frozen=True)
class RowRef:
    """Where one row of an id is: its status (ok or not), when it was scored, and its part file."""

    ok: bool
    scored_at: Any
    part: str


@dataclass
class ResumePlan:
    """What resuming needs: ids already done, stale rows to drop now, error rows to drop once re-scored."""

    done: set[str] = field(default_factory=set)
    stale: dict[str, set[str]] = field(default_factory=dict)  # part -> ids
    retried: dict[str, list[str]] = field(default_factory=dict)  # id -> parts holding its error row


def plan_resume(index: dict[str, list[RowRef]], wanted: Iterable[str]) -> ResumePlan:
    """Decide, from where each id's rows are, which ids are done and which rows are stale."""
    plan = ResumePlan()
    wanted = set(wanted)
    for key, refs in index.items():
        winner = max(refs, key=lambda r: (r.ok, r.scored_at is not None, r.scored_at or 0, r.part))
        for ref in refs:
            if ref is not winner:
                plan.stale.setdefault(ref.part, set()).add(key)
        if winner.ok:
            plan.done.add(key)
        elif key in wanted:
            plan.retried[key] = [winner.part]
    return plan


class ResultDataset:
    """The part files under ``output`` (a local folder or an fsspec URL such as ``s3://bucket/results.parquet``).

    Args:
        output: the dataset folder; created when missing.
        warn: called with a one-line message for each part moved aside or temporary file removed.
    """

    def __init__(self, output: str, warn: Callable[[str], None] | None = None) -> None:
        fsspec = require("fsspec", "Parquet output")
        self.pq = require("pyarrow.parquet", "Parquet output")
        self.output = output
        self.fs, root = fsspec.core.url_to_fs(output)
        self.root = root.rstrip("/") or root
        self.warn = warn or (lambda message: None)

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, name) if self.root != "/" else "/" + name

    def _names(self) -> list[str]:
        self.fs.invalidate_cache(self.root)
        if not self.fs.exists(self.root):
            return []
        if not self.fs.isdir(self.root):
            raise FileExistsError(f"{self.output}: exists and is not a folder of Parquet parts")
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.root, detail=False))

    def parts(self) -> list[str]:
        """Names of the complete part files."""
        return [n for n in self._names() if n.startswith(PART_PREFIX) and n.endswith(".parquet")]

    def clear(self) -> int:
        """Remove every part (``--no-resume``); returns how many there were."""
        parts = self.parts()
        for name in parts:
            self.fs.rm(self._path(name))
        return len(parts)

    def index(self) -> dict[str, list[RowRef]]:
        """Where each id's rows are (after removing temporary files and moving unreadable parts aside)."""
        self.fs.makedirs(self.root, exist_ok=True)
        for name in self._names():
            if name.startswith(TMP_PREFIX):
                self.fs.rm(self._path(name), recursive=True)
                self.warn(f"{self.output}: removed {name}, a part file an interrupted run left unfinished")
        index: dict[str, list[RowRef]] = {}
        names = self.parts()
        with ThreadPoolExecutor(_READERS) as pool:  # an object store answers several reads at once
            tables = pool.map(self._read_index_columns, names)
        for name, table in zip(names, tables, strict=True):
            if isinstance(table, Exception):  # truncated or foreign file: keep it, out of the way
                self._quarantine(name, table)
                continue
            for key, status, when in zip(
                table.column("id").to_pylist(),
                table.column("status").to_pylist(),
                table.column("scored_at").to_pylist(),
                strict=True,
            ):
                index.setdefault(key, []).append(RowRef(status == STATUS_OK, when, name))
        return index

    def _read_index_columns(self, name: str) -> pa.Table | Exception:
        try:
            return self._read(name, columns=["id", "status", "scored_at"])
        except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
            return err

    def _read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open(self._path(name), "rb") as fh:
            return self.pq.read_table(fh, columns=columns)

    def _quarantine(self, name: str, err: BaseException) -> None:
        folder = self._path(QUARANTINE)
        self.fs.makedirs(folder, exist_ok=True)
        self.fs.mv(self._path(name), posixpath.join(folder, name))
        why = " ".join(str(err).split())[:120] or type(err).__name__
        self.warn(
            f"{self.output}: part {name} is unreadable ({why}); moved to {QUARANTINE}/, "
            "its rows are scored again"
        )

    def write_part(self, table: pa.Table, name: str) -> None:
        """Write ``table`` as part ``name``: a temporary file first, renamed when complete."""
        tmp = self._path(TMP_PREFIX + name)
        with self.fs.open(tmp, "wb") as fh:
            self.pq.write_table(table, fh, compression="zstd")
        self.fs.mv(tmp, self._path(name))

    def drop_rows(self, drops: dict[str, set[str]]) -> int:
        """Remove the rows of the given ids from each part (part -> ids), rewriting each part atomically; a
        part left empty is deleted. Returns the number of rows removed."""
        import pyarrow as pa
        import pyarrow.compute as pc

        removed = 0
        for name, ids in sorted(drops.items()):
            try:
                table = self._read(name)
            except FileNotFoundError:
                continue
            keep = pc.invert(pc.is_in(table.column("id"), value_set=pa.array(sorted(ids), pa.string())))
            kept = table.filter(keep)
            removed += table.num_rows - kept.num_rows
            if kept.num_rows == table.num_rows:
                continue
            if kept.num_rows:
                self.write_part(kept, name)
            else:
                self.fs.rm(self._path(name))
        return removed
