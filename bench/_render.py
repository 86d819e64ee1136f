"""Render the harness JSON (``docs/performance.json``) as ``docs/performance.md``.

``python bench/_render.py docs/performance.json docs/performance.md`` regenerates the page from the JSON.
Everything in the page comes from the JSON, except the text between ``<!-- notes -->`` and
``<!-- /notes -->`` of an existing page, which is kept as it is (hand-written analysis).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["NOTES_BEGIN", "NOTES_END", "render_markdown", "write_markdown"]

NOTES_BEGIN, NOTES_END = "<!-- notes -->", "<!-- /notes -->"
STAGES = (
    ("load", "load"),
    ("select", "salient slices"),
    ("preprocess", "preprocess"),
    ("classify", "classifier"),
    ("score", "scorer"),
    ("report", "report"),
)


def _s(value: Any, digits: int = 2) -> str:
    """Seconds (or any number) with ``digits`` decimals; a dash when missing."""
    if value is None:
        return "–"
    return f"{float(value):.{digits}f}"


def _mib(nbytes: Any) -> str:
    return "–" if nbytes is None else f"{float(nbytes) / 2**20:.1f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _verdict(value: float | None, target: float | None, unit: str = "") -> str:
    if value is None or target is None:
        return "–"
    mark = "met" if value <= target else "NOT met"
    return f"{mark} ({value:.2f}{unit} vs <= {target:g}{unit})"


def _inputs_tables(inputs: list[dict[str, Any]]) -> list[str]:
    lines = ["## Every input: end to end against the I/O floor", ""]
    rows = []
    for it in inputs:
        floor, cli, api = it.get("floor") or {}, it.get("cli") or {}, it.get("api") or {}
        rows.append(
            (
                it["title"],
                _mib(it.get("bytes")),
                _s(floor.get("wall_s")),
                _s(cli.get("wall_s")),
                _s(it.get("ratio")),
                "–" if it.get("target") is None else f"{it['target']:g}",
                _s(api.get("wall_s"), 3),
                _s(cli.get("rss_mib"), 0),
                _s(floor.get("rss_mib"), 0),
            )
        )
    lines += _table(
        (
            "input",
            "MiB on disk",
            "floor (s)",
            "CLI end to end (s)",
            "ratio",
            "target",
            "API warm (s)",
            "CLI peak RSS (MiB)",
            "floor peak RSS (MiB)",
        ),
        rows,
    )
    extra = [it for it in inputs if it.get("floor_all_pixels")]
    if extra:
        lines.append("")
        for it in extra:
            lines.append(
                f"{it['title']}: reading every file's pixels too (not needed by the rule) takes "
                f"{_s(it['floor_all_pixels'].get('wall_s'))} s in a fresh process."
            )
    for key, title in (("cli", "fresh `mediqa score` process"), ("api", "warm `Assessor.score`")):
        lines += ["", f"### Stages, {title} (median seconds)", ""]
        header = ["input", *(name for _, name in STAGES), "sum of stages"]
        if key == "cli":
            header += ["outside the stages (start, imports, output)"]
        rows = []
        for it in inputs:
            part = it.get(key) or {}
            stages = part.get("stages") or {}
            row = [it["title"], *(_s(stages.get(k), 3) for k, _ in STAGES), _s(stages.get("total"), 3)]
            if key == "cli":
                row.append(_s(part.get("outside_s"), 3))
            rows.append(row)
        lines += _table(header, rows)
    return lines


def _throughput(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Throughput (warm `Assessor.iter_score`, default settings)", ""]
    lines += _table(
        (
            "inputs",
            "scans",
            "failed",
            "wall (s)",
            "scans/s",
            "input slices/s",
            "scored slices/s",
            "share in inference",
            "share in loading",
        ),
        (
            (
                r["title"],
                str(r.get("scans", "–")),
                str(r.get("failed", "–")),
                _s(r.get("wall_s")),
                _s(r.get("scans_per_s")),
                _s(r.get("input_slices_per_s"), 0),
                _s(r.get("scored_slices_per_s"), 0),
                "–" if r.get("inference_share") is None else f"{100 * r['inference_share']:.0f} %",
                "–" if r.get("load_share") is None else f"{100 * r['load_share']:.0f} %",
            )
            for r in rows
        ),
    )
    lines += [
        "",
        "Shares are summed stage times over the wall time; loading runs in a reader thread that overlaps "
        "inference, so the two can add up to more than 100 %.",
    ]
    return lines


def _cold(cold: dict[str, Any]) -> list[str]:
    lines = ["## Cold start (fresh process, median)", ""]
    rows = []
    for key, title in (("help", "`mediqa --help`"), ("score_2d", "`mediqa score` of one 2D image")):
        part = cold.get(key)
        if part:
            rows.append(
                (title, _s(part.get("wall_s")), _verdict(part.get("wall_s"), part.get("target"), " s"))
            )
    lines += _table(("command", "wall (s)", "target"), rows)
    return lines


def _paper(paper: dict[str, Any] | None) -> list[str]:
    lines = ["## Paper-scale reference (same 7 slices, same machine, onnxruntime CPU)", ""]
    if not paper or paper.get("skipped"):
        why = (paper or {}).get("skipped", "not measured")
        return [*lines, f"Not measured in this run: {why}."]
    lines += _table(
        ("scorer", "parameters (M)", "7 slices (s)", "runs"),
        (
            (
                f"paper scale `{paper['config']}` (random weights)",
                _s(paper.get("params_m"), 1),
                _s(paper.get("paper_7_slices_s")),
                str(paper.get("paper_runs", "–")),
            ),
            (
                f"shipped `{paper['shipped']}`",
                _s(paper.get("shipped_params_m"), 1),
                _s(paper.get("shipped_7_slices_s"), 4),
                str(paper.get("shipped_runs", "–")),
            ),
        ),
    )
    lines += ["", f"Speed-up of the shipped scorer: **{paper['speedup']:.0f} x** on the same slices."]
    if paper.get("accuracy"):
        lines.append(str(paper["accuracy"]))
    return lines


def _gpu(gpu: dict[str, Any] | None) -> list[str]:
    lines = ["## GPU", ""]
    if not gpu or gpu.get("dry_run"):
        lines += [
            "No GPU was available in this session, so there is no GPU table yet. On a machine with an "
            "NVIDIA GPU run `bash bench/gpu_check.sh` (it installs the `[gpu]` extra, checks that the CUDA "
            "and TensorRT execution providers are really used, compares scores with CPU and measures "
            "slices/s for batch sizes 1..256), then `python bench/perf.py --gpu-json <OUT>/gpu_check.json` "
            "to put its tables here.",
        ]
        if not gpu:
            return lines
        lines += [
            "",
            "What follows is the script's CPU dry run (`--cpu-dry-run`): it proves the script works, "
            "not the GPU.",
            "",
        ]
    head = f"{gpu.get('gpu', 'GPU')}, {gpu.get('date', '')}, onnxruntime {gpu.get('onnxruntime', '?')}"
    lines += [f"{head} (built for CUDA {gpu.get('ort_cuda', '?')}).", ""]
    checks = gpu.get("checks") or []
    if checks:
        lines += _table(
            ("check", "result", "detail"),
            (
                (c["name"], "pass" if c["ok"] else "FAIL", c.get("detail", "").replace("|", "/"))
                for c in checks
            ),
        )
        lines.append("")
    rows = gpu.get("throughput") or []
    if rows:
        lines += _table(
            ("provider", "precision", "batch (slices)", "slices/s", "ms per batch"),
            (
                (
                    r["provider"],
                    r.get("precision", "fp32"),
                    str(r["batch"]),
                    _s(r.get("slices_per_s"), 0),
                    _s(r.get("ms_per_batch"), 2),
                )
                for r in rows
            ),
        )
    cache = gpu.get("engine_cache") or []
    if cache:
        rows_c = ((r["cache"], _s(r["seconds"])) for r in cache)
        lines += ["", *_table(("TensorRT engine cache", "session + first run (s)"), rows_c)]
    return lines


def _targets(data: dict[str, Any]) -> list[str]:
    lines = ["## Targets", ""]
    rows = []
    for it in data.get("inputs", []):
        if it.get("target") is not None:
            rows.append(
                (f"{it['title']}: CLI / floor", _verdict(it.get("ratio"), it["target"], "x"), _gap(it))
            )
    cold = data.get("cold_start", {})
    for key, title in (("help", "`mediqa --help`"), ("score_2d", "first score of a 2D image")):
        part = cold.get(key)
        if part:
            rows.append((title, _verdict(part.get("wall_s"), part.get("target"), " s"), ""))
    lines += _table(("target", "result", "where the time above the floor goes"), rows)
    return lines


def _gap(it: dict[str, Any]) -> str:
    cli, floor = it.get("cli") or {}, it.get("floor") or {}
    if cli.get("wall_s") is None or floor.get("wall_s") is None:
        return ""
    stages = cli.get("stages") or {}
    above = cli["wall_s"] - floor["wall_s"]
    parts = [f"{above:+.2f} s in all"]
    if cli.get("outside_s") is not None:
        parts.append(f"start/imports/output {cli['outside_s']:.2f}")
    if stages.get("load") is not None:
        parts.append(f"load {stages['load']:.2f}")
    infer = sum(stages.get(k) or 0.0 for k in ("select", "preprocess", "classify", "score", "report"))
    parts.append(f"select+preprocess+inference {infer:.2f}")
    return "; ".join(parts)


def render_markdown(data: dict[str, Any], notes: str = "") -> str:
    """The page for one harness run. ``notes``: hand-written text kept between the notes markers."""
    m = data.get("machine", {})
    title = "# Performance"
    if data.get("provisional"):
        title += " — provisional (machine busy)"
    lines = [title, ""]
    if data.get("provisional"):
        lines += [
            f"> **Provisional (machine busy).** {data.get('note') or ''} Absolute times are inflated; "
            "rerun on a quiet machine with the command below before quoting them.",
            "",
        ]
    lines += [
        f"Measured {data.get('date', '?')} with `{data.get('command', 'python bench/perf.py')}`"
        f"{' (quick: fewer repeats)' if data.get('quick') else ''}; generated from `docs/performance.json` "
        "by `bench/_render.py`.",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, load average "
        f"{_load(m.get('load_before'))} before / {_load(m.get('load_after'))} after; Python "
        f"{m.get('python', '?')}, onnxruntime {m.get('onnxruntime', '?')} "
        f"({', '.join(m.get('providers', []))}), "
        f"numpy {m.get('numpy', '?')}, nibabel {m.get('nibabel', '?')}, pydicom {m.get('pydicom', '?')}, "
        f"isal {m.get('isal') or 'not installed'}. Repeats: {data.get('repeats', {})} (medians reported).",
        "",
        "Inputs are generated by the harness (`bench/_inputs.py`, cached outside the repository): smooth "
        "anatomy with realistic noise, so they compress like real scans. **Floor**: a fresh Python process "
        "that imports nibabel (NIfTI) / pydicom (DICOM) / OpenCV (images) and reads the same file and "
        "nothing else (DICOM series: headers of all files plus the pixels of 7 slices). **CLI end to end**: "
        "a fresh `mediqa score FILE --format json` process, start to exit. Files are in the page cache and "
        "bytecode is compiled (as in an installed package) for both.",
        "",
    ]
    if data.get("inputs"):
        lines += [*_targets(data), "", *_inputs_tables(data["inputs"]), ""]
    if data.get("throughput"):
        lines += [*_throughput(data["throughput"]), ""]
    if data.get("cold_start"):
        lines += [*_cold(data["cold_start"]), ""]
    lines += [*_paper(data.get("paper")), "", *_gpu(data.get("gpu")), ""]
    lines += ["## Notes", "", NOTES_BEGIN, notes.strip("\n"), NOTES_END, ""]
    return "\n".join(lines)


def _load(values: Any) -> str:
    if not values:
        return "?"
    return "/".join(f"{float(v):.1f}" for v in values)


def existing_notes(path: Path) -> str:
    """The hand-written notes of an existing page (empty when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    start, end = text.find(NOTES_BEGIN), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_BEGIN) : end]


def write_markdown(data: dict[str, Any], path: Path) -> Path:
    """Render ``data`` into ``path``, keeping the notes of the page already there."""
    path.write_text(render_markdown(data, existing_notes(path)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python bench/_render.py RESULTS.json PAGE.md")
    data = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    print(write_markdown(data, Path(args[1])))


if __name__ == "__main__":
    main()
