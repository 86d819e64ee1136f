"""The training loop shared by the three stages: classifier, physics pre-training, quality fine-tuning.

Losses (the paper's MSE where it applies):

- ``classifier``: cross-entropy on modality + region + type (type only where it is a property of the image).
- ``pretrain``: ``L = mean over valid targets of (g(E(x)) - p)^2`` on the physics head (CT dose, MR B0).
- ``finetune``: ``L = mean((Q - y)^2) + lambda * L_rank + mu * L_phys`` on the score, starting from the
  pre-trained weights. ``L_rank = mean over pairs (i, j) of one content (source and slices) with
  r_i > r_j + 0.02 of log(1 + exp(-(Q_i - Q_j) / 0.05))``, where ``r = y`` minus a small margin for every
  degraded version (the clean version outranks all of its degraded ones), teaches the order of a content's
  versions, which pooled MSE learns slowly because the pseudo-MOS of different sources is not on one
  absolute scale (each source's own version scores 1.0). ``L_phys`` is the pre-training loss, kept so the
  physics head does not drift while the shared features move. ``lambda = mu = 0`` is the paper's plain MSE.

Deviations from the paper, on purpose: AdamW with lr 3e-4 (1e-5 in the paper fits fine-tuning a pre-trained
ViT-B, not training a light network from scratch), cosine decay, batches of 16 (2D) and 2 volumes (3D) instead
of 1, and a wall-clock budget with early stopping on the validation metric (SRCC for regression, mean head
accuracy for the classifier). Seeded; ``last.pt`` checkpoints allow resuming (and, like ``best.pt``,
exporting); ``log.csv`` records every evaluation. ``extra["global_context"]`` gives the model the slice-level
context branch (at 0, see :mod:`.model.global_context`); ``extra["train_only"]`` (name prefixes) freezes every
other parameter, and the optimiser and the gradient clipping see only the trained ones.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from .metrics import plcc, rmse, srcc
from .model import build_model, classifier_config, load_checkpoint, save_checkpoint, scorer_config
from .model.global_context import add_context_quadrants, add_global_context, freeze_except
from .model.input_channels import remap_input_channels

__all__ = ["TrainReport", "TrainSettings", "evaluate_batches", "load_init", "train"]

Batch = dict[str, torch.Tensor]
STAGES = ("classifier", "pretrain", "finetune")


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a run (saved beside its checkpoints)."""

    stage: str
    out_dir: str
    config: str = "cnn-pyramid"
    init: str | None = None
    minutes: float = 60.0
    max_steps: int = 100_000
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    eval_every: int = 200
    patience: int = 6
    seed: int = 0
    bf16: bool = True
    threads: int = 2
    resume: bool = False
    rank_weight: float = 0.0
    physics_weight: float = 0.0
    data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainReport:
    """Outcome of a run."""

    steps: int
    seconds: float
    best_metric: float
    best_step: int
    best_path: str
    metrics: dict[str, float]


def load_init(
    init: str, channels: tuple[str, ...] = (), context: bool = False, quadrants: bool = False
) -> torch.nn.Module:
    """The model a run starts from: checkpoint file ``init`` or the registry scorer named ``init`` (weights
    read back from its verified graph), its input weights folded onto grey recipes ``channels`` when given
    and different from its own (:func:`~.model.input_channels.remap_input_channels`), and given the context
    branch at 0 with ``context`` (:func:`~.model.global_context.add_global_context`), and its quadrant inputs
    at 0 with ``quadrants`` (:func:`~.model.global_context.add_context_quadrants`); in eval mode. All keep the
    model's function. A model exported to average several orientations starts with ``views`` 1: training
    shows one (``--augment`` draws it)."""
    from mediqa_sdk.registry import load_registry

    if Path(init).is_file():
        model, _ = load_checkpoint(init)
        record = load_registry().get(None, "scorer")  # what an empty gray_channels stands for
    else:  # a registry model: weights recovered from its verified graph (parity-checked)
        from ..export.onnx_import import model_from_registry

        model, _ = model_from_registry(init)
        record = load_registry().models[init]
    if getattr(model.cfg, "views", 1) != 1:
        model.cfg = replace(model.cfg, views=1)
    before = tuple(getattr(model.cfg, "gray_channels", ())) or record.preprocess.gray_channels
    if channels and channels != before:  # new grey input, same function
        done = remap_input_channels(model, before, channels)
        print(f"input channels {list(before)} -> {done}", file=sys.stderr)
        model.cfg = replace(model.cfg, gray_channels=channels)
    if quadrants:
        return add_context_quadrants(model).eval()
    return (add_global_context(model) if context else model).eval()


def _build(settings: TrainSettings) -> torch.nn.Module:
    """The model a run trains: its ``--init`` or a new preset, given the context branch when asked."""
    channels = tuple(settings.extra.get("gray_channels") or ())
    quadrants = bool(settings.extra.get("context_quadrants"))
    context = quadrants or bool(settings.extra.get("global_context"))
    if settings.init:
        return load_init(settings.init, channels, context, quadrants).train()
    if settings.stage == "classifier":
        return build_model(classifier_config(settings.config)).train()
    cfg = scorer_config(
        settings.config, gray_channels=channels, global_context=context, context_quadrants=quadrants
    )
    return build_model(cfg).train()


def _trainable(
    model: torch.nn.Module, settings: TrainSettings, log: Callable[[str], None]
) -> list[torch.nn.Parameter]:
    """The parameters the optimiser moves: all, or with ``train_only`` those named by its prefixes."""
    prefixes = tuple(settings.extra.get("train_only") or ())
    if not prefixes:
        return list(model.parameters())
    names = freeze_except(model, prefixes)
    params = [p for p in model.parameters() if p.requires_grad]
    values = sum(p.numel() for p in params)
    log(f"training {len(names)} tensors ({values:,} values) under {', '.join(prefixes)}")
    return params


def rank_loss(score: torch.Tensor, target: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Pairwise logistic ranking loss within groups (see the module docstring); 0 without pairs."""
    diff_t = target[:, None] - target[None, :]
    same = group[:, None] == group[None, :]
    pairs = same & (diff_t > 0.02)
    if not pairs.any():
        return score.sum() * 0.0
    diff_s = score[:, None] - score[None, :]
    return F.softplus(-diff_s[pairs] / 0.05).mean()


def _physics_loss(physics: torch.Tensor, batch: Batch) -> torch.Tensor:
    mask = batch["physics_mask"]
    if not mask.any():
        return physics.sum() * 0.0
    return F.mse_loss(physics.float()[mask], batch["physics"][mask])


def _loss(
    model: torch.nn.Module, batch: Batch, stage: str, rank_weight: float = 0.0, physics_weight: float = 0.0
) -> torch.Tensor:
    if stage == "classifier":
        out = model(batch["image"])
        loss = F.cross_entropy(out.modality, batch["modality"]) + F.cross_entropy(out.region, batch["region"])
        valid = batch["type_valid"]
        if valid.any():
            loss = loss + F.cross_entropy(out.type[valid], batch["type"][valid])
        return loss
    out = model(batch["slices"], batch["prompt"])
    if stage == "pretrain":
        return _physics_loss(out.physics, batch)
    score = out.score.float()
    loss = F.mse_loss(score, batch["score"])
    if rank_weight > 0 and "group" in batch:
        loss = loss + rank_weight * rank_loss(score, batch.get("rank", batch["score"]), batch["group"])
    if physics_weight > 0 and "physics_mask" in batch:
        loss = loss + physics_weight * _physics_loss(out.physics, batch)
    return loss


@torch.no_grad()
def evaluate_batches(model: torch.nn.Module, batches: Iterable[Batch], stage: str) -> dict[str, float]:
    """Validation metrics of ``model`` on fixed batches (fp32, eval mode)."""
    model.eval()
    if stage == "classifier":
        hits: dict[str, list[bool]] = {"modality": [], "region": [], "type": []}
        for b in batches:
            out = model(b["image"])
            hits["modality"] += (out.modality.argmax(1) == b["modality"]).tolist()
            hits["region"] += (out.region.argmax(1) == b["region"]).tolist()
            v = b["type_valid"]
            hits["type"] += (out.type.argmax(1)[v] == b["type"][v]).tolist()
        acc = {f"acc_{k}": float(np.mean(v)) if v else 0.0 for k, v in hits.items()}
        model.train()
        return {**acc, "metric": float(np.mean(list(acc.values())))}
    preds, trues, phys_p, phys_t, groups, families = [], [], [], [], [], []
    for b in batches:
        out = model(b["slices"], b["prompt"])
        preds += out.score.tolist()
        trues += b["score"].tolist()
        groups += b["group"].tolist() if "group" in b else [0] * len(b["score"])
        families += b["family"].tolist() if "family" in b else [0] * len(b["score"])
        m = b["physics_mask"]
        phys_p += out.physics[m].tolist()
        phys_t += b["physics"][m].tolist()
    model.train()
    result = {
        "srcc": srcc(np.array(preds), np.array(trues)),
        "plcc": plcc(np.array(preds), np.array(trues)),
        "rmse": rmse(np.array(preds), np.array(trues)),
    }
    within = _within_group_srcc(np.array(preds), np.array(trues), np.array(groups), np.array(families))
    if within is not None:
        result["srcc_within"] = within
    if phys_p:
        result |= {
            "physics_srcc": srcc(np.array(phys_p), np.array(phys_t)),
            "physics_rmse": rmse(np.array(phys_p), np.array(phys_t)),
        }
    if stage == "pretrain" and phys_p:
        result["metric"] = result["physics_srcc"]
    else:
        result["metric"] = result.get("srcc_within", result["srcc"])
    return result


def _within_group_srcc(
    pred: np.ndarray, true: np.ndarray, groups: np.ndarray, families: np.ndarray | None = None
) -> float | None:
    """Mean SRCC within groups of at least 3 samples with distinct labels (the held-out bar's view).

    With ``families`` (a family id per sample, e.g. CT / MR / fundus), the mean over groups is taken within
    each family first and then over families, so that a family with few groups weighs as much as one with
    many.
    """
    families = np.zeros(len(groups), np.int64) if families is None else families
    per_family: dict[int, list[float]] = {}
    for g in np.unique(groups):
        m = groups == g
        if m.sum() >= 3 and np.ptp(true[m]) > 0.02:
            per_family.setdefault(int(families[m][0]), []).append(srcc(pred[m], true[m]))
    return float(np.mean([np.mean(v) for v in per_family.values()])) if per_family else None


def _lr(step: int, settings: TrainSettings, progress: float) -> float:
    """Linear warm-up, then cosine decay to 5 % over the budget: ``lr_t = lr (0.05 + 0.475 (1 + cos(pi t)))``.

    ``progress`` is the spent share of the budget (steps or wall-clock, whichever is further along).
    """
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    t = min(1.0, max(0.0, progress))
    return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def _eta(elapsed: float, step: int, settings: TrainSettings) -> float:
    """Seconds left: the sooner of the wall-clock budget and ``max_steps`` at the mean pace so far."""
    by_time = settings.minutes * 60 - elapsed
    by_steps = (settings.max_steps - step) * elapsed / max(1, step)
    return max(0.0, min(by_time, by_steps))


def train(
    settings: TrainSettings,
    batches: Iterable[Batch],
    val_batches: list[Batch],
    log: Callable[[str], None] = lambda _: None,
    steps_estimate: int | None = None,
) -> TrainReport:
    """Train until the budget (``minutes`` / ``max_steps``) or early stopping; keep the best checkpoint.

    Args:
        settings: the run.
        batches: an endless iterable of training batches.
        val_batches: fixed validation batches.
        log: where progress lines go (the CLI sends them to stderr).
        steps_estimate: expected number of steps in the budget, for the learning-rate schedule.
    """
    if settings.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(asdict(settings), indent=2))
    model = _build(settings)
    params = _trainable(model, settings, log)
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    step, best, best_step, bad_evals, spent = 0, -math.inf, 0, 0, 0.0
    last = out / "last.pt"
    if settings.resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step, best, best_step, spent = state["step"], state["best"], state["best_step"], state["seconds"]
        log(f"resumed at step {step} (best {best:.4f} at step {best_step})")
    total = min(steps_estimate or settings.max_steps, settings.max_steps)
    log_path = out / "log.csv"
    new_log = not log_path.is_file() or not settings.resume
    log_fh = log_path.open("w" if new_log else "a", newline="")
    writer = csv.writer(log_fh)
    if new_log:
        writer.writerow(["step", "seconds", "train_loss", "lr", "metric", "details"])
    start = time.perf_counter() - spent
    losses: list[float] = []
    images = 0
    t_images = time.perf_counter()
    metrics: dict[str, float] = {}
    for batch in batches:
        progress = max(step / total, (time.perf_counter() - start) / (settings.minutes * 60))
        lr = _lr(step, settings, progress)
        for group in optim.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.bf16):
            loss = _loss(model, batch, settings.stage, settings.rank_weight, settings.physics_weight)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        losses.append(float(loss.detach()))
        first = batch.get("slices", batch.get("image"))
        images += int(np.prod(first.shape[:2])) if first.ndim == 5 else int(first.shape[0])
        step += 1
        elapsed = time.perf_counter() - start
        done = elapsed >= settings.minutes * 60 or step >= settings.max_steps
        if step % 20 == 0:
            rate = images / max(1e-9, time.perf_counter() - t_images)
            eta = _eta(elapsed, step, settings)
            log(
                f"step {step}  loss {np.mean(losses[-20:]):.4f}  lr {lr:.2e}  {rate * 3600:,.0f} img/h  "
                f"ETA {eta / 60:.1f} min"
            )
        if step % settings.eval_every == 0 or done:
            metrics = evaluate_batches(model, val_batches, settings.stage)
            writer.writerow(
                [
                    step,
                    round(elapsed, 1),
                    round(float(np.mean(losses[-settings.eval_every :])), 5),
                    f"{lr:.3e}",
                    round(metrics["metric"], 5),
                    json.dumps(metrics),
                ]
            )
            log_fh.flush()
            improved = metrics["metric"] > best + 1e-4
            if improved:
                best, best_step, bad_evals = metrics["metric"], step, 0
                save_checkpoint(
                    model,
                    out / "best.pt",
                    provenance={
                        "stage": settings.stage,
                        "step": step,
                        "seconds": round(elapsed, 1),
                        "val": metrics,
                        "settings": asdict(settings),
                    },
                )
            else:
                bad_evals += 1
            log(
                f"eval step {step}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                + ("  (best)" if improved else "")
            )
            torch.save(  # a checkpoint too (config, model, provenance), so a run's last step can be exported
                {
                    "config": model.cfg.to_dict(),
                    "provenance": {
                        "stage": settings.stage,
                        "step": step,
                        "seconds": round(elapsed, 1),
                        "val": metrics,
                        "settings": asdict(settings),
                    },
                    "model": model.state_dict(),
                    "optim": optim.state_dict(),
                    "step": step,
                    "best": best,
                    "best_step": best_step,
                    "seconds": elapsed,
                },
                last,
            )
            if bad_evals >= settings.patience:
                log(f"early stop: no improvement for {bad_evals} evaluations")
                done = True
        if done:
            break
    log_fh.close()
    return TrainReport(step, time.perf_counter() - start, best, best_step, str(out / "best.pt"), metrics)
