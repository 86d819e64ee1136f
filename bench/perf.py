"""Performance harness: every input end to end against its I/O floor, throughput, cold start, paper scale.

Run ``python bench/perf.py`` (about 5 minutes on 2 cores) or ``python bench/perf.py --quick`` (fewer
repeats, about 2 minutes). Prints a table, writes ``docs/performance.json`` (``--out``) and regenerates
``docs/performance.md`` next to it with :mod:`bench._render`.

What is measured (medians of ``--repeats`` runs; floors and CLI runs are interleaved so load drifts hit both):

- **Floor**: a fresh ``python -c`` process that imports nibabel / pydicom / OpenCV and reads the same file and
  nothing else (DICOM series: headers of every file, then the pixels of 7 evenly spaced slices); wall time
  from the parent, peak RSS from ``os.wait4``.
- **CLI**: a fresh ``mediqa score FILE --format json`` process; the per-stage seconds come from the
  result's provenance; "outside" = wall minus the stages (interpreter start, imports, discovery, output).
  Files are in the page cache and bytecode is compiled (one untimed run of each command first), for both.
- **API**: ``Assessor.score`` in this process after one warm-up score (sessions exist).
- **Throughput**: ``Assessor.iter_score`` over the 500-image folder and over a list of CT volumes
  (hard links to one file), default batch size.
- **Cold start**: ``mediqa --help`` and ``mediqa score`` of one 2D PNG.
- **Paper scale**: ``paper-vitb8`` (random weights, exported to ONNX once into the cache) and the shipped
  scorer on the same 7 network-input slices of the CT, onnxruntime CPU, in a child process that may import
  torch (the runtime never does). Skipped without the ``[train]`` extra or with ``--no-paper``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _inputs import BenchInputs, default_cache, ensure_inputs
from _render import write_markdown

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "performance.json"
PAPER = "paper-vitb8"
STAGE_KEYS = ("load", "select", "preprocess", "classify", "score", "report", "total")

# fresh-process floors: import the reader library and read the file, nothing else
FLOOR_NIFTI = "import sys, numpy as np, nibabel as nib; np.asanyarray(nib.load(sys.argv[1]).dataobj)"
FLOOR_IMAGE = "import sys, cv2; assert cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED) is not None"
FLOOR_DICOM_FILE = "import sys, pydicom; pydicom.dcmread(sys.argv[1]).pixel_array"
FLOOR_DICOM_SERIES = """
import sys, pathlib, pydicom
files = sorted(p for p in pathlib.Path(sys.argv[1]).iterdir() if p.is_file())
heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
order = sorted(range(len(files)), key=lambda i: float(heads[i].ImagePositionPatient[2]))
n = len(order)
picks = order if sys.argv[2] == "all" else [order[(2 * k + 1) * n // 14] for k in range(7)]
for i in picks:
    pydicom.dcmread(files[i]).pixel_array
"""

TITLES = {
    "ct_nifti": "chest CT 512x512x300 int16 .nii.gz",
    "ct_dicom": "chest CT DICOM series, 300 files",
    "mr_nifti": "brain MR 256x256x180 .nii.gz",
    "dicom_2d": "2D CT DICOM 512x512",
    "fundus_jpeg": "fundus JPEG 2000x2000",
}
TARGETS = {"ct_nifti": 1.3, "ct_dicom": 1.3}


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


class ProcessTimer:
    """Runs commands in fresh processes: wall time, and each child's own peak RSS.

    Peak RSS comes from GNU ``/usr/bin/time`` when present: Linux carries a process's high-water RSS across
    ``exec``, so ``wait4`` on a child forked from this (large) harness would report the harness's size.
    Without it, ``os.wait4`` is used and the RSS column is an upper bound.
    """

    def __init__(self) -> None:
        self.gnu_time = Path("/usr/bin/time") if Path("/usr/bin/time").is_file() else None

    def run(self, cmd: list[str]) -> tuple[float, float, str]:
        """(wall seconds, peak RSS MiB of this child, stdout); raises on a non-zero exit."""
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
            full = [str(self.gnu_time), "-f", "%M", "-o", rss_file.name, *cmd] if self.gnu_time else cmd
            t0 = time.perf_counter()
            proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = proc.communicate()
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                text = err.decode(errors="replace")[-800:]
                raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {text}")
            if self.gnu_time:
                rss_kib = float(rss_file.read().strip().splitlines()[-1])
            else:
                rss_kib = float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        return wall, rss_kib / 1024.0, out.decode()


def _child_env(cache: Path) -> None:
    """Fresh processes start as from an installed package, with their bytecode compiled once and cached
    (under ``cache``, not in the repository). A checkout run with ``PYTHONDONTWRITEBYTECODE`` set would
    compile every runtime module on every start (0.05 s of CPU); the floor's libraries come with theirs."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(cache / "pycache"))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mediqa_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "mediqa"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("mediqa")
    return [found] if found else [sys.executable, "-m", "mediqa_sdk.cli"]


def _stage_medians(timings: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for t in timings for k in t}
    return {k: statistics.median(t.get(k, 0.0) for t in timings) for k in sorted(keys)}


def _results(stdout: str) -> list[dict[str, Any]]:
    data = json.loads(stdout)
    return data if isinstance(data, list) else [data]


def _floor_cmds(name: str, path: Path) -> dict[str, list[str]]:
    py = [sys.executable, "-c"]
    if name in ("ct_nifti", "mr_nifti"):
        return {"floor": [*py, FLOOR_NIFTI, str(path)]}
    if name == "ct_dicom":
        return {
            "floor": [*py, FLOOR_DICOM_SERIES, str(path), "7"],
            "floor_all_pixels": [*py, FLOOR_DICOM_SERIES, str(path), "all"],
        }
    if name == "dicom_2d":
        return {"floor": [*py, FLOOR_DICOM_FILE, str(path)]}
    return {"floor": [*py, FLOOR_IMAGE, str(path)]}


def _bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _warm_cache(path: Path) -> None:
    """Read every byte once so floors and CLI runs all start from the page cache."""
    for p in sorted(path.iterdir()) if path.is_dir() else [path]:
        if p.is_file():
            with p.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def bench_input(name: str, path: Path, repeats: int, api_repeats: int, assessor: Any) -> dict[str, Any]:
    """Floor, CLI and API figures of one input."""
    log(f"  {name}: {path.name}")
    _warm_cache(path)
    timer = ProcessTimer()
    floors = _floor_cmds(name, path)
    cli_cmd = [*_mediqa_cmd(), "score", str(path), "--format", "json"]
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in [*floors, "cli"]}
    cli_timings: list[dict[str, float]] = []
    for cmd in [*floors.values(), cli_cmd]:  # untimed: bytecode compiled and cached (see _child_env)
        timer.run(cmd)
    for _ in range(repeats):
        for key, cmd in floors.items():
            wall, rss, _ = timer.run(cmd)
            runs[key].append((wall, rss))
        wall, rss, out = timer.run(cli_cmd)
        runs["cli"].append((wall, rss))
        cli_timings.append(dict(_results(out)[0]["provenance"]["timings"]))
    api_walls, api_timings = [], []
    assessor.score(path)  # warm-up
    for _ in range(api_repeats):
        t0 = time.perf_counter()
        res = assessor.score(path)
        api_walls.append(time.perf_counter() - t0)
        api_timings.append(dict(res.provenance.timings))

    def summary(key: str) -> dict[str, Any]:
        walls = [w for w, _ in runs[key]]
        return {
            "wall_s": _median(walls),
            "runs": [round(w, 4) for w in walls],
            "rss_mib": _median([r for _, r in runs[key]]),
        }

    cli = summary("cli")
    cli["stages"] = _stage_medians(cli_timings)
    cli["outside_s"] = cli["wall_s"] - cli["stages"].get("total", 0.0)
    row: dict[str, Any] = {
        "name": name,
        "title": TITLES[name],
        "path": path.name,
        "bytes": _bytes(path),
        "files": len(list(path.iterdir())) if path.is_dir() else 1,
        "floor": summary("floor"),
        "cli": cli,
        "api": {
            "wall_s": _median(api_walls),
            "runs": [round(w, 4) for w in api_walls],
            "stages": _stage_medians(api_timings),
        },
        "score": res.score,
        "slice_indices": list(res.slice_indices),
        "target": TARGETS.get(name),
    }
    if "floor_all_pixels" in runs:
        row["floor_all_pixels"] = summary("floor_all_pixels")
    row["ratio"] = cli["wall_s"] / row["floor"]["wall_s"]
    row["met"] = None if row["target"] is None else row["ratio"] <= row["target"]
    return row


def _throughput(title: str, name: str, paths: list[Path], assessor: Any, volumes: bool) -> dict[str, Any]:
    log(f"  throughput: {title}")
    for p in paths[:1] if volumes else paths:
        _warm_cache(p)
    t0 = time.perf_counter()
    outcomes = list(assessor.iter_score(paths))
    wall = time.perf_counter() - t0
    ok = [o.result for o in outcomes if o.result is not None]
    stage = {k: sum(r.provenance.timings.get(k, 0.0) for r in ok) for k in STAGE_KEYS}
    scored_slices = sum(len(r.slice_indices) * max(1, len(r.windows)) for r in ok)
    input_slices = len(ok) * (300 if volumes else 1)  # the CT list holds 300-slice volumes
    return {
        "name": name,
        "title": title,
        "scans": len(outcomes),
        "failed": len(outcomes) - len(ok),
        "errors": sorted({str(o.error)[:120] for o in outcomes if o.error is not None})[:5],
        "wall_s": wall,
        "scans_per_s": len(ok) / wall,
        "input_slices_per_s": input_slices / wall,
        "scored_slices_per_s": scored_slices / wall,
        "inference_share": (stage["classify"] + stage["score"]) / wall,
        "load_share": stage["load"] / wall,
        "stage_sums_s": stage,
    }


def bench_throughput(inputs: BenchInputs, n_volumes: int, assessor: Any) -> list[dict[str, Any]]:
    """The 500-image folder and a list of ``n_volumes`` CT volumes (hard links to one file)."""
    folder = _throughput("folder of 500 mixed 2D images", "folder_2d", [inputs.folder_2d], assessor, False)
    links = inputs.root / "ct_list"
    links.mkdir(exist_ok=True)
    paths = []
    for i in range(n_volumes):
        link = links / f"ct_{i:02d}.nii.gz"
        if not link.exists():
            os.link(inputs.ct_nifti, link)
        paths.append(link)
    volumes = _throughput(f"{n_volumes} CT volumes (.nii.gz)", "ct_list", paths, assessor, True)
    return [folder, volumes]


def bench_cold(inputs: BenchInputs, repeats: int) -> dict[str, Any]:
    """``mediqa --help`` and the first score of a 2D image, fresh processes."""
    log("  cold start")
    timer = ProcessTimer()
    timer.run([*_mediqa_cmd(), "--help"])  # untimed: bytecode compiled and cached (see _child_env)
    help_walls = [timer.run([*_mediqa_cmd(), "--help"])[0] for _ in range(repeats)]
    score_walls = [
        timer.run([*_mediqa_cmd(), "score", str(inputs.png_2d), "--format", "json"])[0]
        for _ in range(repeats)
    ]
    return {
        "help": {"wall_s": _median(help_walls), "runs": help_walls, "target": 0.3},
        "score_2d": {
            "wall_s": _median(score_walls),
            "runs": score_walls,
            "target": 1.5,
            "input": inputs.png_2d.name,
        },
    }


# ------------------------------------------------------------------------------------------- paper scale


def paper_worker(cache: Path, ct: Path, runs: int) -> dict[str, Any]:
    """Child process: time the paper-scale and the shipped scorer on the CT's 7 network-input slices."""
    import numpy as np
    import onnxruntime as ort

    from mediqa_sdk import Assessor

    try:
        import torch
        from mediqa_sdk.export.onnx_export import export_onnx
        from mediqa_sdk.train.model import build_model, scorer_config
    except ImportError as err:
        return {"skipped": f'needs the [train] extra (pip install "mediqa-sdk[train]"): {err}'}
    assessor = Assessor(device="cpu")
    _, feeds = assessor.network_inputs(ct)
    _, x, prompt = feeds[0]
    inputs = {"slices": x[None].astype(np.float32), "prompt": prompt[None].astype(np.float32)}
    torch.manual_seed(0)
    model = build_model(scorer_config(PAPER)).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    onnx_path = cache / f"{PAPER}-torch{torch.__version__.split('+')[0]}.onnx"
    export_s = None
    if not onnx_path.is_file():
        t0 = time.perf_counter()
        export_onnx(model, onnx_path.with_suffix(".tmp.onnx"))
        onnx_path.with_suffix(".tmp.onnx").rename(onnx_path)
        export_s = time.perf_counter() - t0
    del model

    def session(path: Path) -> Any:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def timed(sess: Any, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            sess.run(None, inputs)
            out.append(time.perf_counter() - t0)
        return out

    paper = session(onnx_path)
    paper.run(None, {"slices": inputs["slices"][:, :1], "prompt": inputs["prompt"]})  # warm-up on 1 slice
    paper_times = timed(paper, runs)
    del paper
    shipped = session(assessor.scorer.path)
    timed(shipped, 2)
    shipped_times = timed(shipped, 9)
    import onnx

    shipped_params = sum(int(np.prod(t.dims)) for t in onnx.load(str(assessor.scorer.path)).graph.initializer)
    return {
        "config": PAPER,
        "params_m": params,
        "export_s": export_s,
        "paper_7_slices_s": statistics.median(paper_times),
        "paper_runs": len(paper_times),
        "shipped": assessor.scorer.name,
        "shipped_params_m": shipped_params / 1e6,
        "shipped_7_slices_s": statistics.median(shipped_times),
        "shipped_runs": len(shipped_times),
        "speedup": statistics.median(paper_times) / statistics.median(shipped_times),
        "slices_shape": list(inputs["slices"].shape),
    }


def bench_paper(cache: Path, ct: Path, runs: int) -> dict[str, Any]:
    """Run :func:`paper_worker` in a child process (torch stays out of this one)."""
    log("  paper-scale reference (exports the ONNX graph once: about a minute)")
    cmd = [sys.executable, __file__, "--paper-worker", "--cache", str(cache), "--paper-ct", str(ct)]
    proc = subprocess.run([*cmd, "--paper-runs", str(runs)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"skipped": f"the paper-scale worker failed: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    """CPU, versions and the load average (the figures mean little on a busy machine)."""
    import nibabel
    import numpy
    import onnxruntime
    import pydicom

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        isal = version("isal")
    except Exception:
        isal = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
        "numpy": numpy.__version__,
        "nibabel": nibabel.__version__,
        "pydicom": pydicom.__version__,
        "isal": isal,
        "load_before": list(os.getloadavg()),
    }


def print_table(data: dict[str, Any]) -> None:
    """A plain-text summary on stdout."""
    print(f"{'input':40} {'floor s':>8} {'CLI s':>8} {'ratio':>6} {'API s':>8} {'RSS MiB':>8}")
    for it in data["inputs"]:
        print(
            f"{it['title']:40} {it['floor']['wall_s']:8.2f} {it['cli']['wall_s']:8.2f} {it['ratio']:6.2f} "
            f"{it['api']['wall_s']:8.3f} {it['cli']['rss_mib']:8.0f}"
            + (f"  target <= {it['target']:g}: {'met' if it['met'] else 'NOT met'}" if it["target"] else "")
        )
    for r in data.get("throughput", []):
        print(
            f"{r['title']:40} {r['scans_per_s']:7.2f} scans/s "
            f"{r['scored_slices_per_s']:7.1f} scored slices/s, inference {100 * r['inference_share']:.0f} %"
        )
    cold = data.get("cold_start", {})
    for key in ("help", "score_2d"):
        if key in cold:
            print(f"cold {key:35} {cold[key]['wall_s']:8.2f} s (target < {cold[key]['target']:g} s)")
    paper = data.get("paper") or {}
    if "speedup" in paper:
        print(
            f"paper scale {paper['paper_7_slices_s']:.2f} s vs shipped {paper['shipped_7_slices_s']:.4f} s "
            f"for 7 slices: {paper['speedup']:.0f} x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (2), 3 volumes, 1 paper run")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON results (the .md goes next to it)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="where inputs are generated (not the repo)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="fresh-process repeats (default 5, quick 2)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="inputs to run (default all)")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-paper", action="store_true", help="skip the paper-scale reference")
    parser.add_argument(
        "--gpu-json", type=Path, default=None, help="results of bench/gpu_check.py to include"
    )
    parser.add_argument("--provisional", default=None, help="mark the page provisional, with this reason")
    parser.add_argument("--paper-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--paper-ct", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paper-runs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = args.cache or default_cache()
    if args.paper_worker:
        print(json.dumps(paper_worker(cache, args.paper_ct, args.paper_runs)))
        return

    from mediqa_sdk import Assessor

    _child_env(cache)
    repeats = args.repeats or (2 if args.quick else 5)
    api_repeats = 3 if args.quick else 7
    machine = machine_info()
    inputs = ensure_inputs(cache, log=log)
    assessor = Assessor()
    data: dict[str, Any] = {
        "schema": 1,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/perf.py" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "provisional": bool(args.provisional),
        "note": args.provisional or "",
        "machine": machine,
        "repeats": {"process": repeats, "api": api_repeats},
        "inputs": [],
    }
    log("per input (floor, CLI, API):")
    names = args.only or list(TITLES)
    for name in names:
        data["inputs"].append(bench_input(name, getattr(inputs, name), repeats, api_repeats, assessor))
    if not args.no_throughput:
        data["throughput"] = bench_throughput(inputs, 3 if args.quick else 8, assessor)
    data["cold_start"] = bench_cold(inputs, 3 if args.quick else 7)
    if args.no_paper:
        data["paper"] = {"skipped": "--no-paper"}
    else:
        data["paper"] = bench_paper(cache, inputs.ct_nifti, 1 if args.quick else 2)
    if args.gpu_json:
        data["gpu"] = json.loads(args.gpu_json.read_text())
    data["machine"]["load_after"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, default=float) + "\n")
    md = write_markdown(data, args.out.with_suffix(".md"))
    print_table(data)
    log(f"wrote {args.out} and {md}")


if __name__ == "__main__":
    main()
