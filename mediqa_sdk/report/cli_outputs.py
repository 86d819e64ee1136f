"""The QC outputs of ``mediqa score`` (``--report``, ``--threshold``, ``--dicom-sr``) and its Ctrl-C handling.

CLI glue: it writes notes to stderr and leaves exit codes to :mod:`mediqa_sdk.cli`.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import click

from ..errors import MediqaError
from ._text import slugify
from .batch import QcRun
from .scan_report import result_flag_reason

if TYPE_CHECKING:
    from ..assessor import Assessor, ScoreOutcome
    from ..io import InputItem

__all__ = ["QcOutputs", "StopRequest"]


def _say(line: str) -> None:
    """One line on stderr; on a terminal it first clears a progress bar drawn on the current line."""
    clear = "\r\x1b[K" if sys.stderr.isatty() else ""
    click.echo(clear + line, err=True)


class QcOutputs:
    """Report folder, flags and DICOM SRs for the outcomes of one ``mediqa score`` run.

    Args:
        assessor: the Assessor that scores (its kept pictures feed the montages).
        report_dir: ``--report`` folder, or ``None``.
        threshold: ``--threshold``, or ``None`` for the grade bands.
        resume: ``--resume``.
        sr_dir: ``--dicom-sr`` folder, or ``None``.
        fail: prints one failure line (the CLI's).
    """

    def __init__(
        self,
        assessor: Assessor,
        report_dir: str | None,
        threshold: float | None,
        resume: bool,
        sr_dir: str | None,
        fail: Callable[[BaseException, str], None],
    ) -> None:
        self.assessor = assessor
        self.threshold = threshold
        self.flagging = report_dir is not None or threshold is not None
        self.run = (
            QcRun(report_dir, assessor=assessor, threshold=threshold, resume=resume) if report_dir else None
        )
        self.sr_dir = Path(sr_dir) if sr_dir else None
        self.fail = fail
        self.flagged = 0
        self.skipped = 0
        self._sr_names: set[str] = set()

    @property
    def active(self) -> bool:
        """True when any QC output was asked for."""
        return self.flagging or self.sr_dir is not None

    def record_failures(self, failures: Sequence[tuple[Path, MediqaError]]) -> None:
        """Inputs that discovery could not use are rows of the report too."""
        if self.run is None:
            return
        from ..assessor import ScoreOutcome
        from ..io import InputItem

        for path, error in failures:
            self.run.add(ScoreOutcome(InputItem(path=Path(path), label=str(path)), error=error))

    def pending(self, items: list[InputItem]) -> list[InputItem]:
        """The items still to score (``--resume`` drops those already scored)."""
        if self.run is None:
            return items
        todo = self.run.pending(items)
        self.skipped = self.run.skipped
        if self.skipped:
            _say(f"resume: {self.skipped} inputs already scored in {self.run.jsonl}; {len(todo)} to score")
        return todo

    def add(self, outcome: ScoreOutcome) -> int:
        """Report, flag and SR of one outcome; returns the number of new failures (an SR not written)."""
        result = outcome.result
        if self.run is not None:
            reason = self.run.add(outcome)
        elif result is not None and self.flagging:
            reason = result_flag_reason(result, self.threshold)
        else:
            reason = None
        if reason is not None:
            self.flagged += 1
            if self.run is None:
                _say(f"flagged: {outcome.item.label}: {reason}")
        if result is None or self.sr_dir is None:
            return 0
        return self._write_sr(outcome)

    def _write_sr(self, outcome: ScoreOutcome) -> int:
        from .sr import write_sr

        result = outcome.result
        assert result is not None and self.sr_dir is not None
        if result.provenance.input_format != "dicom":
            _say(f"note: {outcome.item.label}: not DICOM, no DICOM SR written")
            return 0
        try:
            views = self.assessor.scored_views(result, source=outcome.item)
            uids, files = views.instance_uids, views.files
        except MediqaError:
            uids, files = (), ()
        files = files or outcome.item.files or (outcome.item.path,)
        name = slugify(outcome.item.label)
        stem, n = name, 1
        while name.lower() in self._sr_names:
            n += 1
            name = f"{stem}-{n}"
        self._sr_names.add(name.lower())
        try:
            write_sr(result, files, self.sr_dir, instance_uids=uids, name=name)
        except Exception as err:  # one SR that cannot be written must not end the batch
            label = outcome.item.label
            text = str(err).removeprefix(f"{label}: ") or type(err).__name__
            wrapped = MediqaError(f"DICOM SR not written: {text}")
            wrapped.__cause__ = err
            self.fail(wrapped, label)
            return 1
        return 0

    def close(self, *, interrupted: bool = False) -> int:
        """Write the CSV and summary; returns the number of flagged scans (0 unless flagging was asked)."""
        if self.run is None:
            return self.flagged if self.flagging else 0
        totals = self.run.close()
        if interrupted:
            _say(
                f"interrupted: {totals.inputs} inputs are in {totals.jsonl}; "
                f"continue with the same command and --resume"
            )
        if totals.inputs == 1 and self.run.last_report is not None:
            _say(f"report: {self.run.last_report}")
        _say(
            f"summary: {totals.summary} ({totals.scored} scored, {totals.flagged} flagged, "
            f"{totals.failed} failed; also {totals.csv.name}, {totals.jsonl.name})"
        )
        return totals.flagged


class StopRequest:
    """First Ctrl-C: finish the current batch, then stop cleanly (outputs closed); second: stop at once.

    Installed only in the main thread and only when ``enabled``.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        _say("\nstopping after the current batch (Ctrl-C again to stop at once)")

    def __enter__(self) -> StopRequest:
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.enabled and not self.requested:
            signal.signal(signal.SIGINT, self._previous)
