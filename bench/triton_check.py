"""Triton check: does a Triton server serving `mediqa export triton`'s repository score like the local CPU
engine, and how fast is it per batch size.

Run through ``bash bench/triton_check.sh`` (it exports the repository, starts ``tritonserver`` and stops it),
or directly against a running server::

    python bench/triton_check.py --url triton://HOST:8001 --out DIR
    python bench/triton_check.py --standin --out DIR     # anywhere: tests/triton_standin.py, CPU, tiny

Checks, each a line of ``DIR/triton_check.md`` and a key of ``DIR/triton_check.json`` (exit code 1 when one
fails):

1. **Identity**: the served models' ``mediqa_sha256`` equal the registry's (``Assessor.check_engine``).
2. **Agreement**: ``Assessor(engine=URL)`` scores the example CT and photo with the local CPU Assessor's
   slices and prompts; max |score difference| over score, slice scores and weights <= ``--tolerance``
   (default 1e-4 for an FP32 repository; use 1e-2 for ``--fp16``).
3. **Provenance**: each result's providers name the server (``triton:grpc://HOST:PORT``).
4. **Latency and throughput** per batch size (rows per request: scorer rows are scans of 7 slices, classifier
   rows are slices), random inputs, one client thread: median and p90 latency, rows/s.

With ``--standin`` the server is the in-process protocol double of the tests (onnxruntime on this CPU): the
script's plumbing is checked, its speed figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = (ROOT / "examples" / "data" / "head_ct.nii.gz", ROOT / "examples" / "data" / "retina.jpg")


def _agreement(url: str, tolerance: float) -> dict[str, Any]:
    from mediqa_sdk import Assessor

    local, remote = Assessor(device="cpu"), Assessor(engine=url)
    t0 = time.perf_counter()
    remote.check_engine()
    rows = []
    for path in EXAMPLES:
        a, b = local.score(path), remote.score(path)
        diff = max(
            abs(a.score - b.score),
            *(abs(x - y) for x, y in zip(a.slice_scores, b.slice_scores, strict=True)),
            *(abs(x - y) for x, y in zip(a.slice_weights, b.slice_weights, strict=True)),
        )
        rows.append(
            {
                "input": path.name,
                "local": a.score,
                "triton": b.score,
                "max_abs_diff": diff,
                "same_slices": a.slice_indices == b.slice_indices,
                "same_prompts": {k: p.value for k, p in a.prompts.items()}
                == {k: p.value for k, p in b.prompts.items()},
                "providers": list(b.provenance.providers),
            }
        )
    ok = all(r["max_abs_diff"] <= tolerance and r["same_slices"] and r["same_prompts"] for r in rows)
    named = all(r["providers"] == [f"triton:grpc://{url.removeprefix('triton://')}"] for r in rows)
    return {"ok": ok and named, "tolerance": tolerance, "rows": rows, "connect_s": time.perf_counter() - t0}


def _feeds(task: str, rows: int, record: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    size = record.preprocess.size
    if task == "classifier":
        return {"image": rng.standard_normal((rows, 3, size, size), dtype=np.float32)}
    prompt = np.zeros((rows, record.vocabulary.prompt_length), np.float32)
    prompt[:, [0, 2]] = 1.0  # one-hots of any valid prompt do; speed does not depend on them
    slices = max(1, record.salient.n_slices)
    return {"slices": rng.standard_normal((rows, slices, 3, size, size), dtype=np.float32), "prompt": prompt}


def _throughput(url: str, batches: list[int], seconds: float) -> list[dict[str, Any]]:
    from mediqa_sdk.registry import load_registry
    from mediqa_sdk.triton import TritonSession, parse_triton_url

    registry, rng = load_registry(), np.random.default_rng(0)
    out = []
    for task in ("scorer", "classifier"):
        record = registry.get(None, task)
        session = TritonSession(record, parse_triton_url(url))
        session.run(_feeds(task, 1, record, rng))  # connect, verify, warm
        for batch in batches:
            feeds = _feeds(task, batch, record, rng)
            times: list[float] = []
            start = time.perf_counter()
            while time.perf_counter() - start < seconds or len(times) < 3:
                t0 = time.perf_counter()
                session.run(feeds)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            out.append(
                {
                    "model": task,
                    "batch": batch,
                    "requests": len(times),
                    "latency_ms_median": 1e3 * median,
                    "latency_ms_p90": 1e3 * sorted(times)[int(0.9 * (len(times) - 1))],
                    "rows_per_s": batch / median,
                }
            )
            print(
                f"{task:10s} batch {batch:3d}: {1e3 * median:8.2f} ms  {batch / median:9.1f} rows/s",
                flush=True,
            )
    return out


@contextmanager
def _standin() -> Iterator[str]:
    """Export a repository to a temporary folder and serve it with the tests' stand-in server."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from mediqa_sdk.triton import write_repository
    from tests.triton_standin import serve

    with tempfile.TemporaryDirectory() as tmp:
        repo = write_repository(Path(tmp) / "repo", kind="cpu")
        with serve(repo.root) as (address, _):
            yield f"triton://{address}"


def _markdown(report: dict[str, Any]) -> str:
    standin = " (stand-in protocol double, CPU: speeds mean nothing)" if report["standin"] else ""
    lines = [
        f"# Triton check ({report['when']})",
        "",
        f"Server: {report['url']}{standin}",
        "",
        f"Agreement with the local CPU engine (tolerance {report['agreement']['tolerance']:g}): "
        f"{'PASS' if report['agreement']['ok'] else 'FAIL'}",
        "",
        "| input | local | triton | max abs diff | same slices | same prompts |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["agreement"]["rows"]:
        lines.append(
            f"| {r['input']} | {r['local']:.6f} | {r['triton']:.6f} | {r['max_abs_diff']:.2e} | "
            f"{r['same_slices']} | {r['same_prompts']} |"
        )
    lines += ["", "| model | batch | median ms | p90 ms | rows/s |", "|---|---|---|---|---|"]
    for r in report["throughput"]:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['latency_ms_median']:.2f} | {r['latency_ms_p90']:.2f} | "
            f"{r['rows_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="triton://127.0.0.1:8001", help="the server (Triton's gRPC port)")
    parser.add_argument("--standin", action="store_true", help="serve with the tests' stand-in instead")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--batches", default="1,2,4,8,16,32,64", help="rows per request, comma-separated")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per batch size")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |score difference| allowed")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    from mediqa_sdk.errors import MediqaError

    with _standin() if args.standin else nullcontext(args.url) as url:
        try:
            agreement = _agreement(url, args.tolerance)
        except MediqaError as err:  # unreachable, not ready, or serving other graphs
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(
            f"agreement: {'PASS' if agreement['ok'] else 'FAIL'} {json.dumps(agreement['rows'])}", flush=True
        )
        throughput = _throughput(url, batches, args.seconds)
    report = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "url": url,
        "standin": args.standin,
        "agreement": agreement,
        "throughput": throughput,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "triton_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "triton_check.md").write_text(_markdown(report))
    print(f"wrote {args.out / 'triton_check.md'}")
    return 0 if agreement["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
