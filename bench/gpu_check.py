"""GPU check: are the CUDA and TensorRT execution providers really used, do they score like the CPU, how fast.

Run through ``bash bench/gpu_check.sh`` on a machine with an NVIDIA GPU (it installs the ``[gpu]`` extra
first), or directly::

    python bench/gpu_check.py --out DIR             # on a GPU machine
    python bench/gpu_check.py --cpu-dry-run --out DIR   # anywhere: the same code path on CPUExecutionProvider

Writes ``DIR/gpu_check.md`` (tables) and ``DIR/gpu_check.json`` (for ``bench/perf.py --gpu-json``); exit
code 1 when any check fails. What is checked, for each of CUDA (fp32) and TensorRT (fp16, as the runtime
configures it):

1. **As shipped** (``--stage shipped``, run by the shell script right after ``pip install .[gpu]``, in a
   fresh process with nothing loaded by this script): ``Assessor(device=...)`` scores the example CT and
   photo, and both the result's provenance and :attr:`Assessor.providers` name the requested provider first.
   The runtime loads the NVIDIA wheels' libraries itself (``mediqa_sdk.engine.preload_gpu_libraries``) and
   raises ``DeviceUnavailableError`` instead of falling back silently; that counts as a failure, with its
   message (which names the library that failed to load).
2. **Libraries**: the CUDA major version onnxruntime was built with, against the CUDA, cuDNN and TensorRT
   libraries the ``[gpu]`` extra installed, and what the runtime's preloading reported.
3. **Placement**: a profiled run of the scorer; the share of kernel time in the GPU provider must be >= 95 %
   (a session can list CUDA first and still run heavy nodes on CPU).
4. **Agreement**: scores and slice scores of the example inputs and of a random batch against the CPU
   session: max |difference| <= 1e-3 (fp32) / 1e-2 (fp16).
5. **Throughput** with IO binding (inputs copied to the device once, outputs left there): slices/s of the
   scorer for batches of 1..256 one-slice inputs; TensorRT with the runtime's options
   (``mediqa_sdk.engine.tensorrt_options``) and a profile widened to cover them, its engine cache cold (empty
   folder: the engine is built) and warm (reloaded), session creation plus first run timed for both.
6. **The runtime's TensorRT profile**: a batch of 70 photos (more rows than the profile's 64) scored through
   ``Assessor(device="tensorrt")`` runs in chunks and matches the CPU score.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = (ROOT / "examples" / "data" / "head_ct.nii.gz", ROOT / "examples" / "data" / "retina.jpg")
CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
TOLERANCE = {CUDA: 1e-3, TRT: 1e-2, CPU: 1e-6}
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DRY_BATCHES = (1, 2, 4, 8)
PLACEMENT_MIN_SHARE = 0.95


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


class Report:
    """Pass/fail checks and measurements, rendered as markdown and JSON."""

    def __init__(self, dry_run: bool) -> None:
        self.data: dict[str, Any] = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "dry_run": dry_run,
            "checks": [],
            "throughput": [],
            "engine_cache": [],
        }

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record one check; returns ``ok``."""
        self.data["checks"].append({"name": name, "ok": bool(ok), "detail": detail})
        log(f"  [{'pass' if ok else 'FAIL'}] {name}: {detail}")
        return ok

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c["ok"] for c in self.data["checks"])

    def markdown(self) -> str:
        """Tables for docs/performance.md."""
        d = self.data
        head = "GPU check" + (
            " — CPU dry run (no GPU; proves the script, not the GPU)" if d["dry_run"] else ""
        )
        lines = [
            f"### {head}",
            "",
            f"{d.get('gpu', 'no GPU')}, {d['date']}, onnxruntime {d.get('onnxruntime', '?')} "
            f"(built for CUDA {d.get('ort_cuda', '?')}).",
            "",
            "| check | result | detail |",
            "|---|---|---|",
        ]
        lines += [f"| {c['name']} | {'pass' if c['ok'] else 'FAIL'} | {c['detail']} |" for c in d["checks"]]
        if d["throughput"]:
            lines += [
                "",
                "| provider | precision | batch (slices) | slices/s | ms per batch |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {r['provider']} | {r['precision']} | {r['batch']} | {r['slices_per_s']:.0f} | "
                f"{r['ms_per_batch']:.2f} |"
                for r in d["throughput"]
            ]
        if d["engine_cache"]:
            lines += ["", "| TensorRT engine cache | session + first run (s) |", "|---|---|"]
            lines += [f"| {r['cache']} | {r['seconds']:.2f} |" for r in d["engine_cache"]]
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- environment


def ort_build() -> tuple[str, str]:
    """(onnxruntime version, CUDA version it was built with or '')."""
    import onnxruntime as ort

    try:
        from onnxruntime.capi import build_and_package_info as info

        cuda = str(getattr(info, "cuda_version", "") or "")
    except ImportError:
        cuda = ""
    return ort.__version__, cuda


def cuda_libraries(major: str) -> dict[str, str]:
    """Where the shared libraries onnxruntime's CUDA provider needs for CUDA ``major`` are found among the
    installed NVIDIA wheels (``site-packages/nvidia/**``); ``"missing"`` for those that are not."""
    import site

    wanted = [f"libcudart.so.{major}", f"libcublas.so.{major}", f"libcublasLt.so.{major}", "libcudnn.so.9"]
    roots = [Path(p) / "nvidia" for p in [*site.getsitepackages(), site.getusersitepackages()]]
    found = {}
    for name in wanted:
        hits = [h for root in roots if root.is_dir() for h in root.glob(f"**/{name}*")]
        found[name] = str(hits[0].parent) if hits else "missing"
    return found


def installed_nvidia_libraries() -> dict[str, str]:
    """Versions of the NVIDIA runtime wheels present (what the [gpu] extra installs)."""
    from importlib import metadata

    out = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith(("nvidia-", "tensorrt")):
            out[name] = dist.version
    return dict(sorted(out.items()))


def tensorrt_libraries() -> dict[str, str]:
    """Where the TensorRT wheel's libraries are (``tensorrt_libs``, found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("tensorrt_libs")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    found = {}
    for name in ("libnvinfer.so.10", "libnvonnxparser.so.10"):
        hits = [h for root in roots for h in root.glob(f"{name}*")]
        found[name] = str(hits[0].parent) if hits else "missing"
    return found


# ------------------------------------------------------------------------------------------- sessions


def make_session(path: Path, providers: list[Any], profile: bool = False) -> Any:
    """An InferenceSession with the runtime's options (all graph optimisations, errors-only log)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "mediqa_gpu_check")
    # enable_fallback=0: a provider that fails raises (reported with its message) instead of onnxruntime
    # printing to stdout and retrying on CPU without the options
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers, enable_fallback=0)


def trt_options(record: Any, cache: Path, max_batch: int) -> dict[str, str]:
    """The runtime's TensorRT options (fp16, engine and timing cache) with its profile widened to batches of
    ``1..max_batch`` and tuned for one-slice inputs, so one engine serves every batch size measured."""
    from mediqa_sdk.engine import tensorrt_options

    return tensorrt_options(record, cache, max_batch=max_batch, opt_batch=min(64, max_batch), opt_slices=1)


def feeds(n: int, prompt: np.ndarray, seed: int = 0, slices: int = 1) -> dict[str, np.ndarray]:
    """Image-like scorer input: a bright ellipse with inclusions on a dark background, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:224, 0:224] / 224.0 - 0.5
    x = np.empty((n, slices, 3, 224, 224), np.float32)
    for i in range(n * slices):
        ax, ay = rng.uniform(0.3, 0.45, 2)
        body = (xx / ax) ** 2 + (yy / ay) ** 2 < 1
        img = np.where(body, rng.uniform(0.0, 0.6), -1.0) + rng.normal(0, rng.uniform(0.01, 0.2), body.shape)
        x.reshape(-1, 3, 224, 224)[i] = np.clip(img, -1, 1)[None]
    return {"slices": x, "prompt": np.repeat(prompt[None], n, axis=0).astype(np.float32)}


def kernel_share(
    session: Any, inputs: dict[str, np.ndarray], provider: str
) -> tuple[float, dict[str, float]]:
    """Run once with profiling; share of node kernel time spent in ``provider`` and time per provider."""
    session.run(None, inputs)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink(missing_ok=True)
    per: dict[str, float] = {}
    for ev in events:
        args = ev.get("args") or {}
        if ev.get("cat") == "Node" and "provider" in args and ev.get("name", "").endswith("_kernel_time"):
            per[args["provider"]] = per.get(args["provider"], 0.0) + float(ev.get("dur", 0))
    total = sum(per.values())
    return (per.get(provider, 0.0) / total if total else 0.0), per


def timed_iobinding(session: Any, inputs: dict[str, np.ndarray], device: str, seconds: float) -> float:
    """Median seconds of ``run_with_iobinding`` with inputs already on ``device`` and outputs left there."""
    import onnxruntime as ort

    binding = session.io_binding()
    for name, value in inputs.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, device, 0))
    for out in session.get_outputs():
        binding.bind_output(out.name, device, 0)
    for _ in range(3):
        session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < seconds and len(times) < 200):
        t0 = time.perf_counter()
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------------------------------- stages


def stage_shipped(devices: list[str], dry_run: bool) -> list[dict[str, Any]]:
    """Check 1: the runtime as installed, nothing preloaded."""
    from mediqa_sdk import Assessor
    from mediqa_sdk.errors import MediqaError

    wanted = {"cuda": CUDA, "tensorrt": TRT}
    out = []
    for device in devices:
        expect = CPU if dry_run else wanted[device]
        try:
            assessor = Assessor(device="cpu" if dry_run else device)
            results = [assessor.score(p) for p in EXAMPLES]
            used = [r.provenance.providers[0] for r in results]
            ok = all(u == expect for u in used) and assessor.providers[:1] == (expect,)
            detail = (
                f"provenance providers {sorted(set(used))}, Assessor.providers {list(assessor.providers)}"
            )
        except MediqaError as err:
            ok, detail = False, f"{type(err).__name__}: {err}"
        out.append({"name": f"as shipped: device={device!r} runs on {expect}", "ok": ok, "detail": detail})
    return out


def check_provider(
    report: Report,
    label: str,
    providers: list[Any],
    expect: str,
    reference: Any,
    scorer: Path,
    prompt: np.ndarray,
) -> tuple[Any, float]:
    """Checks 3 and 4 for one provider configuration: (its session or None when it failed, seconds for
    session creation plus the first run)."""
    t0 = time.perf_counter()
    try:
        session = make_session(scorer, providers, profile=True)
        session.run(None, feeds(1, prompt))
    except Exception as err:
        report.check(f"{label}: session", False, f"{type(err).__name__}: {str(err)[:300]}")
        return None, time.perf_counter() - t0
    first = time.perf_counter() - t0
    used = session.get_providers()
    if not report.check(f"{label}: session providers", used[:1] == [expect], f"get_providers() = {used}"):
        return None, first
    sample = feeds(8, prompt, seed=1)  # one-slice inputs: inside the TensorRT profile below
    share, per = kernel_share(session, sample, expect)
    shown = ", ".join(f"{k} {v / 1000:.1f} ms" for k, v in sorted(per.items()))
    report.check(
        f"{label}: placement", share >= PLACEMENT_MIN_SHARE, f"{100 * share:.1f} % of kernel time ({shown})"
    )
    got, ref = session.run(None, sample), reference.run(None, sample)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got[:2], ref[:2], strict=True))
    tol = TOLERANCE[expect]
    report.check(
        f"{label}: scores vs CPU (random batch)", diff <= tol, f"max abs diff {diff:.2e} (<= {tol:g})"
    )
    return session, first


def check_examples(report: Report, device: str, dry_run: bool) -> None:
    """Check 4 on real inputs, through the runtime (after preloading)."""
    from mediqa_sdk import Assessor
    from mediqa_sdk.errors import MediqaError

    expect = CPU if dry_run else {"cuda": CUDA, "tensorrt": TRT}[device]
    try:
        gpu = Assessor(device="cpu" if dry_run else device)
        cpu = Assessor(device="cpu")
        diffs = []
        for path in EXAMPLES:
            a, b = gpu.score(path), cpu.score(path)
            diffs.append(abs(a.score - b.score))
            diffs += [abs(x - y) for x, y in zip(a.slice_scores, b.slice_scores, strict=True)]
        used = gpu.providers
    except MediqaError as err:
        report.check(f"runtime device={device!r} after preloading", False, f"{type(err).__name__}: {err}")
        return
    tol = TOLERANCE[expect]
    report.check(
        f"runtime device={device!r}: example scores vs CPU",
        max(diffs) <= tol and used[:1] == (expect,),
        f"max abs diff {max(diffs):.2e} (<= {tol:g}); providers {list(used)}",
    )
    if device == "tensorrt":  # check 6: more rows than the runtime's profile covers
        from mediqa_sdk.engine import TRT_MAX_BATCH

        n = TRT_MAX_BATCH + 6
        try:
            with tempfile.TemporaryDirectory(prefix="mediqa-batch-") as tmp:  # repeated paths count once
                copies = [Path(tmp) / f"photo{i:03d}{EXAMPLES[1].suffix}" for i in range(n)]
                for copy in copies:
                    copy.write_bytes(EXAMPLES[1].read_bytes())
                many = gpu.score_many(copies, batch_size=n)
            reference = cpu.score(EXAMPLES[1]).score
        except MediqaError as err:
            report.check(f"runtime device={device!r}: {n} photos in one batch", False, f"{err}")
            return
        worst = max(abs(r.score - reference) for r in many)
        report.check(
            f"runtime device={device!r}: {n} photos in one batch (profile: {TRT_MAX_BATCH} rows)",
            len(many) == n and worst <= tol,
            f"{len(many)} results, max abs diff {worst:.2e} (<= {tol:g})",
        )


def run_checks(args: argparse.Namespace) -> Report:
    """Everything after the as-shipped stage."""
    dry = args.cpu_dry_run
    report = Report(dry)
    version, cuda = ort_build()
    report.data.update({"onnxruntime": version, "ort_cuda": cuda or "none"})
    from mediqa_sdk.engine import gpu_info
    from mediqa_sdk.prompts import encode_prompt
    from mediqa_sdk.registry import load_registry

    gpu = gpu_info()
    report.data["gpu"] = ", ".join(gpu.names) or "no GPU"
    import onnxruntime as ort

    available = ort.get_available_providers()
    if not dry:
        report.check("GPU present (CUDA driver)", gpu.present, report.data["gpu"])
    report.check("providers available", dry or {CUDA, TRT} <= set(available), ", ".join(available))
    libs = installed_nvidia_libraries()
    report.data["nvidia_wheels"] = libs
    if not dry and cuda:
        major = cuda.split(".")[0]
        found = {**cuda_libraries(major), **tensorrt_libraries()}
        missing = [k for k, v in found.items() if v == "missing"]
        report.check(
            f"CUDA {major} and TensorRT libraries in the installed wheels",
            not missing,
            (f"missing {', '.join(missing)}; " if missing else "")
            + "wheels: "
            + (", ".join(f"{k} {v}" for k, v in libs.items()) or "none"),
        )
    for result in args.shipped or []:
        report.check(result["name"], result["ok"], result["detail"])
    if not dry:
        from mediqa_sdk.engine import preload_gpu_libraries

        problems = preload_gpu_libraries(tensorrt=True)
        report.data["preload"] = list(problems)
        report.check("runtime preloading of the NVIDIA libraries", not problems, "; ".join(problems) or "ok")

    registry = load_registry()
    scorer = registry.get(None, "scorer")
    voc = scorer.vocabulary
    prompt = encode_prompt(voc, voc.dim[0], voc.modality[0], voc.region[0], voc.type[0])
    reference = make_session(scorer.path, [CPU])
    batches = DRY_BATCHES if dry else BATCHES
    device = "cpu" if dry else "cuda"
    with tempfile.TemporaryDirectory(prefix="mediqa-trt-") as tmp:
        cache = Path(tmp)
        configs = [
            ("CUDA fp32", "cuda", [CPU] if dry else [CUDA, CPU], CPU if dry else CUDA, "fp32"),
            (
                "TensorRT fp16",
                "tensorrt",
                [CPU] if dry else [(TRT, trt_options(scorer, cache, max(batches))), CUDA, CPU],
                CPU if dry else TRT,
                "fp16",
            ),
        ]
        for label, dev_name, providers, expect, precision in configs:
            log(f"{label}:")
            session, first = check_provider(report, label, providers, expect, reference, scorer.path, prompt)
            if dev_name == "tensorrt":
                report.data["engine_cache"].append({"cache": "cold (engine built)", "seconds": first})
            check_examples(report, dev_name, dry)
            if session is None:
                continue
            if dev_name == "tensorrt":  # a second session on the same cache folder reloads the engine
                t0 = time.perf_counter()
                session = make_session(scorer.path, providers)
                session.run(None, feeds(1, prompt))
                warm = time.perf_counter() - t0
                report.data["engine_cache"].append({"cache": "warm (engine reloaded)", "seconds": warm})
            for n in batches:
                seconds = timed_iobinding(session, feeds(n, prompt, seed=n), device, args.seconds)
                report.data["throughput"].append(
                    {
                        "provider": label.split()[0] + (" (dry run: CPU)" if dry else ""),
                        "precision": precision,
                        "batch": n,
                        "slices_per_s": n / seconds,
                        "ms_per_batch": 1000 * seconds,
                    }
                )
                log(f"  batch {n}: {n / seconds:.0f} slices/s")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "bench" / "out"))
    parser.add_argument("--cpu-dry-run", action="store_true", help="same code path on CPUExecutionProvider")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per batch size")
    parser.add_argument("--stage", choices=("shipped", "all"), default="all")
    parser.add_argument("--shipped-json", type=Path, default=None, help="results of --stage shipped")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    devices = ["cuda", "tensorrt"]
    if args.stage == "shipped":
        results = stage_shipped(devices, args.cpu_dry_run)
        (args.out / "gpu_shipped.json").write_text(json.dumps(results, indent=1))
        for r in results:
            log(f"  [{'pass' if r['ok'] else 'FAIL'}] {r['name']}: {r['detail']}")
        return
    if args.shipped_json and args.shipped_json.is_file():
        args.shipped = json.loads(args.shipped_json.read_text())
    else:  # run it now, in a fresh process, before this one preloads anything
        cmd = [sys.executable, __file__, "--stage", "shipped", "--out", str(args.out)]
        subprocess.run([*cmd, *(["--cpu-dry-run"] if args.cpu_dry_run else [])], check=False)
        shipped = args.out / "gpu_shipped.json"
        args.shipped = json.loads(shipped.read_text()) if shipped.is_file() else []
    report = run_checks(args)
    report.data["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    (args.out / "gpu_check.json").write_text(json.dumps(report.data, indent=1, default=float))
    (args.out / "gpu_check.md").write_text(report.markdown())
    print(report.markdown())
    verdict = "all checks pass" if report.ok else "FAILURES"
    log(f"wrote {args.out / 'gpu_check.md'} and gpu_check.json; {verdict}")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
