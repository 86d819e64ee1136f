"""Scoring a batch of manifest rows with one :class:`~mediqa_sdk.Assessor`: the work of one Ray actor call,
and of the serial engine.

Every request gives exactly one :class:`Scored`, in request order. Each path must name one scan (a file, or
one DICOM series of a folder); rows with the same prompt overrides are scored together; anything that goes
wrong is that row's error. URLs are fetched to a temporary folder, several at a time, in chunks of
``batch_size`` rows: the next chunk is fetched while the current one is scored, and each chunk's copies are
removed once it is scored, so a worker holds at most two chunks of inputs on disk.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MediqaError, ScanReadError
from ..io import InputItem
from .fetch import fetch
from .manifest import ScanRequest, is_url

if TYPE_CHECKING:
    from ..assessor import Assessor, ScoreOutcome

__all__ = ["Scored", "score_requests"]

_FETCH_THREADS = 8
_Located = tuple["Path | str | MediqaError", float]  # local path (fetched: a Path) or error, fetch seconds


@dataclass(frozen=True)
class Scored:
    """One manifest row scored: its request, the outcome (result or error), and seconds spent fetching it."""

    request: ScanRequest
    outcome: ScoreOutcome
    fetch_seconds: float = 0.0


def score_requests(
    assessor: Assessor, requests: Sequence[ScanRequest], *, batch_size: int = 8
) -> list[Scored]:
    """Score ``requests``; never raises for a bad row (its outcome carries the error)."""
    if not any(is_url(r.path) for r in requests):  # local paths only: one run, reads overlap inference
        return _score_located(assessor, requests, [(r.path, 0.0) for r in requests], batch_size)
    size = max(1, batch_size)
    chunks = [requests[i : i + size] for i in range(0, len(requests), size)]
    out: list[Scored] = []
    with (
        tempfile.TemporaryDirectory(prefix="mediqa-fetch-") as tmp,
        ThreadPoolExecutor(_FETCH_THREADS, thread_name_prefix="mediqa-fetch") as pool,
    ):
        folders = [Path(tmp) / str(k) for k in range(len(chunks))]
        ahead = _fetch_chunk(pool, chunks[0], folders[0])
        for k, chunk in enumerate(chunks):
            located = [f.result() for f in ahead]
            if k + 1 < len(chunks):
                ahead = _fetch_chunk(pool, chunks[k + 1], folders[k + 1])
            out.extend(_score_located(assessor, chunk, located, batch_size))
            shutil.rmtree(folders[k], ignore_errors=True)
    return out


def _fetch_chunk(
    pool: ThreadPoolExecutor, chunk: Sequence[ScanRequest], folder: Path
) -> list[Future[_Located]]:
    """Start fetching the URLs of ``chunk`` into ``folder`` (one sub-folder per row: names never collide)."""

    def one(k: int, req: ScanRequest) -> _Located:
        if not is_url(req.path):
            return req.path, 0.0
        t0 = time.perf_counter()
        target = folder / str(k)
        target.mkdir(parents=True)
        try:
            return fetch(req.path, target), time.perf_counter() - t0
        except MediqaError as err:
            return err, time.perf_counter() - t0

    return [pool.submit(one, k, req) for k, req in enumerate(chunk)]


def _score_located(
    assessor: Assessor, requests: Sequence[ScanRequest], located: list[_Located], batch_size: int
) -> list[Scored]:
    from ..assessor import ScoreOutcome

    items: list[InputItem | MediqaError] = [
        where if isinstance(where, MediqaError) else _one_item(where, req.series)
        for req, (where, _) in zip(requests, located, strict=True)
    ]
    outcomes: dict[int, ScoreOutcome] = {}
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for k, (req, item) in enumerate(zip(requests, items, strict=True)):
        if isinstance(item, MediqaError):
            outcomes[k] = ScoreOutcome(InputItem(path=Path(req.path), label=req.path), error=item)
        else:
            groups.setdefault(tuple(sorted(req.overrides().items())), []).append(k)
    for key, members in groups.items():
        batch = [item for k in members if isinstance(item := items[k], InputItem)]
        for k, outcome in zip(members, _score_group(assessor, batch, batch_size, dict(key)), strict=True):
            outcomes[k] = outcome
    out = []
    for k, req in enumerate(requests):
        outcome, (local, seconds) = outcomes[k], located[k]
        if isinstance(local, Path) and outcome.error is not None:
            outcome = ScoreOutcome(outcome.item, error=_renamed(outcome.error, str(local), req.path))
        out.append(Scored(req, outcome, seconds))
    return out


def _score_group(
    assessor: Assessor, batch: list[InputItem], batch_size: int, overrides: dict[str, str]
) -> list[ScoreOutcome]:
    """Outcomes of ``batch``; an error escaping the Assessor (it should not) fails the rest of the group."""
    from ..assessor import ScoreOutcome

    done: list[ScoreOutcome] = []
    try:
        done.extend(assessor.iter_items(batch, batch_size=batch_size, **overrides))
    except Exception as err:  # e.g. the model cannot be loaded: every row left says why
        for item in batch[len(done) :]:
            error = (
                err
                if isinstance(err, MediqaError)
                else ScanReadError(f"{item.label}: could not be scored ({type(err).__name__}: {err})")
            )
            done.append(ScoreOutcome(item, error=error))
    return done


def _one_item(path: Path | str, series: str | None) -> InputItem | MediqaError:
    """The one scan ``path`` names: a file, or the (chosen) DICOM series of a folder."""
    from ..io import _pick_series
    from ..io._discover import discover_entries

    try:
        entries, failures = discover_entries([path])
        folder = Path(path)
        dicom = [e for e in entries if e.item.files]
        if series is not None and folder.is_dir():  # a file is one scan whatever the series column says
            if not dicom:
                return ScanReadError(
                    f"{folder.name}: no DICOM series in this folder (series {series!r} asked)"
                )
            return _pick_series(folder, dicom, series).item
        if len(entries) == 1:
            return entries[0].item
        if not entries:
            return failures[0][1] if failures else ScanReadError(f"{path}: nothing to score")
        if len(dicom) > 1:
            return _pick_series(folder, dicom, None).item  # raises, listing the series
        return ScanReadError(
            f"{folder.name}: the folder holds {len(entries)} scans; give each its own manifest row"
        )
    except MediqaError as err:
        return err
    except Exception as err:  # a discovery bug must cost this row only
        return ScanReadError(f"{Path(path).name}: could not be read ({type(err).__name__}: {err})")


def _renamed(error: MediqaError, local: str, url: str) -> MediqaError:
    """``error`` with the temporary copy's path replaced by the URL it came from."""
    message = str(error)
    if local not in message:
        return error
    try:
        renamed = type(error)(message.replace(local, url))
    except TypeError:
        renamed = ScanReadError(message.replace(local, url))
    renamed.__cause__ = error
    return renamed
