"""Render the suite's JSON (``docs/benchmarks/benchmarks.json``) as ``docs/benchmarks.md``.

``python bench/_suite_render.py docs/benchmarks/benchmarks.json docs/benchmarks.md`` regenerates the page
from the JSON. Everything comes from the JSON and :mod:`_suite_paper`, except the text between
``<!-- notes -->`` and ``<!-- /notes -->`` of an existing page, which is kept (hand-written analysis).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _suite_paper as paper
from _suite_data import family_label

__all__ = ["NOTES_BEGIN", "NOTES_END", "render_markdown", "write_markdown"]

NOTES_BEGIN, NOTES_END = "<!-- notes -->", "<!-- /notes -->"
DASH = "–"
#: our upstream column -> the paper's
UPSTREAM_MAP = {
    "all": "Test",
    "ct/lung_window": "Lung window",
    "ct/soft_window": "Soft window",
    "mr/head/t1": "Brain T1",
    "mr/head/t2": "Brain T2",
    "mr/breast/t1": "Breast T1",
}
#: our downstream cell -> the paper's
DOWNSTREAM_MAP = {
    "ct@3d": "Chest-CTIQA",
    "mr/head/t1@2d": "Brain-T1",
    "mr/head/t2@2d": "Brain-T2",
    "mr/head/flair@2d": "Brain-FLAIR",
    "fundus@2d": "Fundus",
    "ct/abdomen@2d": "LDCTIQAC2023",
}
DOWNSTREAM_ORDER = ("shipped", "medIQA", "no-pt", "no-pm", "resnet", "vit", "cnniqa")
BASELINES = ("resnet", "vit", "cnniqa")
ABLATION_LABELS = {
    "uniform_slices": "salient slices -> 7 uniform slices",
    "random_slices": "salient slices -> 7 random slices",
    "plain_mean": "slice weights -> plain mean of slice scores",
    "no-pt": "without pre-training (PT)",
    "no-pm": "without prompts (PM)",
}


def _f(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return DASH
    return f"{v:.{digits}f}"


def _signed(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return DASH
    return f"{v:+.{digits}f}"


def _spr(m: Mapping[str, Any] | None) -> str:
    """``SRCC / PLCC / RMSE`` of one cell."""
    if not m or not m.get("n"):
        return DASH
    return f"{_f(m.get('srcc'))} / {_f(m.get('plcc'))} / {_f(m.get('rmse'))}"


def _params(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _cell_label(key: str) -> str:
    family, _, dim = key.partition("@")
    return f"{family_label(family)} {dim.upper()}".strip() if dim else family_label(family)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _label(data: Mapping[str, Any], model: str) -> str:
    base, _, stage = model.partition("@")
    info = data["models"].get(base, {})
    label = info.get("label", base)
    return f"{label}, pre-training stage" if stage == "pt" else label


def _figure(data: Mapping[str, Any], name: str, alt: str) -> list[str]:
    """An image line for figure ``name`` of the run, if it was drawn (paths relative to the page)."""
    file = data.get("figures", {}).get(name)
    folder = data["meta"].get("figures_dir", "benchmarks")
    return [f"![{alt}]({folder}/{file})", ""] if file else []


def _paper_cell(cells: Mapping[str, Any] | None, column: str) -> str:
    cell = (cells or {}).get(column)
    return DASH if cell is None else " / ".join(_f(v, 4) for v in cell)


def _header(data: Mapping[str, Any]) -> list[str]:
    meta = data["meta"]
    folder = meta.get("figures_dir", "benchmarks")
    sources = meta.get("sources", [])
    lines = ["# Benchmarks", ""]
    if meta.get("quick"):
        lines += [
            "> **Quick run — not the real figures.** This page comes from `python bench/suite.py --quick`:",
            "> tiny model configurations, about 20 training steps per trained model, three held-out sources",
            "> and fewer bootstrap resamples. It shows that the suite runs end to end and what the tables",
            "> look like; the numbers mean nothing yet. Regenerate with the full command below.",
            "",
        ]
    total = meta.get("total_seconds")
    steps = meta.get("max_steps_per_model", 0)
    this_run = f"   # this page: {meta.get('command', '')}" if meta.get("quick") else ""
    lines += [
        "Everything on this page is regenerated from scratch, with fixed seeds, by one command:",
        "",
        "```",
        f"python bench/suite.py{this_run}",
        "```",
        "",
        f"Last run: {meta.get('date')}, {_f(total / 60 if total else None, 1)} min wall time on "
        f"{meta['machine'].get('cpu_count')} CPU cores ({meta['machine'].get('platform')}); scorer "
        f"`{meta.get('scorer')}` from the registry; seed {meta.get('seed')}; training budget "
        f"{_f(meta.get('budget_minutes_per_model'), 1)} min per trained model"
        + (f", at most {steps} steps" if steps < 100_000 else "")
        + f". All numbers are in [`{folder}/benchmarks.json`]({folder}/benchmarks.json).",
        "",
        "**Different data from the paper.** Our numbers come from real scans of our held-out *test* split "
        f"({len(sources)} sources: {', '.join(f'`{s}`' for s in sources)}; {meta.get('n_images')} images, "
        f"{meta.get('n_3d')} of them 7-slice volumes), each degraded by the data engine at fixed levels "
        "(`mediqa_sdk.export.heldout.LEVELS`) and scored against the engine's pseudo-MOS (a full-reference "
        "fidelity label, [data-engine.md](data-engine.md)) or, upstream, the simulated physical parameter. "
        "The paper's numbers (MedIQA, MICCAI) come from its own benchmarks with expert scores. They sit "
        "next to ours for the same table cells to show the shape of the comparison; the values are not "
        "comparable. A dash marks a cell without data (e.g. no breast MR or chest CT in our test split).",
        "",
    ]
    return lines


def _training_note(data: Mapping[str, Any]) -> list[str]:
    meta = data["meta"]
    trained = [m for m, v in data["models"].items() if v.get("kind") == "torch"]
    if not trained:
        return [
            "No model was trained in this run (`--skip-training`): only the registry's scorer and the "
            "classical measures are evaluated.",
            "",
        ]
    rows = []
    for m in trained:
        info = data["models"][m]
        stages = info.get("training", {})
        desc = ", ".join(
            f"{s} {v.get('steps')} steps / {_f(v.get('seconds', 0) / 60, 1)} min" for s, v in stages.items()
        )
        rows.append([info.get("label", m), f"`{info.get('config')}`", _params(info.get("params", 0)), desc])
    shipped = data["models"].get("shipped", {}).get("training", {})
    shipped_steps = shipped.get("step") if isinstance(shipped, dict) else None
    lines = [
        "### Trained rows",
        "",
        f"Every trained row used the same data stream (data engine, train split, seed {meta.get('seed')}), "
        "the same validation set, fp32, and the same wall-clock budget of "
        f"{_f(meta.get('budget_minutes_per_model'), 1)} min: two-stage models spend half on physics "
        "pre-training and half on fine-tuning (MSE + within-source ranking loss, as the shipped recipe); "
        "*without pre-training* fine-tunes from random weights for the whole budget. This is **far less "
        "training than the shipped model** had"
        + (f" (its fine-tuning stage alone was selected at step {shipped_steps})" if shipped_steps else "")
        + ", so the trained rows compare methods at equal small compute; the shipped row shows the product. "
        "Budgets are wall clock, so the number of steps depends on the machine's load (the data stream and "
        "initial weights do not); `--steps N --budget-minutes 999` trains a fixed number of steps instead.",
        "",
    ]
    return [*lines, *_table(["row", "config", "parameters", "training"], rows), ""]


def _upstream(data: Mapping[str, Any]) -> list[str]:
    up = data["upstream"]
    cols = up["columns"]
    order = ["shipped"] + [f"{m}@pt" for m in DOWNSTREAM_ORDER if f"{m}@pt" in up["rows"]]
    lines = [
        "## Upstream: physical parameters (paper Table 1, top)",
        "",
        "Predicted vs simulated CT dose (mAs) and MR field strength (T) on the held-out images of the "
        "`ct_dose` and `mr_field_strength` families (4 levels each; clean images are left out, their "
        "parameter is unknown), both on the normalised log scale of the registry (0..1). Each held-out CT "
        "is shown to the model in every CT window (our test split has **no chest CT**: the lung and "
        "soft-tissue windows show abdominal and head CT); MR images in their own contrast. *All*: every "
        "image once, in its region's window(s). Cells: **SRCC / PLCC / RMSE**.",
        "",
    ]
    header = ["model", *(f"{family_label(c)} (n={up['images'].get(c, 0)})" for c in cols)]
    rows = [[_label(data, m), *(_spr(up["rows"][m].get(c)) for c in cols)] for m in order if m in up["rows"]]
    for measure, cells in up.get("classical", {}).items():
        what = "CT noise level, sign-flipped" if measure == "ct_noise" else "MR SNR"
        rows.append([f"classical: {what} (SRCC only)", *(_f(cells.get(c, {}).get("srcc")) for c in cols)])
    lines += [*_table(header, rows), ""]
    mapped = list(UPSTREAM_MAP.items())
    lines += [
        "Next to the paper (its pre-training data and sub-benchmarks; **different data**). Our cell above "
        "the paper's column name; the paper's CNNIQAnet, ResNet and ViT are the counterparts of our "
        "baselines:",
        "",
    ]
    header = ["", *(f"{theirs} (ours: {family_label(ours)})" for ours, theirs in mapped)]
    rows = [
        [f"ours: {_label(data, m)}", *(_spr(up["rows"][m].get(o)) for o, _ in mapped)]
        for m in order
        if m in up["rows"]
    ]
    rows += [
        [f"paper: {p}", *(_paper_cell(cells, t) for _, t in mapped)] for p, cells in paper.UPSTREAM.items()
    ]
    return lines + _table(header, rows) + [""]


def _downstream(data: Mapping[str, Any]) -> list[str]:
    down = data["downstream"]
    cells = ["@".join(c) for c in down["cells"]]
    order = [m for m in DOWNSTREAM_ORDER if m in down["rows"]]
    n_of = {c: next(iter(down["rows"].values()))[c]["n"] for c in cells} if down["rows"] else {}
    lines = [
        "## Downstream: quality vs pseudo-MOS (paper Table 1, bottom)",
        "",
        "Score vs pseudo-MOS over every held-out image of a family (clean and all degradation levels "
        "pooled), volumes (3D: 7 salient slices) and single slices (2D) separately; *CT*, *MR*: all "
        "regions and contrasts pooled. Cells: **SRCC / PLCC / RMSE** (PLCC and RMSE raw, no logistic fit).",
        "",
    ]
    header = ["model", *(f"{_cell_label(c)} (n={n_of.get(c, 0)})" for c in cells)]
    rows = [[_label(data, m), *(_spr(down["rows"][m].get(c)) for c in cells)] for m in order]
    lines += [*_table(header, rows), ""]
    avg = down.get("average_srcc", {})
    leaf = ", ".join(_cell_label("@".join(c)) for c in down.get("leaf_cells", []))
    lines += [f"Average SRCC over the family cells ({leaf}):", ""]
    avg_rows = [[_label(data, m), _f(avg.get(m))] for m in order]
    lines += [*_table(["model", "average SRCC"], avg_rows), ""]
    lines += [*_verdict(data), ""]
    mapped = list(DOWNSTREAM_MAP.items())
    lines += ["Next to the paper (its expert-scored benchmarks; **different data**):", ""]
    header = ["", *(f"{theirs} (ours: {_cell_label(ours)})" for ours, theirs in mapped)]
    rows = [[f"ours: {_label(data, m)}", *(_spr(down["rows"][m].get(o)) for o, _ in mapped)] for m in order]
    rows += [[f"paper: {p}", *(_paper_cell(c, t) for _, t in mapped)] for p, c in paper.DOWNSTREAM.items()]
    lines += _table(header, rows)
    lines += ["", "(The paper's ViT downstream row is illegible in our copy and left out.)", ""]
    lines += _figure(data, "downstream_srcc", "downstream SRCC per family")
    return lines + _figure(data, "scatter_shipped", "shipped model vs pseudo-MOS")


def _verdict(data: Mapping[str, Any]) -> list[str]:
    avg = data["downstream"].get("average_srcc", {})
    ours = avg.get("shipped")
    present = [b for b in BASELINES if b in avg]
    if ours is None or not present:
        return ["(No trained baselines in this run: no comparison of average SRCC.)"]
    better = [b for b in present if avg[b] is not None and avg[b] >= ours]
    names = ", ".join(f"{_label(data, b)} {_f(avg[b])}" for b in better)
    if not better:
        return [f"**The shipped model beats every baseline on the average downstream SRCC** ({_f(ours)})."]
    return [
        f"**The shipped model ({_f(ours)}) does not beat every baseline on the average downstream SRCC**: "
        f"{names}. See the notes below for where and why."
    ]


def _classical(data: Mapping[str, Any]) -> list[str]:
    down = data["downstream"]
    cells = ["@".join(c) for c in down.get("leaf_cells", [])]
    desc = down.get("classical_descriptions", {})
    lines = [
        "## Classical no-reference measures",
        "",
        "Rank correlation (SRCC) of each measure with the pseudo-MOS on the same held-out images, "
        "**sign-aligned**: a measure where lower is better (CT noise level, MR CJV and EFC) is negated "
        "first, so a positive SRCC always means the measure ranks images the right way. No fitting, no "
        "training. For comparison, the shipped model's SRCC on the same cells is the first row.",
        "",
    ]
    rows = [
        [
            "shipped model (score)",
            *(_f(down["rows"].get("shipped", {}).get(c, {}).get("srcc")) for c in cells),
        ]
    ]
    for measure, by_cell in down.get("classical", {}).items():
        rows.append([desc.get(measure, measure), *(_f(by_cell.get(c, {}).get("srcc")) for c in cells)])
    return lines + _table(["measure", *(_cell_label(c) for c in cells)], rows) + [""]


def _delta_cell(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return DASH
    parts = []
    for m, tag in (("srcc", "S"), ("plcc", "P"), ("rmse", "R")):
        d = entry["deltas"][m]
        lo, hi = d.get("ci95", [None, None])
        parts.append(f"Δ{tag} {_signed(d.get('delta'))} [{_signed(lo)}, {_signed(hi)}]")
    return "<br>".join(parts)


def _ablation_block(data: Mapping[str, Any], block: Mapping[str, Any], reference: str) -> list[str]:
    keys = list(dict.fromkeys(k for v in block.values() for k in v))  # cells in the order computed
    header = [
        "",
        *(f"{_cell_label(k)} (n={next(v[k]['n'] for v in block.values() if k in v)})" for k in keys),
    ]
    first = next(iter(block.values()))
    rows = [[f"{reference} (S / P / R)", *(_spr(first.get(k, {}).get("full")) for k in keys)]]
    for name, by_cell in block.items():
        rows.append([ABLATION_LABELS.get(name, name), *(_delta_cell(by_cell.get(k)) for k in keys)])
    return _table(header, rows)


def _ablations(data: Mapping[str, Any]) -> list[str]:
    ab = data["ablations"]
    lines = [
        "## Ablations (paper Table 2)",
        "",
        "Each row is a delta **full − ablated** on the same held-out images, with a paired percentile "
        f"bootstrap 95 % CI ({ab.get('resamples')} resamples of the images; both models scored on each "
        "resample). Positive ΔS (SRCC) and ΔP (PLCC) and negative ΔR (RMSE) mean the component helps. The "
        "bootstrap resamples images, not sources: images of one source are correlated, so with few "
        "held-out sources the intervals are optimistic.",
        "",
        "**At evaluation time, shipped model** (3D only: salient slices and slice weights act on volumes). "
        "Uniform: 7 slices evenly spaced over the whole volume, background included; random: 7 random "
        "slices (seeded per source); both built with the runtime's preprocessing and the original prompts, "
        "and scored against the same pseudo-MOS (computed on the salient slices). Plain mean: the "
        "unweighted mean of the graph's `slice_scores` instead of its `score`.",
        "",
    ]
    if ab.get("eval_time"):
        lines += [*_ablation_block(data, ab["eval_time"], "shipped model"), ""]
    if ab.get("training"):
        lines += [
            "**Training ablations, at the suite's budget** (reference: MedIQA trained in this run with the "
            "same budget; *without prompts* zeroes the prompt vector in training and evaluation):",
            "",
        ]
        lines += [*_ablation_block(data, ab["training"], "MedIQA (suite budget)"), ""]
    lines += ["The paper's Table 2 (its data; **different data**), cells SRCC / PLCC / RMSE:", ""]
    cols = paper.ABLATION_COLUMNS
    rows = []
    for r in paper.ABLATION_ROWS:
        marks = ["✓" if r[k] else "✗" for k in ("pt", "pm", "ss")]
        note = f" ({r['note']})" if r["note"] else ""
        rows.append([f"{r['row']}{note}", *marks, *(_paper_cell(r["cells"], c) for c in cols)])
    return lines + _table(["row", "PT", "PM", "SS", *cols], rows) + [""]


def _sweep(data: Mapping[str, Any]) -> list[str]:
    sw = data.get("sweep", {})
    lines = [
        "## Robustness sweep",
        "",
        "The shipped model's score at each degradation level of each family: mean ± sd over the held-out "
        "(source, dimension) series, and in brackets the mean pseudo-MOS of the same images. Levels are in "
        "the family's physical unit (mAs, views, mm, T, ...; [data-engine.md](data-engine.md)). Read it "
        "as: what score does an image degraded this much get.",
        "",
    ]
    lines += _figure(data, "robustness", "robustness sweep")
    width = max((len(v) for v in sw.values()), default=0)
    header = ["family", "clean", *(f"level {k}" for k in range(1, width))]
    rows = []
    for family, pts in sw.items():
        cells = []
        for p in pts:
            at = "" if p.get("param") is None else f"{p['param']:g}: "
            cells.append(f"{at}{_f(p.get('mean'), 2)} ± {_f(p.get('sd'), 2)} ({_f(p.get('mos'), 2)})")
        rows.append([family, *cells, *([""] * (width - len(cells)))])
    return lines + _table(header, rows) + [""]


def _calibration(data: Mapping[str, Any]) -> list[str]:
    cal = data.get("calibration", {})
    lines = [
        "## Calibrated grade thresholds",
        "",
        "Per family, the score thresholds that best separate *non-diagnostic* (pseudo-MOS ≤ 0.3) and *good* "
        "(pseudo-MOS ≥ 0.9) images of the held-out set (Youden's J; `mediqa_sdk.evaluation.calibration`). "
        + (
            f"Written to `{cal['written_to']}` for the scorer."
            if cal.get("written_to")
            else "Not written to the registry in this run (`--write-calibration` does)."
        ),
        "",
    ]
    rows = []
    for family, c in cal.get("families", {}).items():
        nd = c.get("nondiagnostic") or {}
        rows.append(
            [
                f"`{family}`",
                str(c.get("n")),
                _f(c.get("poor_below")),
                _f(c.get("good_from")),
                _f(nd.get("youden_j")),
                _f(nd.get("auc")),
                "; ".join(c.get("notes", [])) or "",
            ]
        )
    header = ["family", "n", "poor below", "good from", "J (non-diag.)", "AUC (non-diag.)", "notes"]
    return lines + _table(header, rows) + [""]


def _figures_and_timing(data: Mapping[str, Any]) -> list[str]:
    meta = data["meta"]
    parity = data.get("parity", {})
    lines = [
        "## Run",
        "",
        "Checks: the shipped scorer's numbers equal `mediqa score`'s on "
        f"{parity.get('runtime_images_checked')} images (max |Δscore| "
        f"{_f(parity.get('runtime_score_max_abs_diff'), 6)}); network inputs rebuilt for the slice ablation "
        f"equal the runtime's (max |Δ| {_f(parity.get('feeds_rebuilt_max_abs_diff'), 6)}).",
        "",
    ]
    timings = meta.get("timings_s", {})
    rows = [[k, _f(v / 60, 1)] for k, v in timings.items()]
    rows.append(["**total**", _f((meta.get("total_seconds") or 0) / 60, 1)])
    return lines + _table(["phase", "minutes"], rows) + [""]


def render_markdown(data: Mapping[str, Any], notes: str | None = None) -> str:
    """The page for the suite JSON ``data``; ``notes`` is kept between the notes markers."""
    lines = _header(data)
    lines += _training_note(data)
    lines += _upstream(data)
    lines += _downstream(data)
    lines += _classical(data)
    lines += _ablations(data)
    lines += _sweep(data)
    lines += _calibration(data)
    lines += [
        "## Notes",
        "",
        NOTES_BEGIN,
        (notes or "(analysis of the latest full run goes here; kept when the page is regenerated)").strip(),
        NOTES_END,
        "",
    ]
    lines += _figures_and_timing(data)
    return "\n".join(lines).rstrip() + "\n"


def _existing_notes(path: Path) -> str | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    start, end = text.find(NOTES_BEGIN), text.find(NOTES_END)
    if start < 0 or end < start:
        return None
    return text[start + len(NOTES_BEGIN) : end].strip()


def write_markdown(data: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``data`` to ``path``, keeping the notes of the page already there."""
    path = Path(path)
    path.write_text(render_markdown(data, _existing_notes(path)), encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/_suite_render.py BENCHMARKS.json BENCHMARKS.md")
    write_markdown(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
