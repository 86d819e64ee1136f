"""Benchmark suite: the paper's Table 1 and Table 2 rebuilt on our held-out data, from scratch, one command.

Run ``python bench/suite.py`` (full run; about 6 x ``--budget-minutes`` of training plus evaluation) or
``python bench/suite.py --quick`` (tiny configurations, 20 training steps per model, three held-out sources:
a smoke test, not the figures). Writes ``<out>.md`` (default ``docs/benchmarks.md``), and in ``<out>/`` the
JSON of every number (``benchmarks.json``) and the figures; checkpoints go to ``--work``.

What it does, in order (seeds fixed by ``--seed``):

1. **Held-out images** (:mod:`_suite_data`): real scans of the test split, clean and degraded at fixed
   levels, as ``mediqa-train heldout`` builds them.
2. **Training** (:mod:`_suite_train`): MedIQA in the shipped model's configuration, its ablations without
   pre-training and without prompts, a ResNet-style CNN, a plain ViT and CNNIQA, each with the same data
   stream, seed and wall-clock budget.
3. **Scoring** (:mod:`_suite_eval`): every image through the runtime's inputs; the registry's scorer
   (``--model``, default: the registry default) in its ONNX session, trained models in torch; classical
   no-reference measures on the images in physical units.
4. **Tables**: upstream (physics), downstream (pseudo-MOS), classical measures, ablations as paired
   bootstrap deltas, the robustness sweep, per-family grade calibration (written to ``models.json`` only
   with ``--write-calibration``); rendered next to the paper's numbers by :mod:`_suite_render`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _suite_data import HeldoutImage, heldout_images, variant_images
from _suite_eval import (
    CLASSICAL,
    CT_WINDOWS,
    OnnxScorer,
    Scored,
    TorchScorer,
    aligned_srcc,
    cell_metrics,
    classical_measures,
    downstream_cells,
    in_cell,
    paired_deltas,
    run_feeds,
    sweep,
    variant_feeds,
)
from _suite_render import write_markdown

ROOT = Path(__file__).resolve().parents[1]
QUICK_SOURCES = ("ts-ct-abdomen", "stroke-t1", "hrf-14_h")


def _log_to_stderr(start: float) -> Callable[[str], None]:
    def log(line: str) -> None:
        print(f"[{(time.perf_counter() - start) / 60:5.1f} min] {line}", file=sys.stderr, flush=True)

    return log


def _cell_key(cell: tuple[str, str]) -> str:
    return f"{cell[0]}@{cell[1]}"


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def _clean(obj: Any) -> Any:
    """JSON-ready: nan/inf become None, numpy scalars plain floats, tuples lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return _finite(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-minutes", type=float, default=None, help="training wall clock per model (4)")
    ap.add_argument(
        "--steps", type=int, default=None, help="cap on training steps per model (none; quick 20)"
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke test: tiny models, 3 sources; not the figures"
    )
    ap.add_argument(
        "--out", default=str(ROOT / "docs" / "benchmarks"), help="figures + JSON folder; page: OUT.md"
    )
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "suite"), help="checkpoints and logs")
    ap.add_argument("--model", default=None, help="scorer from the registry (default: the registry default)")
    ap.add_argument("--registry", default=None, help="models.json to use (default: the package's)")
    ap.add_argument(
        "--config", default=None, help="MedIQA preset to train (default: the scorer's own config)"
    )
    ap.add_argument("--split", default="test", help="held-out split (default test)")
    ap.add_argument("--sources", nargs="*", default=None, help="only these held-out sources")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch / onnxruntime / OpenCV threads")
    ap.add_argument("--workers", type=int, default=None, help="data-stream worker processes (threads > 1: 1)")
    ap.add_argument("--resamples", type=int, default=None, help="bootstrap resamples (1000; quick 200)")
    ap.add_argument(
        "--skip-training", action="store_true", help="only the registry scorer and classical rows"
    )
    ap.add_argument("--write-calibration", action="store_true", help="store grade thresholds in models.json")
    return ap.parse_args(argv)


def _reference_config(record: Any, name: str | None, quick: bool) -> Any:
    from mediqa_sdk.train.model import config_from_dict, scorer_config

    if name:
        return scorer_config(name)
    if quick:
        return scorer_config("tiny")
    raw = record.provenance.get("config") if isinstance(record.provenance, Mapping) else None
    return config_from_dict(dict(raw)) if raw else scorer_config("cnn-pyramid")


class Runner:
    """Holds the state of one suite run (the steps are methods, called in order by :func:`main`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.start = time.perf_counter()
        self.log = _log_to_stderr(self.start)
        self.timings: dict[str, float] = {}
        self.quick = args.quick
        self.budget = args.budget_minutes if args.budget_minutes is not None else (3.0 if args.quick else 4.0)
        self.steps = args.steps if args.steps is not None else (20 if args.quick else 100_000)
        self.resamples = args.resamples if args.resamples is not None else (200 if args.quick else 1000)
        self.workers = args.workers if args.workers is not None else (1 if args.threads > 1 else 0)
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.images: list[HeldoutImage] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.trained: list[Any] = []
        # model -> image key -> outputs; upstream: model -> (image key, column) -> outputs
        self.down: dict[str, dict[str, Scored]] = defaultdict(dict)
        self.up: dict[str, dict[tuple[str, str], Scored]] = defaultdict(dict)
        self.variants: dict[str, dict[str, Scored]] = defaultdict(dict)
        self.classical: dict[str, dict[str, float]] = {}
        self.parity: dict[str, Any] = {}
        self.prompt_vectors: dict[str, list[tuple[str, np.ndarray]]] = {}

    def _phase(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.perf_counter() - t0, 1)
        self.log(f"{name}: {self.timings[name]:.0f} s")

    # -- steps ------------------------------------------------------------------------------------------

    def setup(self) -> None:
        import cv2
        import torch

        from mediqa_sdk import Assessor

        torch.set_num_threads(self.args.threads)
        cv2.setNumThreads(self.args.threads)
        self.assessor = Assessor(
            self.args.model, device="cpu", threads=self.args.threads, registry=self.args.registry
        )
        self.record = self.assessor.scorer
        self.models["shipped"] = {
            "label": f"MedIQA shipped ({self.record.name}, ONNX)",
            "short": "shipped",
            "kind": "onnx",
            "model": self.record.name,
            "sha256": self.record.sha256,
            "training": self.record.provenance.get("training", {})
            if isinstance(self.record.provenance, Mapping)
            else {},
        }
        self.reference = _reference_config(self.record, self.args.config, self.quick)

    def heldout(self) -> None:
        t0 = time.perf_counter()
        sources = self.args.sources or (list(QUICK_SOURCES) if self.quick else None)
        self.images = heldout_images(self.args.split, self.args.seed, sources)
        if not self.images:
            raise SystemExit(f"error: no held-out images in split {self.args.split!r} (sources {sources})")
        self.log(f"{len(self.images)} held-out images from {len({i.source_id for i in self.images})} sources")
        self._phase("heldout_images", t0)

    def train(self) -> None:
        if self.args.skip_training:
            return
        from _suite_train import TrainingSetup, build_val_batches, plans, train_plan

        t0 = time.perf_counter()
        setup = TrainingSetup(
            work=self.work,
            budget_minutes=self.budget,
            max_steps=self.steps,
            seed=self.args.seed,
            threads=self.args.threads,
            workers=self.workers,
            batch_size=4 if self.quick else 16,
            batch_3d=1 if self.quick else 2,
            eval_every=5 if self.quick else 50,
            warmup_steps=2 if self.quick else 20,
            lr_pretrain=3e-4,
            lr_finetune=2e-4,
            rank_weight=1.0,
        )
        val = build_val_batches(self.record, setup, 8 if self.quick else 64, 2 if self.quick else 8)
        self.timings["validation_set"] = round(time.perf_counter() - t0, 1)
        for plan in plans(self.reference, self.quick):
            t1 = time.perf_counter()
            trained = train_plan(plan, setup, self.record, val, self.log)
            self.trained.append(trained)
            self.models[plan.name] = {
                "label": plan.label,
                "short": plan.short,
                "kind": "torch",
                "config": getattr(plan.config, "name", ""),
                "params": _params(plan.config),
                "training": trained.stages,
            }
            self.timings[f"train_{plan.name}"] = round(time.perf_counter() - t1, 1)
        self._phase("training", t0)

    def _torch_scorers(self, stage: str) -> dict[str, TorchScorer]:
        from mediqa_sdk.train.model import load_checkpoint

        out: dict[str, TorchScorer] = {}
        for tm in self.trained:
            if stage in tm.checkpoints:
                model, _ = load_checkpoint(tm.checkpoints[stage])
                out[tm.plan.name] = TorchScorer(model, zero_prompt=tm.plan.zero_prompt)
        return out

    def score(self) -> None:
        """Downstream pass (every image; shipped + fine-tuned models), classical measures, parity checks."""
        t0 = time.perf_counter()
        scorers: dict[str, Any] = {"shipped": OnnxScorer(self.assessor), **self._torch_scorers("finetune")}
        checked: set[str] = set()
        diffs: list[float] = []
        for n, img in enumerate(self.images):
            _, feeds = self.assessor.network_inputs(
                img.runtime_input, slices=img.runtime_slices, **img.prompts
            )
            for name, scorer in scorers.items():
                self.down[name][img.key] = run_feeds(scorer, feeds)
            if img.dim == "3d":
                self.prompt_vectors[img.key] = [(f[0], f[2]) for f in feeds]
            self.classical[img.key] = classical_measures(img)
            if img.modality not in checked:  # the same number as `mediqa score` gives
                checked.add(img.modality)
                result = (
                    self.assessor.score(img.image, **img.prompts)
                    if img.runtime_slices is None
                    else self.assessor.score_slices(img.runtime_input, img.runtime_slices, **img.prompts)
                )
                diffs.append(abs(result.score - self.down["shipped"][img.key].score))
            if img.dim == "3d" and "feeds_rebuilt_max_abs_diff" not in self.parity:
                rebuilt = variant_feeds(
                    img.image, [(f[0], f[2]) for f in feeds], self.record, img.modality, img.neighbours
                )
                self.parity["feeds_rebuilt_max_abs_diff"] = float(
                    max(np.abs(a[1] - b[1]).max() for a, b in zip(feeds, rebuilt, strict=True))
                )
            if (n + 1) % 50 == 0:
                self.log(f"scored {n + 1}/{len(self.images)} images")
        self.parity["runtime_score_max_abs_diff"] = max(diffs) if diffs else None
        self.parity["runtime_images_checked"] = len(diffs)
        self._phase("scoring_downstream", t0)

    def upstream(self) -> None:
        """Physics estimates of the physics-family images: CT in each window, MR in its contrast."""
        t0 = time.perf_counter()
        scorers: dict[str, Any] = {"shipped": OnnxScorer(self.assessor)}
        scorers |= {f"{k}@pt": v for k, v in self._torch_scorers("pretrain").items()}
        for img in self.images:
            if img.physics_true is None:
                continue
            columns: list[tuple[str, dict[str, str]]] = [("native", {})]
            if img.modality == "ct":
                columns += [(f"ct/{w}", {"type": w}) for w in CT_WINDOWS]
            for column, extra in columns:
                _, feeds = self.assessor.network_inputs(
                    img.runtime_input, slices=img.runtime_slices, **img.prompts, **extra
                )
                for name, scorer in scorers.items():
                    self.up[name][(img.key, column)] = run_feeds(scorer, feeds)
        self._phase("scoring_upstream", t0)

    def slice_variants(self) -> None:
        """The shipped scorer on uniform and random slices of every 3D image (same prompts, same windows)."""
        t0 = time.perf_counter()
        scorer = OnnxScorer(self.assessor)
        three = [i for i in self.images if i.dim == "3d"]
        for variant in ("uniform", "random"):
            stacks = variant_images(three, variant, self.args.seed)
            for img in three:
                slices, near = stacks[img.key]
                feeds_v = variant_feeds(slices, self.prompt_vectors[img.key], self.record, img.modality, near)
                self.variants[variant][img.key] = run_feeds(scorer, feeds_v)
        self._phase("scoring_slice_variants", t0)

    # -- tables -----------------------------------------------------------------------------------------

    def upstream_table(self) -> dict[str, Any]:
        from mediqa_sdk.train.data import labels

        names = [p.name for p in self.record.physics]
        phys = [i for i in self.images if i.physics_true is not None]
        columns = ["all", *(f"ct/{w}" for w in CT_WINDOWS)]
        columns += sorted({i.downstream for i in phys if i.modality == "mr"})
        members: dict[str, list[tuple[HeldoutImage, str]]] = {c: [] for c in columns}
        for img in phys:
            members["all"].append((img, "native"))
            if img.modality == "ct":
                for w in CT_WINDOWS:
                    members[f"ct/{w}"].append((img, f"ct/{w}"))
            else:
                members[img.downstream].append((img, "native"))
        rows: dict[str, dict[str, Any]] = {}
        for model, outs in self.up.items():
            rows[model] = {}
            for col, pairs in members.items():
                pred = [outs[(i.key, c)].physics[names.index(i.physics_name)] for i, c in pairs]
                true = [labels.normalise(i.physics_name, i.physics_true) for i, _ in pairs]
                rows[model][col] = cell_metrics(pred, true)
        classical: dict[str, dict[str, Any]] = {}
        for measure, want in (("ct_noise", "ct"), ("mr_snr", "mr")):
            classical[measure] = {}
            for col, pairs in members.items():
                mine = [i for i, _ in pairs if i.modality == want]
                if col == "all" or not mine:
                    continue
                vals = [self.classical[i.key].get(measure, math.nan) for i in mine]
                classical[measure][col] = aligned_srcc(
                    vals, [i.physics_true for i in mine], CLASSICAL[measure][1]
                )
        return {
            "columns": columns,
            "rows": rows,
            "classical": classical,
            "images": {c: len(v) for c, v in members.items()},
        }

    def downstream_table(self) -> dict[str, Any]:
        cells = downstream_cells(self.images)
        leaf = [c for c in cells if "/" in c[0] or c[0] == "fundus"]
        rows: dict[str, dict[str, Any]] = {}
        for model, outs in self.down.items():
            rows[model] = {}
            for cell in cells:
                mine = [i for i in self.images if in_cell(i, cell)]
                rows[model][_cell_key(cell)] = cell_metrics(
                    [outs[i.key].score for i in mine], [i.pseudo_mos for i in mine]
                )
        average = {
            m: float(np.nanmean([r[_cell_key(c)]["srcc"] for c in leaf])) if leaf else math.nan
            for m, r in rows.items()
        }
        classical: dict[str, dict[str, Any]] = {}
        for measure, (modality, sign, _) in CLASSICAL.items():
            classical[measure] = {}
            for cell in leaf:
                mine = [i for i in self.images if in_cell(i, cell) and (modality in ("any", i.modality))]
                if mine:
                    vals = [self.classical[i.key].get(measure, math.nan) for i in mine]
                    classical[measure][_cell_key(cell)] = aligned_srcc(
                        vals, [i.pseudo_mos for i in mine], sign
                    )
        return {
            "cells": [list(c) for c in cells],
            "leaf_cells": [list(c) for c in leaf],
            "rows": rows,
            "average_srcc": average,
            "classical": classical,
            "classical_descriptions": {k: v[2] for k, v in CLASSICAL.items()},
        }

    def ablation_tables(self) -> dict[str, Any]:
        cells = downstream_cells(self.images)
        leaf = [c for c in cells if "/" in c[0] or c[0] == "fundus"]
        cols3 = [c for c in leaf if c[1] == "3d"]
        out: dict[str, Any] = {"eval_time": {}, "training": {}, "resamples": self.resamples}

        def deltas(
            cols: list[tuple[str, str]], pooled: str, full: Callable, abl: Callable, keep: Callable
        ) -> dict:
            res: dict[str, Any] = {}
            groups = [(_cell_key(c), [i for i in self.images if in_cell(i, c)]) for c in cols]
            groups.append((pooled, [i for i in self.images if keep(i)]))
            for key, mine in groups:
                mine = [i for i in mine if keep(i)]
                if not mine:
                    continue
                t = [i.pseudo_mos for i in mine]
                res[key] = {
                    "n": len(mine),
                    "full": cell_metrics([full(i) for i in mine], t),
                    "ablated": cell_metrics([abl(i) for i in mine], t),
                    "deltas": paired_deltas(
                        [full(i) for i in mine],
                        [abl(i) for i in mine],
                        t,
                        n_resamples=self.resamples,
                        seed=self.args.seed,
                    ),
                }
            return res

        shipped = self.down["shipped"]
        is3 = lambda i: i.dim == "3d"  # noqa: E731
        if self.variants:
            for variant in ("uniform", "random"):
                v = self.variants[variant]
                out["eval_time"][f"{variant}_slices"] = deltas(
                    cols3, "all@3d", lambda i: shipped[i.key].score, lambda i, v=v: v[i.key].score, is3
                )
        out["eval_time"]["plain_mean"] = deltas(
            cols3, "all@3d", lambda i: shipped[i.key].score, lambda i: shipped[i.key].plain_mean, is3
        )
        if "medIQA" in self.down:
            ref = self.down["medIQA"]
            for name in ("no-pt", "no-pm"):
                if name in self.down:
                    other = self.down[name]
                    out["training"][name] = deltas(
                        leaf,
                        "all",
                        lambda i: ref[i.key].score,
                        lambda i, o=other: o[i.key].score,
                        lambda i: True,
                    )
        return out

    def calibration(self) -> dict[str, Any]:
        from mediqa_sdk.evaluation.calibration import calibrate_families, family_key, store_family_grades

        pre = self.record.preprocess
        rows = []
        for img in self.images:
            score = self.down["shipped"][img.key].score
            type_ = pre.ct_region_windows[img.region][0] if img.modality == "ct" else img.type
            rows.append((family_key(img.modality, img.region, type_), score, img.pseudo_mos))
            rows.append((family_key(img.modality), score, img.pseudo_mos))
        cals = calibrate_families(rows)
        written = None
        if self.args.write_calibration:
            written = str(store_family_grades(self.record.name, cals, self.assessor.registry.path))
            self.log(f"calibrated grades of {self.record.name} written to {written}")
        return {"families": {k: v.to_dict() for k, v in cals.items()}, "written_to": written}

    def figures(self, data: dict[str, Any]) -> dict[str, str]:
        from _suite_data import family_label
        from _suite_plot import bars_figure, robustness_figure, write_png

        from mediqa_sdk.evaluation.logistic import fit_logistic4
        from mediqa_sdk.evaluation.plot import render_scatter

        self.out.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        curves = dict(data["sweep"])
        title = (
            f"Robustness: {self.record.name} score vs degradation level (held-out {self.args.split} sources)"
        )
        files["robustness"] = write_png(self.out / "robustness.png", robustness_figure(curves, title)).name
        down = data["downstream"]
        leaf = [tuple(c) for c in down["leaf_cells"]]
        labels = [f"{family_label(c[0])}\n{c[1].upper()}" for c in leaf]
        series = {
            self.models[m].get("short", m): [down["rows"][m][_cell_key(c)]["srcc"] for c in leaf]
            for m in down["rows"]
        }
        img = bars_figure(
            labels, series, "Downstream SRCC vs pseudo-MOS per held-out family (ours, not the paper's data)"
        )
        files["downstream_srcc"] = write_png(self.out / "downstream_srcc.png", img).name
        pred = np.array([self.down["shipped"][i.key].score for i in self.images])
        true = np.array([i.pseudo_mos for i in self.images])
        fit = fit_logistic4(pred, true) if np.ptp(pred) > 0 else None
        title = f"{self.record.name}: every held-out image (clean and degraded), 3D and 2D"
        scatter = render_scatter(pred, true, fit, title=title, y_label="pseudo-MOS")
        files["scatter_shipped"] = write_png(self.out / "scatter_shipped.png", scatter).name
        return files

    def assemble(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        shipped_scores = {k: v.score for k, v in self.down["shipped"].items()}
        data: dict[str, Any] = {
            "meta": {
                "quick": self.quick,
                "figures_dir": self.out.name,
                "command": "python bench/suite.py " + " ".join(sys.argv[1:]),
                "date": dt.date.today().isoformat(),
                "split": self.args.split,
                "seed": self.args.seed,
                "threads": self.args.threads,
                "workers": self.workers,
                "budget_minutes_per_model": self.budget,
                "max_steps_per_model": self.steps,
                "bootstrap_resamples": self.resamples,
                "scorer": self.record.name,
                "reference_config": getattr(self.reference, "name", ""),
                "sources": sorted({i.source_id for i in self.images}),
                "n_images": len(self.images),
                "n_3d": sum(i.dim == "3d" for i in self.images),
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
            },
            "models": self.models,
            "upstream": self.upstream_table(),
            "downstream": self.downstream_table(),
            "ablations": self.ablation_tables(),
            "sweep": sweep(self.images, shipped_scores),
            "calibration": self.calibration(),
            "parity": self.parity,
            "images": [
                {
                    "key": i.key,
                    "modality": i.modality,
                    "region": i.region,
                    "type": i.type,
                    "dim": i.dim,
                    "family": i.family,
                    "severity": i.severity,
                    "param": i.param,
                    "pseudo_mos": i.pseudo_mos,
                    "physics_true": i.physics_true,
                    "scores": {m: round(o[i.key].score, 6) for m, o in self.down.items()},
                    "classical": self.classical.get(i.key, {}),
                }
                for i in self.images
            ],
        }
        data["figures"] = self.figures(data)
        self._phase("tables_and_figures", t0)
        return data


def _params(config: Any) -> int:
    from mediqa_sdk.train.model import build_model

    return int(sum(p.numel() for p in build_model(config).parameters()))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick and args.write_calibration:
        raise SystemExit(
            "error: --write-calibration needs a full run (quick-run thresholds are not the figures)"
        )
    run = Runner(args)
    run.setup()
    run.log(
        f"suite: scorer {run.record.name}, {'QUICK ' if run.quick else ''}budget {run.budget:g} min/model, "
        f"steps <= {run.steps}, threads {args.threads}"
    )
    run.heldout()
    run.train()
    run.score()
    run.upstream()
    run.slice_variants()
    data = run.assemble()
    total = time.perf_counter() - run.start
    data["meta"]["timings_s"] = run.timings
    data["meta"]["total_seconds"] = round(total, 1)
    run.out.mkdir(parents=True, exist_ok=True)
    json_path = run.out / "benchmarks.json"
    json_path.write_text(json.dumps(_clean(data), indent=1) + "\n")
    md_path = run.out.parent / f"{run.out.name}.md"
    write_markdown(json.loads(json_path.read_text()), md_path)
    run.log(f"wrote {md_path}, {json_path} and {len(data['figures'])} figures")
    print(f"total wall time: {total / 60:.1f} min ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
