"""The per-scan report: a self-contained HTML page and a montage PNG for one :class:`QualityResult`."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from .._version import __version__
from ..registry import GradeBand
from ..result import QualityResult
from ._html import data_uri, grade_scale_svg, page, table
from ._text import header_facts, physics_phrase, slugify
from ._views import SliceViews
from .montage import band_color, draw_montage, encode_png

__all__ = ["ReportFiles", "flag_reason", "render_report_html", "report_paths", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote: the HTML page and the montage PNG (``None`` when no slices)."""

    html: Path
    png: Path | None


def flag_reason(
    *, score: float, reliable: bool, flagged: bool, grade: str, threshold: float | None = None
) -> str | None:
    """Why a QC run flags a scan, or ``None``.

    Unreliable results (nothing to judge) are always flagged; otherwise ``score < threshold`` when a
    threshold is given, else the registry's grade band (a band marked ``flag``).
    """
    if not reliable:
        return "unreliable: the image gave the model nothing to judge"
    if threshold is not None:
        return f"score {score:.3f} < threshold {threshold:g}" if score < threshold else None
    return f"grade {grade}" if flagged else None


def result_flag_reason(result: QualityResult, threshold: float | None = None) -> str | None:
    """:func:`flag_reason` of a scored result."""
    return flag_reason(
        score=result.score,
        reliable=result.reliable,
        flagged=result.flagged,
        grade=result.grade,
        threshold=threshold,
    )


def report_paths(out: str | Path, name: str) -> tuple[Path, Path]:
    """``(html, png)``: ``out`` itself if it ends in ``.html``, else ``out/<name>.html`` and ``.png``."""
    out = Path(out)
    if out.suffix.lower() in (".html", ".htm"):
        return out, out.with_suffix(".png")
    return out / f"{name}.html", out / f"{name}.png"


def write_report(
    result: QualityResult,
    views: SliceViews | None,
    out: str | Path,
    *,
    bands: Sequence[GradeBand] = (),
    threshold: float | None = None,
    name: str | None = None,
    missing_views: str = "",
) -> ReportFiles:
    """Write ``<name>.html`` (self-contained: the montage is embedded) and ``<name>.png`` for ``result``.

    Args:
        result: the scored result.
        views: its salient slices as pictures (``None``: the page says why, given in ``missing_views``).
        out: a directory (created) or an ``.html`` path.
        bands: the scorer's grade bands, drawn on the score scale.
        threshold: a QC threshold to draw and flag by.
        name: file stem (default: from the result's label).
    """
    html_path, png_path = report_paths(out, name or slugify(result.label))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    png: bytes | None = None
    if views is not None:
        png = encode_png(draw_montage(result, views, bands))
        png_path.write_bytes(png)
    html_path.write_text(
        render_report_html(
            result, montage_png=png, bands=bands, threshold=threshold, missing_views=missing_views
        ),
        encoding="utf-8",
    )
    return ReportFiles(html_path, png_path if png is not None else None)


def _pill(grade: str) -> str:
    return f'<span class="pill" style="background:{band_color(grade)}">{escape(grade)}</span>'


def render_report_html(
    result: QualityResult,
    *,
    montage_png: bytes | None,
    bands: Sequence[GradeBand] = (),
    threshold: float | None = None,
    missing_views: str = "",
) -> str:
    """The report page of ``result`` (see :func:`write_report`)."""
    prov = result.provenance
    reason = result_flag_reason(result, threshold)
    flag_html = (
        f'<span class="pill flag">FLAGGED</span> <span class="muted">{escape(reason)}</span>'
        if reason
        else '<span class="pill ok">not flagged</span>'
    )
    prompts = result.prompts
    what = (
        " · ".join(escape(prompts[k].value) for k in ("modality", "region") if k in prompts)
        + f" · {escape(result.dim)}"
        + (f" {escape(result.axis)}" if result.dim == "3d" else "")
    )
    windows = ""
    if len(result.windows) > 1:
        windows = (
            '<div class="muted">'
            + "; ".join(f"{escape(w.type)}: <b>{w.score:.3f}</b>" for w in result.windows)
            + " (the score is their mean)</div>"
        )
    summary = (
        '<section class="card" id="score"><div class="scoreline">'
        f'<div><div class="big">{result.score:.3f}</div>{_pill(result.grade)} {flag_html}'
        f'<div class="muted">{what}</div>{windows}</div>'
        f'<div class="scale">{grade_scale_svg(result.score, bands, threshold)}'
        '<div class="muted">0 worst, 1 best; bands: the model\'s calibrated grades'
        f"{'; dashed line: the QC threshold' if threshold is not None else ''}</div></div>"
        "</div></section>"
    )

    if montage_png is not None:
        montage = (
            f'<img class="montage" id="montage" alt="salient slices of {escape(result.label)}" '
            f'src="{data_uri(montage_png)}">'
        )
    else:
        montage = f'<p class="muted">Slices not available: {escape(missing_views or "not kept")}.</p>'
    what_slices = (
        f"The {len(result.slice_indices)} salient slices along the {escape(result.axis)} axis"
        if result.dim == "3d"
        else "The image"
    )
    slice_rows = []
    for k, idx in enumerate(result.slice_indices):
        cells = [str(idx) if result.dim == "3d" else "image"]
        for w in result.windows:
            cells += [f"{w.slice_scores[k]:.3f}", f"{w.slice_weights[k]:.3f}"]
        slice_rows.append(cells)
    slice_head = ["slice"] + [f"{h} ({w.type})" for w in result.windows for h in ("score", "weight")]
    slices = (
        '<section class="card" id="slices"><h2>Slices</h2>'
        f'<p class="muted">{what_slices}, in the window each was scored in, as the model saw them. '
        "Border colour: the grade band of the slice score; bar: the slice weight relative to the largest. "
        "The overall score is the weighted sum of the slice scores.</p>"
        f'{montage}<details><summary class="muted">slice table</summary>'
        f"{table(slice_head, slice_rows)}</details></section>"
    )

    prompt_rows = [
        (
            name,
            p.value,
            p.source,
            f"{p.confidence:.2f}" if p.confidence is not None else "",
            p.evidence,
        )
        for name, p in prompts.items()
    ]
    prompts_html = (
        '<section class="card" id="prompts"><h2>Prompts</h2>'
        + table(("prompt", "value", "source", "confidence", "evidence"), prompt_rows)
        + "</section>"
    )
    physics_rows = [
        (p.description or p.name, physics_phrase(p, result.header), f"{p.value:.4g} {p.unit}")
        for p in result.physics
    ]
    physics_html = (
        '<section class="card" id="physics"><h2>Physics estimates</h2>'
        + (
            table(("parameter", "the image looks like", "estimate"), physics_rows)
            if physics_rows
            else '<p class="muted">No physical estimate for this modality.</p>'
        )
        + "</section>"
    )
    facts = header_facts(result.header)
    header_html = (
        '<section class="card" id="header"><h2>Acquisition (header)</h2>'
        + (
            table(("fact", "value"), facts)
            if facts
            else '<p class="muted">The file carries no acquisition facts (not DICOM, or anonymised).</p>'
        )
        + "</section>"
    )
    warnings_html = (
        '<section class="card" id="warnings"><h2>Warnings</h2>'
        + (
            '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in result.warnings) + "</ul>"
            if result.warnings
            else '<p class="muted">None.</p>'
        )
        + "</section>"
    )
    timings = ", ".join(f"{k} {v:.3f}" for k, v in prov.timings.items())
    prov_rows = [
        ("input", f'<span class="path">{escape(prov.input_path or result.label)}</span>'),
        ("input sha256", f"<code>{escape(prov.input_sha256)}</code>"),
        ("format", escape(prov.input_format)),
        (
            "scorer",
            f"{escape(prov.scorer.name)} v{escape(prov.scorer.version)}"
            + (" <b>(placeholder, not trained)</b>" if prov.scorer.placeholder else ""),
        ),
        ("scorer sha256", f"<code>{escape(prov.scorer.sha256)}</code>"),
    ]
    if prov.classifier is not None:
        prov_rows += [
            ("classifier", f"{escape(prov.classifier.name)} v{escape(prov.classifier.version)}"),
            ("classifier sha256", f"<code>{escape(prov.classifier.sha256)}</code>"),
        ]
    prov_rows += [
        ("providers", escape(", ".join(prov.providers)) + f" (device {escape(prov.device)})"),
        ("mediqa-sdk", escape(prov.sdk_version)),
        ("timings (s)", escape(timings)),
    ]
    provenance_html = (
        '<section class="card" id="provenance"><h2>Provenance</h2>'
        + table(("", ""), prov_rows, raw=True)
        + "</section>"
    )
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    footer = (
        f"<footer>Written by mediqa-sdk {escape(__version__)} on {escape(now)}. An automatic image-quality "
        "estimate for quality control, not a diagnosis; read the model's held-out metrics before relying "
        "on it."
        "</footer>"
    )
    body = (
        summary
        + slices
        + f'<div class="grid">{prompts_html}{physics_html}{header_html}{warnings_html}</div>'
        + '<div style="height:16px"></div>'
        + provenance_html
        + footer
    )
    return page(f"Quality report: {result.label}", f"mediqa-sdk · {prov.scorer.name}", body)
