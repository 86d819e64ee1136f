"""Reading untrusted inputs in a worker process with a memory ceiling and a timeout (``--isolate``).

The part of scoring that touches the bytes of a file, reading it and decoding its salient slices, runs in one
long-lived worker process. What comes back is small: the scan's header facts and the decoded slices that are
scored (:class:`Decoded`). The worker runs under ``RLIMIT_AS`` (address space, ``Isolation.memory_bytes``) and
every input under a wall-clock timeout (``Isolation.timeout_s``). Whatever a file does to its decoder, it
costs one input, never the batch:

- a Python exception, a ``MemoryError`` at the ceiling: the error of that input (the worker lives on);
- a crash (segfault, abort in a C decoder, the kernel's OOM killer): ``the decoder crashed (SIGSEGV)``; a
  fresh worker is started for the next input;
- a hang: the worker is killed after the timeout and a fresh one started.

The worker is a fresh interpreter (``python -m mediqa_sdk._isolate_worker``, never a fork of a process
holding inference threads), started once per :class:`IsolatedReader` in about 0.1 s; per input the cost is
a few milliseconds of pickling (measured in the README, section Reliability). Everything here is the
standard library plus what the readers already use.

>>> from mediqa_sdk import Assessor
>>> Assessor(isolate=True).score("untrusted.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputTooLargeError, MediqaError, ScanReadError

if TYPE_CHECKING:
    import numpy as np

    from .io import InputItem, ReadLimits
    from .registry import SalientSpec
    from .scan import Scan
    from .slices import SliceSelection

__all__ = ["Decoded", "IsolatedReader", "Isolation", "KeptSlices", "choose_slices", "decode_source"]

#: ``reader(source, limits, series)``: an :class:`~mediqa_sdk.io.InputItem` or a path to a :class:`Scan`
Reader = Callable[..., "Scan"]
_START_TIMEOUT_S = 120.0
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Isolation:
    """How inputs are read in the worker process.

    Attributes:
        memory_bytes: address-space ceiling of the worker (``RLIMIT_AS``; Linux and the BSDs, ignored
            where the OS has none). Default 6 GiB: what the default :class:`~mediqa_sdk.io.ReadLimits` let
            one file need, plus the worker's own libraries. ``MEDIQA_ISOLATE_MEMORY`` overrides it (``8GiB``).
        timeout_s: most seconds one input may take to read and decode. Default 300.
            ``MEDIQA_ISOLATE_TIMEOUT`` overrides it.
        reader: what the worker calls to read one input, ``reader(source, limits, series)``; a module-level
            function (it is pickled by name). Default: :func:`mediqa_sdk.io.load_input` for discovered items,
            :func:`mediqa_sdk.io.load_scan` for paths. Tests use it to make a decoder crash.
    """

    memory_bytes: int = 6 * 2**30
    timeout_s: float = 300.0
    reader: Reader | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.memory_bytes < 256 * 2**20:
            raise ValueError(f"Isolation.memory_bytes must be at least 256 MiB, not {self.memory_bytes}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(
                f"Isolation.timeout_s must be a positive number of seconds, not {self.timeout_s}"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Isolation:
        """The defaults with ``MEDIQA_ISOLATE_MEMORY`` and ``MEDIQA_ISOLATE_TIMEOUT`` applied.

        Raises:
            ValueError: a variable that does not hold a size / a number of seconds.
        """
        from .io._limits import parse_size

        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        if text := env.get("MEDIQA_ISOLATE_MEMORY", "").strip():
            try:
                changes["memory_bytes"] = parse_size(text)
            except ValueError as err:
                raise ValueError(f"MEDIQA_ISOLATE_MEMORY: {err}") from None
        if text := env.get("MEDIQA_ISOLATE_TIMEOUT", "").strip():
            try:
                changes["timeout_s"] = float(text)
            except ValueError:
                raise ValueError(f"MEDIQA_ISOLATE_TIMEOUT: {text!r} is not a number of seconds") from None
        return replace(cls(), **changes)


class KeptSlices:
    """The slices of a scan that were decoded for scoring, standing in for the whole stack.

    ``shape`` is the shape of the full stack; indexing one kept slice returns a copy of it, anything else
    raises :class:`~mediqa_sdk.errors.ScanReadError` (the rest of the file was never sent back).
    """

    def __init__(self, shape: tuple[int, ...], kept: dict[int, np.ndarray]) -> None:
        self._shape = tuple(int(s) for s in shape)
        self._kept = kept

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_slices, rows, cols[, 3])`` of the full stack."""
        return self._shape

    def __getitem__(self, index: Any) -> np.ndarray:
        import numpy as np

        if isinstance(index, (int, np.integer)) and int(index) in self._kept:
            return np.array(self._kept[int(index)], dtype=np.float32, copy=True)
        raise ScanReadError(
            f"slice {index!r} was not decoded in the isolated reader (kept: {sorted(self._kept)})"
        )

    def __repr__(self) -> str:
        return f"KeptSlices({'x'.join(map(str, self._shape))}, kept {sorted(self._kept)})"


@dataclass(frozen=True)
class Decoded:
    """One input read and its salient slices decoded: what the worker sends back.

    Attributes:
        scan: the scan, its ``slices`` a :class:`KeptSlices` holding only the chosen slices.
        selection: the salient slices chosen.
        load_seconds: reading the file(s) and headers.
        select_seconds: choosing and decoding the salient slices.
    """

    scan: Scan
    selection: SliceSelection
    load_seconds: float
    select_seconds: float


def choose_slices(scan: Scan, salient: SalientSpec, modality: str | None) -> SliceSelection:
    """The salient slices of ``scan``; the CT rule when ``modality`` (override, else the header's) is CT."""
    from .prompts import modality_from_tags
    from .slices import select_salient_slices

    known = modality or modality_from_tags(scan.metadata)
    is_ct = None if known is None else known == "ct"
    return select_salient_slices(scan, salient, is_ct=is_ct)


def _default_reader(source: InputItem | Path, limits: ReadLimits, series: str | None) -> Scan:
    from .io import InputItem, load_input, load_scan

    if isinstance(source, InputItem):
        return load_input(source, limits)
    return load_scan(source, series=series, limits=limits)


def decode_source(
    source: InputItem | Path,
    limits: ReadLimits,
    salient: SalientSpec,
    modality: str | None = None,
    series: str | None = None,
    reader: Reader | None = None,
    neighbours: bool = False,
) -> Decoded:
    """Read ``source`` and decode its salient slices (what the worker does, callable in-process too); with
    ``neighbours`` also the slice before and after each (a scorer whose channels read them)."""
    import numpy as np

    from .preprocess import neighbour_indices

    t0 = time.perf_counter()
    scan = (reader or _default_reader)(source, limits, series)
    t1 = time.perf_counter()
    selection = choose_slices(scan, salient, modality)
    wanted = set(selection.indices)
    if neighbours:
        for side in neighbour_indices(selection.indices, scan.n_slices):
            wanted.update(side)
    kept = {i: _compact(np.asarray(scan.slices[i], dtype=np.float32)) for i in sorted(wanted)}
    stub = replace(scan, slices=KeptSlices(tuple(scan.slices.shape), kept))
    return Decoded(stub, selection, t1 - t0, time.perf_counter() - t1)


def _compact(values: np.ndarray) -> np.ndarray:
    """The same values as uint8, int16 or uint16 when that is exact (photos, CT in HU): a quarter or half of
    the bytes to send back; :class:`KeptSlices` returns float32 again."""
    import numpy as np

    if values.size == 0 or not np.isfinite(values).all():
        return values
    lo, hi = float(values.min()), float(values.max())
    for dtype in (np.uint8, np.int16, np.uint16):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            small = values.astype(dtype)
            if np.array_equal(small, values):
                return small
            return values  # not integral: nothing smaller is exact
    return values


def _label(source: InputItem | Path) -> str:
    if isinstance(source, Path):
        return source.name
    return source.label or source.path.name


def _limit_memory(memory_bytes: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS: the timeout still holds
        pass


def _worker_main(requests: Any, replies: Any, memory_bytes: int) -> None:
    """The worker's loop: one request in, one ``("ok", Decoded)`` or ``("error", MediqaError)`` out."""
    for var in _THREAD_VARS:  # one BLAS thread: each would reserve address space under RLIMIT_AS
        os.environ[var] = "1"
    _limit_memory(memory_bytes)
    import warnings

    warnings.simplefilter("ignore")  # nobody reads them here; errors come back as exceptions
    import mediqa_sdk.io  # the readers' own imports, done before the first input's clock starts
    import mediqa_sdk.slices  # noqa: F401

    replies.send(("ready", os.getpid()))
    while True:
        try:
            request = requests.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        source, limits, salient, modality, series, reader, neighbours = request
        try:
            decoded = decode_source(source, limits, salient, modality, series, reader, neighbours)
            reply: tuple[str, Any] = ("ok", decoded)
        except MemoryError:
            reply = (
                "error",
                InputTooLargeError(
                    f"{_label(source)}: reading it needed more than the isolated reader's memory ceiling of "
                    f"{memory_bytes / 2**30:.1f} GiB (raise Isolation.memory_bytes or MEDIQA_ISOLATE_MEMORY)"
                ),
            )
        except MediqaError as err:
            reply = ("error", err)
        except Exception as err:  # a decoder bug is this input's error, as in-process
            text = f"{type(err).__name__}: {err}"
            reply = ("error", ScanReadError(f"{_label(source)}: could not be read ({text})"))
        try:
            replies.send(reply)
        except Exception as err:  # an unpicklable error: send its text
            replies.send(("error", ScanReadError(f"{_label(source)}: could not be read ({err})")))


class _Worker:
    """The worker process and its two pipes. POSIX: ``python -m mediqa_sdk._isolate_worker`` (no re-import of
    the caller's ``__main__``, so scripts need no ``if __name__ == "__main__"`` guard); elsewhere a
    :mod:`multiprocessing` ``spawn`` process."""

    def __init__(self, memory_bytes: int) -> None:
        import tempfile

        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open for the worker's whole life
        if os.name == "posix":
            self._start_subprocess(memory_bytes)
        else:  # pragma: no cover - Windows
            self._start_multiprocessing(memory_bytes)
        try:  # start-up (imports) does not count against the first input's timeout
            ready = self.replies.poll(_START_TIMEOUT_S) and self.replies.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            why = _crash_name(self.stop(kill=True))
            tail = self.stderr_tail()
            raise ScanReadError(f"the isolated reader did not start ({why}{': ' + tail if tail else ''})")

    def _start_subprocess(self, memory_bytes: int) -> None:
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        paths = [p or str(Path.cwd()) for p in sys.path]
        env = {**os.environ, **dict.fromkeys(_THREAD_VARS, "1"), "PYTHONPATH": os.pathsep.join(paths)}
        try:
            self.process: Any = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mediqa_sdk._isolate_worker",
                    str(req_r),
                    str(rep_w),
                    str(memory_bytes),
                ],
                pass_fds=(req_r, rep_w),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        finally:
            os.close(req_r)
            os.close(rep_w)
        self.requests = Connection(req_w, readable=False)
        self.replies = Connection(rep_r, writable=False)

    def _start_multiprocessing(self, memory_bytes: int) -> None:  # pragma: no cover - Windows
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, child, memory_bytes), daemon=True)
        self.process.start()
        child.close()
        self.requests = self.replies = parent

    def alive(self) -> bool:
        poll = getattr(self.process, "poll", None)
        return poll() is None if poll is not None else bool(self.process.is_alive())

    def stop(self, kill: bool) -> int | None:
        """End the process (politely unless ``kill``) and return its exit status (negative: the signal)."""
        if kill and self.alive():
            self.process.kill()
        elif not kill:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.requests.send(None)
        wait = getattr(self.process, "wait", None)
        try:
            code = wait(5) if wait is not None else (self.process.join(5), self.process.exitcode)[1]
        except Exception:  # did not exit in time
            self.process.kill()
            code = wait() if wait is not None else None
        for conn in {id(self.requests): self.requests, id(self.replies): self.replies}.values():
            conn.close()
        return code

    def stderr_tail(self) -> str:
        """The last line the worker wrote on stderr (a Python error at start-up), or ``""``."""
        try:
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        finally:
            self._stderr.close()
        return lines[-1].strip()[:200] if lines else ""


def _crash_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"{name}, out of memory?" if name == "SIGKILL" else name
    return f"exit status {exitcode}"


class IsolatedReader:
    """One worker process that reads inputs for an :class:`~mediqa_sdk.Assessor`; thread-safe (one input at a
    time), restarted after a crash or timeout, stopped by :meth:`close` or at interpreter exit.

    Args:
        isolation: memory ceiling, timeout, reader.
        limits: the size ceilings the readers check from headers.
        salient: the scorer's salient-slice rule.
        neighbours: also decode the slices next to the salient ones (a scorer whose channels read them).
    """

    def __init__(
        self, isolation: Isolation, limits: ReadLimits, salient: SalientSpec, neighbours: bool = False
    ) -> None:
        self.isolation = isolation
        self.limits = limits
        self.salient = salient
        self.neighbours = neighbours
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self.restarts = 0

    def __repr__(self) -> str:
        alive = self._worker is not None and self._worker.alive()
        iso = self.isolation
        return (
            f"IsolatedReader(memory={iso.memory_bytes / 2**30:.1f} GiB, timeout={iso.timeout_s:g} s, "
            f"alive={alive})"
        )

    def _stop(self, kill: bool) -> str:
        """Stop the worker; what ended it, in words (for a crash message)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return "no worker"
        code = worker.stop(kill)
        tail = worker.stderr_tail()
        return _crash_name(code) + (f": {tail}" if tail and (code or 0) > 0 else "")

    def read(
        self, source: InputItem | Path, *, modality: str | None = None, series: str | None = None
    ) -> Decoded:
        """Read ``source`` (a discovered item, or a file/series folder with ``series``) in the worker.

        Raises:
            MediqaError: what reading it raised, or a :class:`ScanReadError` saying the decoder crashed or
                timed out.
        """
        label = _label(source)
        request = (
            source,
            self.limits,
            self.salient,
            modality,
            series,
            self.isolation.reader,
            self.neighbours,
        )
        with self._lock:
            if self._worker is not None and not self._worker.alive():
                self._stop(kill=True)
                self.restarts += 1
            if self._worker is None:
                try:
                    self._worker = _Worker(self.isolation.memory_bytes)
                except ScanReadError as err:
                    raise ScanReadError(f"{label}: {err}") from None
            worker = self._worker
            try:
                worker.requests.send(request)
                ready = worker.replies.poll(self.isolation.timeout_s)
            except (BrokenPipeError, EOFError, OSError):
                ready = True  # the worker is gone: recv says so
            if not ready:
                self._stop(kill=True)
                self.restarts += 1
                raise ScanReadError(
                    f"{label}: reading it took longer than {self.isolation.timeout_s:g} s and was stopped "
                    "(raise Isolation.timeout_s or MEDIQA_ISOLATE_TIMEOUT)"
                )
            try:
                kind, payload = worker.replies.recv()
            except (EOFError, OSError):
                why = self._stop(kill=True)
                self.restarts += 1
                raise ScanReadError(
                    f"{label}: the decoder crashed while reading it ({why}); the file is probably damaged"
                ) from None
        if kind == "ok":
            return payload
        raise payload

    def close(self) -> None:
        """Stop the worker (the next :meth:`read` starts a new one)."""
        with self._lock:
            self._stop(kill=False)

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        with contextlib.suppress(Exception):
            self._stop(kill=True)
