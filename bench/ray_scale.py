"""Ray Data batch scoring on one node: rows/s with 1 and 2 workers (and the serial engine for reference).

Run ``python bench/ray_scale.py`` (about 3 minutes on 2 cores; needs the ``[ray]`` extra and pillow). It
generates a mixed archive (by default 300 2D images: 16-bit MR PNGs and RGB fundus PNGs, 40 small CT NIfTI
volumes, 4 DICOM series, 4 bad files) with the test fixture builders, starts a local Ray cluster with
``--cpus`` CPUs, and scores the archive's manifest with ``score_manifest`` into a fresh Parquet dataset per
run, interleaving the configurations so that load drifts hit all of them. Reported per configuration: the
median of ``--repeats`` runs of

- ``rows_per_s``: all rows / wall time of ``score_manifest`` (reading the manifest, starting the actor pool:
  importing the SDK and loading the graphs in each actor, scoring, writing the parts);
- ``steady_rows_per_s``: the pool warm: rows after the ``workers``-th part / time from that part to the
  last (``block_rows`` 16, so a run writes about 20 parts).

Writes ``docs/distributed.json`` (``--out``) and the table between the ``ray_scale`` markers of
``docs/distributed.md`` (with the default ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "docs" / "distributed.json"
DOC = ROOT / "docs" / "distributed.md"
BEGIN, END = "<!-- ray_scale:begin -->", "<!-- ray_scale:end -->"
BLOCK_ROWS = 16  # rows per Ray task and part: enough parts per run to time the warm pool


def _run(manifest: Path, output: Path, engine: str, workers: int) -> dict[str, Any]:
    from mediqa_sdk.distributed import score_manifest

    marks: list[tuple[float, int]] = []
    rss: list[float] = []

    def mark(done: int, total: int) -> None:
        marks.append((time.perf_counter(), done))
        if engine == "ray" and done:
            rss.extend(_actor_rss_mb())

    t0 = time.perf_counter()
    summary = score_manifest(
        str(manifest),
        str(output),
        engine=engine,
        workers=workers if engine == "ray" else None,
        threads_per_worker=1,
        block_rows=BLOCK_ROWS,
        resume=False,
        progress=mark,
    )
    wall = time.perf_counter() - t0
    parts = [(t, n) for t, n in marks if n > 0]
    steady, warm = None, min(workers, len(parts)) - 1  # by the workers-th part every actor has scored a block
    if len(parts) - warm >= 3 and parts[-1][0] > parts[warm][0]:
        steady = (parts[-1][1] - parts[warm][1]) / (parts[-1][0] - parts[warm][0])
    return {
        "rows": summary.scored,
        "errors": summary.errors,
        "wall_s": round(wall, 3),
        "rows_per_s": round(summary.scored / wall, 2),
        "steady_rows_per_s": round(steady, 2) if steady is not None else None,
        "actor_rss_mb": round(max(rss), 1) if rss else None,
    }


def _actor_rss_mb() -> list[float]:
    """Resident memory of each scoring actor plus its isolated reader process (Linux /proc), in MB."""
    procs: dict[int, tuple[int, str, float]] = {}  # pid -> (parent, command, rss)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kb = float(fields.get("VmRSS", "0 kB").split()[0])
        procs[int(entry.name)] = (int(fields.get("PPid", "0")), command, kb / 1024)
    actors = [pid for pid, (_, command, _) in procs.items() if "ScoreActor" in command]
    return [procs[a][2] + sum(mb for parent, _, mb in procs.values() if parent == a) for a in actors]


def _write_doc_table(report: dict[str, Any]) -> None:
    """Replace the text between the markers of docs/distributed.md with the measured table."""
    names = {"ray-1": "Ray, 1 worker", "ray-2": "Ray, 2 workers", "local-1": "serial (`--engine local`)"}
    m, a = report["machine"], report["archive"]
    busy = "; a training job was running" if m["training_job_running"] else ""
    lines = [
        f"{report['date']}, {m['cores']} cores ({m['platform']}), Ray {m['ray']}, onnxruntime "
        f"{m['onnxruntime']}; {a['rows']} rows ({a['2d']} 2D, {a['3d_nifti']} CT volumes, "
        f"{a['dicom_series']} DICOM series, {a['bad']} bad files), one thread per worker, medians of "
        f"{report['repeats']} runs{busy}.",
        "",
        "| engine | rows/s end to end | rows/s warm | seconds per run | memory per actor |",
        "|---|---|---|---|---|",
    ]
    for key, med in report["median"].items():
        rss = f"{med['actor_rss_mb']:.0f} MB" if med.get("actor_rss_mb") else "-"
        lines.append(
            f"| {names.get(key, key)} | {med['rows_per_s']:.1f} | {med['steady_rows_per_s'] or '-'} | "
            f"{med['wall_s']:.1f} | {rss} |"
        )
    lines += [
        "",
        f"2 workers / 1 worker: {report['ratio_2_vs_1']:.2f}x end to end (each run starts its actor pool: "
        f"importing the SDK and loading the graphs), {report['steady_ratio_2_vs_1'] or 'n/a'}x with the pool "
        "warm.",
    ]
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail, encoding="utf-8")


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def _training_running() -> bool:
    found = subprocess.run(["pgrep", "-f", "mediqa train"], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-2d", type=int, default=300)
    parser.add_argument("--n-3d", type=int, default=40)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--no-serial", action="store_true", help="skip the serial engine's runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import onnxruntime
    import ray

    from tests.distributed_fixtures import build_archive, write_manifest

    busy = _training_running()
    if busy:
        print("warning: a `mediqa train` job is running: the numbers will be low and noisy", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mediqa-ray-bench-") as tmp:
        folder = Path(tmp)
        rows = build_archive(folder / "scans", n_2d=args.n_2d, n_3d=args.n_3d, n_series=4)
        manifest = write_manifest(folder / "scans.csv", rows)
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
        configs = [("ray", 1), ("ray", 2)] + ([] if args.no_serial else [("local", 1)])
        runs: dict[str, list[dict[str, Any]]] = {f"{e}-{w}": [] for e, w in configs}
        try:
            _run(manifest, folder / "warmup.parquet", "ray", 2)  # page cache, bytecode, Ray's worker pool
            for k in range(args.repeats):
                for engine, workers in configs:
                    result = _run(manifest, folder / f"{engine}-{workers}-{k}.parquet", engine, workers)
                    runs[f"{engine}-{workers}"].append(result)
                    print(f"{engine:5s} workers={workers} run {k + 1}: {result}", file=sys.stderr)
        finally:
            ray.shutdown()
    summary = {
        name: {
            "rows_per_s": statistics.median(r["rows_per_s"] for r in results),
            "steady_rows_per_s": _median([r["steady_rows_per_s"] for r in results]),
            "wall_s": statistics.median(r["wall_s"] for r in results),
            "actor_rss_mb": _median([r["actor_rss_mb"] for r in results]),
        }
        for name, results in runs.items()
    }
    ratio = summary["ray-2"]["rows_per_s"] / summary["ray-1"]["rows_per_s"]
    steady = [summary[k]["steady_rows_per_s"] for k in ("ray-2", "ray-1")]
    steady_ratio = steady[0] / steady[1] if steady[0] and steady[1] else None
    report = {
        "schema": 1,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/ray_scale.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cores": os.cpu_count(),
            "ray_cpus": args.cpus,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "ray": ray.__version__,
            "onnxruntime": onnxruntime.__version__,
            "training_job_running": busy,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "archive": {
            "rows": len(rows),
            "2d": args.n_2d,
            "3d_nifti": args.n_3d,
            "dicom_series": 4,
            "bad": 4,
            "note": "2D: 64 px 16-bit MR PNGs and RGB fundus PNGs; 3D: 12x40x40 CT NIfTI; series: 9x32x32",
        },
        "repeats": args.repeats,
        "threads_per_worker": 1,
        "block_rows": BLOCK_ROWS,
        "median": summary,
        "ratio_2_vs_1": round(ratio, 3),
        "steady_ratio_2_vs_1": round(steady_ratio, 3) if steady_ratio else None,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.out == DEFAULT_OUT:
        _write_doc_table(report)
    for name, med in summary.items():
        print(
            f"{name:8s} {med['rows_per_s']:7.1f} rows/s end to end, {med['steady_rows_per_s']} rows/s "
            f"steady, {med['wall_s']:.1f} s per run"
        )
    warm = f"{steady_ratio:.2f}x" if steady_ratio else "n/a"
    print(f"2 workers / 1 worker: {ratio:.2f}x end to end, {warm} steady; wrote {args.out}")


if __name__ == "__main__":
    main()
