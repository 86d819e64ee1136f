"""A quality-control run into one folder: ``results.jsonl`` as it goes, then ``results.csv`` and a summary.

Each input is one JSONL line, written and flushed as soon as it is scored (an interrupted run loses nothing
already written): the ``--format jsonl`` record plus ``key`` (what ``--resume`` matches inputs by) and ``qc``
(flag, reason, the grade bands used, the report's file name). Scored inputs get a report page and montage
(``<name>.html``, ``<name>.png``). Resuming skips the inputs already scored and tries failed ones again; the
last line of an input wins. The CSV and the summary page are rebuilt from the JSONL when the run closes.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from statistics import median
from typing import IO, TYPE_CHECKING, Any

import cv2

from .._version import __version__
from ..registry import GradeBand
from ..result import PhysicsEstimate
from ._html import data_uri, histogram_svg, page, table
from ._text import physics_phrase, round_sig, slugify
from .montage import band_color, encode_png, montage_thumbnail
from .scan_report import flag_reason, result_flag_reason, write_report

if TYPE_CHECKING:
    from ..assessor import Assessor, ScoreOutcome
    from ..io import InputItem

__all__ = ["RESULTS_CSV", "RESULTS_JSONL", "SUMMARY_HTML", "QcRun", "RunTotals", "input_key", "read_records"]

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
SUMMARY_HTML = "summary.html"
_RESERVED = frozenset({"results", "summary"})
_MAX_THUMBS = 300  # flagged scans shown with a thumbnail in the summary (worst first)
_MAX_ROWS = 5000  # rows of each summary table
_HEADER_COLUMNS = (
    "kvp",
    "exposure_mas",
    "ctdi_vol",
    "slice_thickness",
    "convolution_kernel",
    "field_strength_t",
)

_CSV_COLUMNS = (
    "input",
    "path",
    "status",
    "score",
    "grade",
    "qc_flagged",
    "flag_reason",
    "modality",
    "region",
    "type",
    "windows",
    "dim",
    "axis",
    "physics",
    *_HEADER_COLUMNS,
    "warnings",
    "scorer",
    "scorer_version",
    "scorer_sha256",
    "input_sha256",
    "report",
    "error",
)


def input_key(item: InputItem) -> str:
    """What identifies an input across runs: its absolute path, plus series UID and label for DICOM series."""
    path = str(Path(item.path).resolve())
    return f"{path}#{item.series_uid or ''}#{item.label}" if item.files else path


def read_records(path: Path) -> list[dict[str, Any]]:
    """The lines of a results JSONL; a damaged line (a run killed while writing it) is skipped."""
    records: list[dict[str, Any]] = []
    if not path.is_file():
        return records
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _latest(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per input key, the last one written, in first-seen order."""
    by_key: dict[str, dict[str, Any]] = {}
    for r in records:
        by_key[str(r.get("key") or r.get("input"))] = r
    return list(by_key.values())


def _bands(raw: Any) -> tuple[GradeBand, ...]:
    try:
        return tuple(GradeBand(str(b[0]), float(b[1]), float(b[2]), bool(b[3])) for b in raw or ())
    except (TypeError, ValueError, IndexError):
        return ()


@dataclass(frozen=True)
class RunTotals:
    """Counts of a closed run (inputs = unique inputs in the JSONL)."""

    inputs: int
    scored: int
    flagged: int
    failed: int
    summary: Path
    csv: Path
    jsonl: Path


class QcRun:
    """Writes one QC run into ``out_dir`` (see the module docstring).

    Args:
        out_dir: the folder (created).
        assessor: the Assessor that scores the outcomes: its kept pictures make the montages and its registry
            gives the grade bands (without one: no montage, no bands on the pages).
        threshold: flag scores below this; ``None``: the registry's grade bands.
        resume: continue ``out_dir/results.jsonl`` instead of starting it again.
        reports: write a report page and montage per scored input.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        assessor: Assessor | None = None,
        threshold: float | None = None,
        resume: bool = False,
        reports: bool = True,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.assessor = assessor
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.threshold = threshold
        self.reports = reports
        self.jsonl = self.out_dir / RESULTS_JSONL
        previous = read_records(self.jsonl) if resume else []
        self.done = {str(r["key"]) for r in _latest(previous) if r.get("status") == "scored" and r.get("key")}
        self._names = {str(r.get("qc", {}).get("name")) for r in previous if r.get("qc")} | set(_RESERVED)
        if resume:
            _drop_partial_line(self.jsonl)
        self._stream: IO[str] = self.jsonl.open("a" if resume else "w", encoding="utf-8")
        self.skipped = 0
        self.flagged = 0
        self.failed = 0
        self.scored = 0
        self.last_report: Path | None = None

    def pending(self, items: Sequence[InputItem]) -> list[InputItem]:
        """The items not scored in the JSONL already (all of them unless resuming)."""
        todo = [it for it in items if input_key(it) not in self.done]
        self.skipped = len(items) - len(todo)
        return todo

    def _name(self, label: str) -> str:
        base = slugify(label)
        name, n = base, 1
        while name.lower() in self._names:
            n += 1
            name = f"{base}-{n}"
        self._names.add(name.lower())
        return name

    def add(self, outcome: ScoreOutcome) -> str | None:
        """Record one outcome: report files, then its JSONL line (flushed); returns the flag reason."""
        from ..formats import outcome_record

        record = outcome_record(outcome)
        record["key"] = input_key(outcome.item)
        record["path"] = str(outcome.item.path)
        result = outcome.result
        reason = None
        if result is None:
            self.failed += 1
        else:
            self.scored += 1
            reason = result_flag_reason(result, self.threshold)
            self.flagged += reason is not None
            bands = self.assessor.grade_bands(result) if self.assessor is not None else ()
            qc: dict[str, Any] = {
                "flagged": reason is not None,
                "reason": reason,
                "threshold": self.threshold,
                "grade_bands": [[b.name, b.lower, b.upper, b.flag] for b in bands],
            }
            if self.reports:
                name = self._name(outcome.item.label or result.label)
                pictures, missing = None, "no Assessor given"
                if self.assessor is not None:
                    try:
                        pictures = self.assessor.scored_views(result, source=outcome.item)
                    except Exception as err:  # the report is still written, without the slices
                        missing = f"could not read the slices again ({err})"
                files = write_report(
                    result,
                    pictures,
                    self.out_dir,
                    bands=bands,
                    threshold=self.threshold,
                    name=name,
                    missing_views=missing,
                )
                qc.update(name=name, report=files.html.name, montage=files.png.name if files.png else None)
                self.last_report = files.html
            record["qc"] = qc
        self._stream.write(json.dumps(record, allow_nan=False) + "\n")
        self._stream.flush()
        return reason

    def close(self) -> RunTotals:
        """Close the JSONL; write ``results.csv`` and ``summary.html`` from it (every run resumed into it)."""
        if not self._stream.closed:
            self._stream.close()
        records = _latest(read_records(self.jsonl))
        for r in records:  # flags follow this run's rule, also for lines written by an earlier run
            if r.get("status") == "scored":
                r.setdefault("qc", {})
                r["qc"]["reason"] = flag_reason(
                    score=float(r["score"]),
                    reliable=bool(r.get("reliable", True)),
                    flagged=bool(r.get("flagged")),
                    grade=str(r.get("grade")),
                    threshold=self.threshold,
                )
                r["qc"]["flagged"] = r["qc"]["reason"] is not None
        csv_path = self.out_dir / RESULTS_CSV
        write_csv(records, csv_path)
        summary = self.out_dir / SUMMARY_HTML
        summary.write_text(render_summary(records, self.out_dir, self.threshold), encoding="utf-8")
        scored = [r for r in records if r.get("status") == "scored"]
        return RunTotals(
            inputs=len(records),
            scored=len(scored),
            flagged=sum(1 for r in scored if r["qc"]["flagged"]),
            failed=len(records) - len(scored),
            summary=summary,
            csv=csv_path,
            jsonl=self.jsonl,
        )


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left without its newline by a killed run, so appended lines stay whole."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _prompt(r: dict[str, Any], name: str) -> str:
    return str((r.get("prompts") or {}).get(name, {}).get("value", ""))


def _physics(r: dict[str, Any]) -> str:
    return "; ".join(
        f"{p['name']} ~{round_sig(float(p['value']))} {p['unit']}" for p in r.get("physics") or ()
    )


def _physics_phrases(r: dict[str, Any]) -> str:
    header = r.get("header") or {}
    phrases = []
    for p in r.get("physics") or ():
        try:
            phrases.append(physics_phrase(PhysicsEstimate(**p), header))
        except TypeError:
            continue
    return "; ".join(phrases)


def write_csv(records: Sequence[dict[str, Any]], path: Path) -> None:
    """One row per input (the latest record of each), for spreadsheets."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in records:
            row = dict.fromkeys(_CSV_COLUMNS, "")
            row.update(input=r.get("input", ""), path=r.get("path", ""), status=r.get("status", ""))
            if r.get("status") != "scored":
                row["error"] = r.get("error", "")
                writer.writerow(row)
                continue
            header = r.get("header") or {}
            qc = r.get("qc") or {}
            scorer = (r.get("provenance") or {}).get("scorer") or {}
            row.update(
                score=f"{float(r['score']):.4f}",
                grade=r.get("grade", ""),
                qc_flagged="yes" if qc.get("flagged") else "no",
                flag_reason=qc.get("reason") or "",
                modality=_prompt(r, "modality"),
                region=_prompt(r, "region"),
                type=_prompt(r, "type"),
                windows="; ".join(f"{w['type']}:{float(w['score']):.4f}" for w in r.get("windows") or ()),
                dim=r.get("dim", ""),
                axis=r.get("axis", ""),
                physics=_physics(r),
                warnings=" | ".join(r.get("warnings") or ()),
                scorer=scorer.get("name", ""),
                scorer_version=scorer.get("version", ""),
                scorer_sha256=scorer.get("sha256", ""),
                input_sha256=(r.get("provenance") or {}).get("input_sha256", ""),
                report=qc.get("report") or "",
                **{k: header.get(k, "") for k in _HEADER_COLUMNS},
            )
            writer.writerow(row)


def _thumbnail(out_dir: Path, r: dict[str, Any]) -> str:
    """An ``<img>`` of the first row of the scan's montage, embedded, or ``""``."""
    montage = (r.get("qc") or {}).get("montage")
    if not montage:
        return ""
    image = cv2.imread(str(out_dir / montage), cv2.IMREAD_COLOR)
    if image is None:
        return ""
    thumb = montage_thumbnail(image, max(1, len(r.get("slice_indices") or (0,))), height=64)
    return f'<img class="thumb" alt="" src="{data_uri(encode_png(thumb))}">'


def _link(r: dict[str, Any]) -> str:
    report = (r.get("qc") or {}).get("report")
    label = escape(str(r.get("input", "")))
    return (
        f'<a class="path" href="{escape(report)}">{label}</a>'
        if report
        else f'<span class="path">{label}</span>'
    )


def _grade(r: dict[str, Any]) -> str:
    grade = str(r.get("grade", ""))
    return f'<span class="pill" style="background:{band_color(grade)}">{escape(grade)}</span>'


def render_summary(records: Sequence[dict[str, Any]], out_dir: Path, threshold: float | None) -> str:
    """The summary page of a run: totals, score distribution per modality/region, flagged scans worst first
    (with thumbnails and links to their reports), failures with their reasons, and every scan."""
    scored = [r for r in records if r.get("status") == "scored"]
    failed = [r for r in records if r.get("status") != "scored"]
    flagged = sorted((r for r in scored if r["qc"]["flagged"]), key=lambda r: float(r["score"]))
    models = sorted(
        {
            f"{s.get('name')} v{s.get('version')} ({str(s.get('sha256', ''))[:12]})"
            for r in scored
            if (s := (r.get("provenance") or {}).get("scorer"))
        }
    )
    rule = (
        f"score below {threshold:g}"
        if threshold is not None
        else "the model's calibrated grade bands (a flagged band, e.g. poor)"
    )
    stats = (
        '<section class="card" id="totals"><div class="stats">'
        + "".join(
            f'<div class="stat"><b>{n}</b><span class="muted">{escape(what)}</span></div>'
            for n, what in (
                (len(records), "inputs"),
                (len(scored), "scored"),
                (len(flagged), "flagged"),
                (len(failed), "failed"),
            )
        )
        + f'</div><p class="muted">Flagged: {escape(rule)}; unreliable results (nothing to judge) are always '
        f"flagged. Model: {escape(', '.join(models) or 'none')}.</p></section>"
    )

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in scored:
        groups.setdefault(f"{_prompt(r, 'modality')} / {_prompt(r, 'region')}", []).append(r)
    hists = []
    for name, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        scores = [float(r["score"]) for r in rows]
        bands = _bands((rows[0].get("qc") or {}).get("grade_bands"))
        n_flag = sum(1 for r in rows if r["qc"]["flagged"])
        hists.append(
            f'<div class="hist"><h3>{escape(name)}</h3>'
            f'<div class="muted">{len(rows)} scan{"s" if len(rows) != 1 else ""} · '
            f"median {median(scores):.3f} · min {min(scores):.3f} · "
            f"{n_flag} flagged</div>{histogram_svg(scores, bands, threshold)}</div>"
        )
    distribution = (
        '<section class="card" id="distribution"><h2>Score distribution by modality / region</h2>'
        + (f'<div class="hists">{"".join(hists)}</div>' if hists else '<p class="muted">No scans scored.</p>')
        + "</section>"
    )

    flag_rows = []
    for k, r in enumerate(flagged[:_MAX_ROWS]):
        flag_rows.append(
            (
                _thumbnail(out_dir, r) if k < _MAX_THUMBS else "",
                _link(r),
                f'<span class="nw">{float(r["score"]):.3f}</span>',
                _grade(r),
                escape(str(r["qc"].get("reason") or "")),
                escape(f"{_prompt(r, 'modality')} / {_prompt(r, 'region')} / {_prompt(r, 'type')}"),
                escape(_physics_phrases(r)),
                str(len(r.get("warnings") or ())),
            )
        )
    more = (
        f'<p class="muted">{len(flagged) - _MAX_ROWS} more in results.csv.</p>'
        if len(flagged) > _MAX_ROWS
        else ""
    )
    flagged_html = (
        '<section class="card" id="flagged"><h2>Flagged scans, worst first</h2>'
        + (
            '<div class="scroll">'
            + table(
                ("slices", "scan", "score", "grade", "why", "prompts", "physics", "warnings"),
                flag_rows,
                raw=True,
                cls="flagged",
            )
            + "</div>"
            + more
            if flag_rows
            else '<p class="muted">No scan was flagged.</p>'
        )
        + "</section>"
    )
    failures_html = (
        '<section class="card" id="failures"><h2>Failures</h2>'
        + (
            table(
                ("input", "reason"),
                [(str(r.get("input", "")), str(r.get("error", ""))) for r in failed[:_MAX_ROWS]],
                cls="failures",
            )
            if failed
            else '<p class="muted">Every input was scored.</p>'
        )
        + "</section>"
    )
    everything = sorted(scored, key=lambda r: float(r["score"]))
    all_html = (
        '<section class="card" id="all"><details><summary><b>All scored scans</b> '
        f'<span class="muted">({len(scored)}, worst first)</span></summary>'
        + table(
            ("scan", "score", "grade", "flagged", "modality / region", "physics"),
            [
                (
                    _link(r),
                    f'<span class="nw">{float(r["score"]):.3f}</span>',
                    _grade(r),
                    "yes" if r["qc"]["flagged"] else "",
                    escape(f"{_prompt(r, 'modality')} / {_prompt(r, 'region')}"),
                    escape(_physics(r)),
                )
                for r in everything[:_MAX_ROWS]
            ],
            raw=True,
        )
        + "</details></section>"
    )
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    footer = (
        f"<footer>Written by mediqa-sdk {escape(__version__)} on {escape(now)} from {RESULTS_JSONL} "
        f"(also {RESULTS_CSV}). Automatic image-quality estimates for quality control, not diagnoses."
        "</footer>"
    )
    body = stats + distribution + flagged_html + failures_html + all_html + footer
    subtitle = f"{len(scored)} scored · {len(flagged)} flagged · {len(failed)} failed"
    return page(f"QC summary: {out_dir.resolve().name}", subtitle, body)
