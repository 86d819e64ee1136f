"""Compare scorer backbones: parameters, MACs, ONNX Runtime CPU latency for 7 slices, training throughput.

Run ``python bench/backbones.py`` (all presets; the paper-scale ViT-B/8 takes several minutes) or
``python bench/backbones.py --configs cnn-pyramid vit-tiny-conv``. Prints a table and writes
``bench/out/backbones.json``.

- MACs: ``torch.utils.flop_counter.FlopCounterMode`` on one slice (matmuls, convolutions, attention;
  MACs = FLOPs / 2), times 7 per volume.
- Latency: ``score`` of one volume ``[1,7,3,224,224]`` through an onnxruntime CPU session with all graph
  optimisations, median of ``--runs`` runs after 2 warm-up runs (paper scale: 1 warm-up on S=1, 1 run).
- ``--variants``: the same latency for fp16 and dynamic-int8 copies, and their score change on phantoms.
- Training: images/hour = ``batch * 3600 / median step time`` for AdamW steps on MSE of ``score`` with
  ``S=1`` slices, fp32 and bf16 autocast, after 3 warm-up steps (paper scale: batch 4, 1 warm-up, 2 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mediqa_sdk.export.onnx_export import (
    export_onnx,
    make_variants,
    ort_session,
    phantom_inputs,
    random_inputs,
    variant_score_change,
)
from mediqa_sdk.train.model import (
    SCORER_PRESETS,
    MedIQAScorer,
    build_model,
    classifier_config,
    scorer_config,
)
from torch.utils.flop_counter import FlopCounterMode

OUT = Path(__file__).resolve().parent / "out" / "backbones.json"
PAPER = "paper-vitb8"


def count_macs(model: torch.nn.Module, *inputs: torch.Tensor) -> float:
    """Multiply-accumulates of one forward pass (FLOPs / 2 as counted by FlopCounterMode)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() / 2


def ort_latency(path: Path, feeds: dict[str, np.ndarray], runs: int, warmup: int) -> float:
    """Median seconds of ``session.run`` after ``warmup`` runs."""
    session = ort_session(path)
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_throughput(
    model: MedIQAScorer, batch: int, steps: int, warmup: int, bf16: bool, seed: int = 0
) -> float:
    """Training images/hour: AdamW steps on ``MSE(score, y)`` with S=1 slices of random data."""
    torch.manual_seed(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 3, 224, 224)
    prompt = torch.zeros(batch, model.cfg.prompt_dim)
    prompt[:, 0] = 1.0
    y = torch.rand(batch)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, prompt)
        loss = torch.mean((out.score.float() - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return batch * 3600.0 / statistics.median(times)


def bench_variants(path: Path, runs: int) -> dict[str, Any]:
    """Latency of the fp16 / int8 copies of a scorer graph and their score change on phantom volumes."""
    feeds = random_inputs(True, 1, 7)
    phantoms = [phantom_inputs(True, 4, 7, seed=s) for s in range(2)]
    out: dict[str, Any] = {}
    for kind, vpath in make_variants(path).items():
        out[kind] = {
            "ort_cpu_latency_7_slices_s": ort_latency(vpath, feeds, runs=runs, warmup=2),
            "score_change": variant_score_change(path, vpath, phantoms),
            "onnx_mb": vpath.stat().st_size / 2**20,
        }
    return out


def bench_scorer(name: str, runs: int, steps: int, tmp: Path, variants: bool = False) -> dict[str, Any]:
    """All measurements of one scorer preset."""
    paper = name == PAPER
    torch.manual_seed(0)
    model = build_model(scorer_config(name)).eval()
    params = sum(p.numel() for p in model.parameters())
    one = random_inputs(True, 1, 1)
    macs = count_macs(model, torch.from_numpy(one["slices"]), torch.from_numpy(one["prompt"]))
    path = tmp / f"{name}.onnx"
    t0 = time.perf_counter()
    export_onnx(model, path)
    export_s = time.perf_counter() - t0
    feeds = random_inputs(True, 1, 7)
    if paper:  # warm up on one slice, then time one full volume
        session = ort_session(path)
        session.run(None, one)
        t0 = time.perf_counter()
        session.run(None, feeds)
        latency = time.perf_counter() - t0
        del session
    else:
        latency = ort_latency(path, feeds, runs=runs, warmup=2)
    batch, n_steps, warm = (4, 2, 1) if paper else (16, steps, 3)
    fp32 = train_throughput(model, batch, n_steps, warm, bf16=False)
    bf16 = train_throughput(model, batch, n_steps, warm, bf16=True)
    row = {
        "config": name,
        "backbone": model.cfg.backbone.kind,
        "params_m": params / 1e6,
        "gmacs_per_slice": macs / 1e9,
        "gmacs_per_volume": 7 * macs / 1e9,
        "onnx_mb": path.stat().st_size / 2**20,
        "export_s": export_s,
        "ort_cpu_latency_7_slices_s": latency,
        "train_batch": batch,
        "train_images_per_hour_fp32": fp32,
        "train_images_per_hour_bf16": bf16,
    }
    if variants and not paper:
        row["variants"] = bench_variants(path, runs)
    return row


def bench_classifier(name: str, runs: int, tmp: Path) -> dict[str, Any]:
    """Params, MACs and 7-image latency of a classifier preset."""
    model = build_model(classifier_config(name)).eval()
    feeds = random_inputs(False, 7)
    macs = count_macs(model, torch.from_numpy(feeds["image"][:1]))
    path = export_onnx(model, tmp / f"classifier-{name}.onnx")
    return {
        "config": f"classifier {name}",
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gmacs_per_slice": macs / 1e9,
        "ort_cpu_latency_7_slices_s": ort_latency(path, feeds, runs=runs, warmup=2),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text table of the measurements."""
    head = f"{'config':<22}{'params M':>9}{'GMAC/sl':>9}{'ORT 7sl s':>11}{'train img/h fp32':>18}{'bf16':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        fp32 = f"{r['train_images_per_hour_fp32']:,.0f}" if "train_images_per_hour_fp32" in r else "-"
        bf16 = f"{r['train_images_per_hour_bf16']:,.0f}" if "train_images_per_hour_bf16" in r else "-"
        lines.append(
            f"{r['config']:<22}{r['params_m']:>9.2f}{r['gmacs_per_slice']:>9.2f}"
            f"{r['ort_cpu_latency_7_slices_s']:>11.3f}{fp32:>18}{bf16:>10}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=[n for n in SCORER_PRESETS if n != "tiny"])
    parser.add_argument("--classifiers", nargs="*", default=["cnn-small"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--variants", action="store_true", help="also time fp16/int8 copies (not paper scale)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            rows.append(bench_scorer(name, args.runs, args.steps, Path(tmp), args.variants))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        for name in args.classifiers:
            rows.append(bench_classifier(name, args.runs, Path(tmp)))
    print(table(rows))
    for r in rows:
        for kind, v in r.get("variants", {}).items():
            change = v["score_change"]
            print(
                f"{r['config']} {kind}: ORT 7 slices {v['ort_cpu_latency_7_slices_s']:.3f} s, "
                f"score change max {change['max_abs']:.2e} mean {change['mean_abs']:.2e}"
            )
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
