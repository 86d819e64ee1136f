"""Training of the suite's models: every trained row gets the same data stream, wall-clock budget and seed.

Each model starts from a checkpoint of its seeded random initialisation and runs the shared loop
(:func:`mediqa_sdk.train.loop.train`) on :class:`~mediqa_sdk.train.streams.EngineBatches` of the train split
with the shipped scorer's preprocessing. Two-stage models spend half the budget on physics pre-training and
half on fine-tuning from the pre-trained weights; the no-pre-training ablation fine-tunes from random
weights for the whole budget (equal compute). The no-prompt ablation sees a zero prompt vector in every
training, validation and evaluation batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["TrainPlan", "TrainedModel", "TrainingSetup", "build_val_batches", "plans", "train_plan"]

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainPlan:
    """One trained row: a name, a label for the tables, its configuration and stages."""

    name: str
    label: str
    config: Any
    stages: tuple[str, ...] = ("pretrain", "finetune")
    zero_prompt: bool = False
    short: str = ""


@dataclass(frozen=True)
class TrainingSetup:
    """What every trained model shares."""

    work: Path
    budget_minutes: float
    max_steps: int  # per trained model, split evenly between its stages like the minutes
    seed: int
    threads: int
    workers: int
    batch_size: int
    batch_3d: int
    eval_every: int
    warmup_steps: int
    lr_pretrain: float
    lr_finetune: float
    rank_weight: float


@dataclass(frozen=True)
class TrainedModel:
    """Checkpoints of a trained row per stage, and what each stage did."""

    plan: TrainPlan
    checkpoints: dict[str, Path]
    stages: dict[str, dict[str, Any]]


def plans(reference_config: Any, quick: bool) -> list[TrainPlan]:
    """The trained rows: MedIQA at the suite's budget, its two training ablations, three baselines."""
    from mediqa_sdk.train.model import baseline_config

    suffix = "-tiny" if quick else ""
    return [
        TrainPlan("medIQA", "MedIQA (suite budget)", reference_config, short="MedIQA (budget)"),
        TrainPlan(
            "no-pt", "MedIQA without pre-training", reference_config, stages=("finetune",), short="w/o PT"
        ),
        TrainPlan("no-pm", "MedIQA without prompts", reference_config, zero_prompt=True, short="w/o PM"),
        TrainPlan("resnet", "ResNet-style CNN", baseline_config(f"baseline-resnet{suffix}"), short="ResNet"),
        TrainPlan("vit", "ViT (small, plain)", baseline_config(f"baseline-vit{suffix}"), short="ViT"),
        TrainPlan(
            "cnniqa", "CNNIQA (Kang 2014)", baseline_config(f"baseline-cnniqa{suffix}"), short="CNNIQA"
        ),
    ]


def zero_prompts(batch: Batch) -> Batch:
    """The batch with its prompt vectors set to zero (a copy; the input is not changed)."""
    return {**batch, "prompt": torch.zeros_like(batch["prompt"])}


def build_val_batches(record: Any, setup: TrainingSetup, n_2d: int, n_3d: int) -> list[Batch]:
    """The fixed validation set of the val split (seed ``10000 + seed``, as ``mediqa train``)."""
    from mediqa_sdk.train.streams import StreamSpec, fixed_batches

    spec = StreamSpec(
        task="scorer",
        split="val",
        batch_size=setup.batch_size,
        batch_3d=setup.batch_3d,
        seed=10_000 + setup.seed,
    )
    return fixed_batches(spec, record, n_2d, n_3d)


def _stream(record: Any, setup: TrainingSetup, zero: bool) -> tuple[Iterator[Batch], Any]:
    from mediqa_sdk.train.streams import EngineBatches, StreamSpec
    from torch.utils.data import DataLoader

    spec = StreamSpec(
        task="scorer", split="train", batch_size=setup.batch_size, batch_3d=setup.batch_3d, seed=setup.seed
    )
    kw: dict[str, Any] = {"prefetch_factor": 4} if setup.workers else {}
    loader = DataLoader(
        EngineBatches(spec, record),
        batch_size=None,
        num_workers=setup.workers,
        persistent_workers=False,
        **kw,
    )
    it = iter(loader)
    return ((zero_prompts(b) for b in it) if zero else it), it


def _final_checkpoint(run: Path, config: Any) -> Path:
    """``best.pt``, or (no evaluation ever improved, e.g. an undefined metric) the last weights."""
    from mediqa_sdk.train.model import build_model, save_checkpoint

    best = run / "best.pt"
    if best.is_file():
        return best
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    model = build_model(config)
    model.load_state_dict(state["model"])
    save_checkpoint(model, best, provenance={"note": "last weights (no evaluation improved)"})
    return best


def train_plan(
    plan: TrainPlan,
    setup: TrainingSetup,
    record: Any,
    val_batches: list[Batch],
    log: Callable[[str], None],
) -> TrainedModel:
    """Train one row within ``setup.budget_minutes`` (split evenly between its stages)."""
    from mediqa_sdk.train.loop import TrainSettings, train
    from mediqa_sdk.train.model import build_model, save_checkpoint

    root = setup.work / plan.name
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(setup.seed)
    init = root / "init.pt"
    save_checkpoint(build_model(plan.config), init, provenance={"suite": plan.name, "weights": "random"})
    val = [zero_prompts(b) for b in val_batches] if plan.zero_prompt else val_batches
    minutes = setup.budget_minutes / len(plan.stages)
    checkpoints: dict[str, Path] = {}
    stages: dict[str, dict[str, Any]] = {}
    previous = init
    for stage in plan.stages:
        settings = TrainSettings(
            stage=stage,
            out_dir=str(root / stage),
            config=str(getattr(plan.config, "name", "")),
            init=str(previous),
            minutes=minutes,
            max_steps=max(1, setup.max_steps // len(plan.stages)),
            lr=setup.lr_pretrain if stage == "pretrain" else setup.lr_finetune,
            warmup_steps=setup.warmup_steps,
            eval_every=setup.eval_every,
            seed=setup.seed,
            bf16=False,
            threads=setup.threads,
            rank_weight=setup.rank_weight if stage == "finetune" else 0.0,
            extra={"suite": plan.name, "zero_prompt": plan.zero_prompt},
        )
        batches, loader_iter = _stream(record, setup, plan.zero_prompt)
        t0 = time.perf_counter()
        try:
            report = train(
                settings, batches, val, log=lambda line, n=plan.name, s=stage: log(f"[{n}/{s}] {line}")
            )
        finally:
            shutdown = getattr(loader_iter, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
        seconds = time.perf_counter() - t0
        previous = _final_checkpoint(root / stage, plan.config)
        checkpoints[stage] = previous
        stages[stage] = {
            "steps": report.steps,
            "seconds": round(seconds, 1),
            "best_step": report.best_step,
            "best_val_metric": None
            if not math.isfinite(report.best_metric)
            else round(report.best_metric, 4),
            "minutes_budget": round(minutes, 3),
            "lr": settings.lr,
        }
        log(f"[{plan.name}/{stage}] {report.steps} steps in {seconds / 60:.1f} min")
    return TrainedModel(plan, checkpoints, stages)
