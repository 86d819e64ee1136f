"""Reduced-precision variants of a registry scorer: accuracy change on held-out real scans, latency, size.

Run ``python bench/variants.py`` (the default scorer, fp16 and int8, the test split; about 5 minutes on 2
cores). Each variant is written by :func:`mediqa_sdk.export.onnx_export.make_variants` (fp16: weights and
compute in float16 with float32 inputs and outputs; int8: onnxruntime dynamic quantisation of the
MatMul/Gemm/Conv weights), registered in a temporary copy of the registry under the scorer's own record
(same preprocessing, prompts and grades; its own file, sha256 and size), and scored on every held-out
version of the split through the runtime, as ``mediqa heldout`` does
(:func:`~mediqa_sdk.export.heldout.evaluate_heldout`).

Printed per reporting group and written to ``docs/variants.json``: level SRCC, clean wins and SRCC against
the pseudo-MOS for the reference and each variant, their change, and the largest score change over all
images; the median onnxruntime CPU latency of one 7-slice volume (``--runs`` runs after 2 warm-ups) and the
file size. The issue's rule: a variant ships only if it costs less than ``0.005`` SRCC in every group
(``ships`` in the output: both the level SRCC and the pooled SRCC of every group within that).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from backbones import ort_latency
from mediqa_sdk.export.heldout import evaluate_heldout, summarise
from mediqa_sdk.export.onnx_export import make_variants, phantom_inputs

from mediqa_sdk.registry import load_registry, read_registry_json, registry_path, write_registry_json

OUT = Path(__file__).resolve().parents[1] / "docs" / "variants.json"
MAX_SRCC_COST = 0.005
COMPARED = ("srcc_level", "clean_wins", "srcc")


def copy_registry(tmp: Path) -> Path:
    """The SDK's registry and its graphs, copied to ``tmp`` (``models.json`` + ``models/``)."""
    source = registry_path()
    reg = load_registry(source)
    (tmp / "models").mkdir()
    for record in reg.models.values():
        shutil.copy2(record.path, tmp / "models" / record.file)
    shutil.copy2(source, tmp / "models.json")
    return tmp / "models.json"


def register_variants(registry: Path, scorer: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """Write ``kinds`` variants of ``scorer``'s graph beside it and register each as ``<scorer>-<kind>``."""
    raw = read_registry_json(registry)
    base = next(m for m in raw["models"] if m["name"] == scorer)
    names: dict[str, str] = {}
    for kind, path in make_variants(registry.parent / "models" / base["file"], kinds).items():
        record = json.loads(json.dumps(base))
        record |= {
            "name": f"{scorer}-{kind}",
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "size": path.stat().st_size,
            "description": f"{kind} variant of {scorer} {base['version']}",
        }
        raw["models"].append(record)
        names[kind] = record["name"]
    write_registry_json(raw, registry)
    return names


def compare(split: str, kinds: tuple[str, ...], runs: int) -> dict[str, Any]:
    """Reference and variants of the default scorer on ``split`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = copy_registry(Path(tmp))
        reg = load_registry(registry)
        scorer = reg.get(None, "scorer")
        names = {"reference": scorer.name} | register_variants(registry, scorer.name, kinds)
        reg = load_registry(registry)
        rows = {kind: evaluate_heldout(registry, name, split) for kind, name in names.items()}
        out: dict[str, Any] = {"scorer": f"{scorer.name} {scorer.version}", "split": split, "variants": {}}
        ref = summarise(rows["reference"])
        volume = phantom_inputs(True, 1, 7)  # one [1, 7, 3, 224, 224] volume for the latency
        for kind, name in names.items():
            groups = summarise(rows[kind])
            entry: dict[str, Any] = {
                "size_mb": round(reg.models[name].size / 2**20, 2),
                "latency_7_slices_s": round(ort_latency(reg.models[name].path, volume, runs, warmup=2), 4),
                "groups": {g: {k: groups[g][k] for k in COMPARED} for g in groups},
            }
            if kind != "reference":
                change = {g: {k: round(groups[g][k] - ref[g][k], 4) for k in COMPARED} for g in groups}
                scores = zip(rows["reference"], rows[kind], strict=True)
                entry["change"] = change
                entry["max_abs_score_change"] = round(max(abs(a.score - b.score) for a, b in scores), 5)
                entry["ships"] = all(
                    c["srcc_level"] > -MAX_SRCC_COST and c["srcc"] > -MAX_SRCC_COST for c in change.values()
                )
            out["variants"][kind] = entry
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--kinds", nargs="+", default=["fp16", "int8"], choices=["fp16", "int8"])
    parser.add_argument("--runs", type=int, default=20, help="Timed runs per graph.")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = compare(args.split, tuple(args.kinds), args.runs)
    print(f"{result['scorer']} on the {result['split']} split")
    for kind, entry in result["variants"].items():
        head = (
            f"{kind:9s} {entry['size_mb']:5.2f} MB  {entry['latency_7_slices_s'] * 1000:6.1f} ms / 7 slices"
        )
        if "change" in entry:
            head += f"  max |score change| {entry['max_abs_score_change']:.4f}  ships: {entry['ships']}"
        print(head)
        for group, stats in entry["groups"].items():
            line = "  ".join(f"{k} {v:.4f}" for k, v in stats.items())
            if "change" in entry:
                line += "  change " + "  ".join(f"{k} {v:+.4f}" for k, v in entry["change"][group].items())
            print(f"  {group:16s} {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
