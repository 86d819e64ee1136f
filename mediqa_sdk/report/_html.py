"""HTML pieces shared by the per-scan report and the batch summary: page, grade scale, histogram (SVG)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from ..registry import GradeBand
from .montage import band_color

__all__ = ["data_uri", "grade_scale_svg", "histogram_svg", "page", "table"]

CSS = """
:root { --fg:#1d2330; --muted:#5d6677; --line:#e3e6ec; --bg:#f5f6f8; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background:#1e2430; color:#fff; padding:14px 28px; display:flex; align-items:baseline;
  gap:16px; }
header.top h1 { font-size:18px; margin:0; font-weight:600; word-break:break-all; }
header.top .sub { color:#aab3c5; font-size:13px; }
main { max-width:1680px; margin:0 auto; padding:18px 28px 32px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 20px;
  margin-bottom:16px; }
.card h2 { font-size:15px; margin:0 0 10px; color:#2b3446; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(380px, 1fr)); gap:16px; }
.grid .card { margin-bottom:0; }
.scoreline { display:flex; align-items:center; gap:28px; flex-wrap:wrap; }
.big { font-size:44px; font-weight:700; letter-spacing:-1px; }
.pill { display:inline-block; padding:2px 10px; border-radius:12px; color:#fff; font-weight:600;
  font-size:13px; vertical-align:middle; }
.flag { background:#b42318; }
.ok { background:#3aa76d; }
.muted { color:var(--muted); }
.scale { flex:1; min-width:360px; max-width:760px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top;
  overflow-wrap:break-word; }
.path { word-break:break-all; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.3px; }
.scroll { overflow-x:auto; }
.nw, .pill { white-space:nowrap; overflow-wrap:normal; }
td.num { font-variant-numeric:tabular-nums; }
code, .mono { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px;
  word-break:break-all; }
img.montage { max-width:100%; height:auto; border-radius:6px; display:block; }
table.flagged td:nth-child(2) { min-width:170px; }
table.flagged td:nth-child(5) { min-width:150px; }
img.thumb { height:44px; border-radius:3px; display:block; }
ul.warnings { margin:0; padding-left:20px; }
ul.warnings li { margin:3px 0; color:#8a4b08; }
.hists { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:14px; }
.hist h3 { font-size:13px; margin:0 0 4px; }
.stats { display:flex; gap:26px; flex-wrap:wrap; }
.stat b { display:block; font-size:26px; }
footer { color:var(--muted); font-size:12px; margin-top:10px; }
a { color:#2456c7; text-decoration:none; } a:hover { text-decoration:underline; }
"""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding a PNG in a page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page(title: str, subtitle: str, body: str) -> str:
    """A complete, self-contained HTML document (inline CSS, no external resources)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{escape(title)}</h1><span class="sub">{escape(subtitle)}</span></header>'
        f"<main>{body}</main></body></html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False, cls: str = "") -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are trusted HTML)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if any(headers) else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f'<table class="{cls}">{thead}<tbody>{body}</tbody></table>'


def grade_scale_svg(
    score: float | None, bands: Sequence[GradeBand], threshold: float | None = None, *, width: int = 640
) -> str:
    """The 0..1 score scale with the grade bands, a marker at ``score`` and a dashed ``threshold`` line."""
    h, top, bar = 82, 26, 26

    def x(v: float) -> float:
        return 10 + (width - 20) * min(max(v, 0.0), 1.0)

    parts = [
        f'<svg class="gradescale" role="img" aria-label="score on the grade scale" viewBox="0 0 {width} {h}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">'
    ]
    ticks = {0.0, 1.0}
    for band in bands or (GradeBand("", 0.0, 1.0, False),):
        x0, x1 = x(band.lower), x(band.upper)
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{bar}" '
            f'fill="{band_color(band.name) if band.name else "#c8ccd4"}" opacity="0.9"/>'
        )
        if band.name:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{top + 17}" text-anchor="middle" font-size="12" '
                f'fill="#fff" font-weight="600">{escape(band.name)}{" (flagged)" if band.flag else ""}</text>'
            )
        ticks |= {band.lower, band.upper}
    shown: list[float] = []
    for t in sorted(ticks, key=lambda v: (v not in (0.0, 1.0), v)):  # the ends first, then inner bounds
        if any(abs(x(t) - x(u)) < 34 for u in shown):  # labels of bounds this close would overlap
            continue
        shown.append(t)
        parts.append(
            f'<text x="{x(t):.1f}" y="{top + bar + 15}" text-anchor="middle" font-size="11" '
            f'fill="#5d6677">{t:.3g}</text>'
        )
    if threshold is not None:
        parts.append(
            f'<line x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="{top - 4}" y2="{top + bar + 4}" '
            'stroke="#1d2330" stroke-width="2" stroke-dasharray="4 3"/>'
            f'<text x="{x(threshold) + 4:.1f}" y="{top + bar + 15}" font-size="11" fill="#1d2330">'
            f"threshold {threshold:g}</text>"
        )
    if score is not None:
        sx = x(score)
        parts.append(
            f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{top - 2}" y2="{top + bar + 2}" stroke="#1d2330" '
            'stroke-width="3"/>'
            f'<path d="M{sx - 7:.1f},{top - 12} L{sx + 7:.1f},{top - 12} L{sx:.1f},{top - 3} Z" '
            'fill="#1d2330"/>'
            f'<text x="{min(max(sx, 30), width - 30):.1f}" y="{top - 15}" text-anchor="middle" '
            f'font-size="13" font-weight="700" fill="#1d2330">{score:.3f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(
    scores: Sequence[float],
    bands: Sequence[GradeBand],
    threshold: float | None = None,
    *,
    bins: int = 20,
    width: int = 320,
    height: int = 120,
) -> str:
    """Histogram of ``scores`` over 0..1, bars coloured by the grade band of their bin centre."""
    counts = [0] * bins
    for s in scores:
        counts[min(int(max(s, 0.0) * bins), bins - 1)] += 1
    peak = max(counts) or 1
    left, bottom, top = 24, 18, 6
    plot_w, plot_h = width - left - 6, height - bottom - top
    parts = [
        f'<svg class="histogram" viewBox="0 0 {width} {height}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9aa3b2"/>',
        f'<text x="{left - 4}" y="{top + 9}" text-anchor="end" font-size="10" fill="#5d6677">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10" fill="#5d6677">0</text>',
    ]
    for band in bands:  # faint grade bands behind the bars
        x0 = left + plot_w * min(max(band.lower, 0.0), 1.0)
        x1 = left + plot_w * min(max(band.upper, 0.0), 1.0)
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{plot_h}" '
            f'fill="{band_color(band.name)}" opacity="0.10"><title>{escape(band.name)}</title></rect>'
        )
    bw = plot_w / bins
    for i, c in enumerate(counts):
        centre = (i + 0.5) / bins
        holder = next((b for b in bands if b.lower <= centre < b.upper), None)
        color = band_color(holder.name) if holder else "#8f98a8"
        bh = plot_h * c / peak
        if c:
            parts.append(
                f'<rect x="{left + i * bw + 1:.1f}" y="{top + plot_h - bh:.1f}" width="{bw - 2:.1f}" '
                f'height="{bh:.1f}" fill="{color}">'
                f"<title>{i / bins:.2f}-{(i + 1) / bins:.2f}: {c}</title></rect>"
            )
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(
            f'<text x="{left + plot_w * t:.1f}" y="{height - 4}" text-anchor="middle" font-size="10" '
            f'fill="#5d6677">{t:g}</text>'
        )
    if threshold is not None:
        tx = left + plot_w * min(max(threshold, 0.0), 1.0)
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#1d2330" '
            'stroke-dasharray="3 3"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
