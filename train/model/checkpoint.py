"""Checkpoints: ``{"config": cfg.to_dict(), "model": state_dict, "provenance": {...}}`` in one torch file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .baselines import BaselineConfig, baseline_from_dict, build_baseline
from .classifier import PromptClassifier
from .config import ClassifierConfig, ScorerConfig, config_from_dict
from .maniqa import MedIQAScorer

__all__ = ["CheckpointError", "build_model", "load_checkpoint", "save_checkpoint"]


class CheckpointError(ValueError):
    """A file that is not a model checkpoint (its one-line message names the file and the problem)."""


def build_model(cfg: ScorerConfig | ClassifierConfig | BaselineConfig) -> Any:
    """The scorer, classifier or benchmark baseline a configuration describes (random weights)."""
    if isinstance(cfg, BaselineConfig):
        return build_baseline(cfg)
    return MedIQAScorer(cfg) if isinstance(cfg, ScorerConfig) else PromptClassifier(cfg)


def save_checkpoint(
    model: MedIQAScorer | PromptClassifier, path: str | Path, provenance: dict[str, Any] | None = None
) -> None:
    """Save configuration, weights and provenance (training data, seed, metrics) together."""
    payload = {"config": model.cfg.to_dict(), "model": model.state_dict(), "provenance": provenance or {}}
    torch.save(payload, Path(path))


def load_checkpoint(path: str | Path) -> tuple[MedIQAScorer | PromptClassifier, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns ``(model in eval mode, provenance)``."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, truncated, or pickled objects beyond tensors
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or "config" not in payload or "model" not in payload:
        raise CheckpointError(
            f"{path}: not a model checkpoint (no model configuration; a run's last.pt written before "
            "2026-12-07 holds only the state to resume from: use the run's best.pt)"
        )
    raw = payload["config"]
    model = build_model(baseline_from_dict(raw) if raw.get("task") == "baseline" else config_from_dict(raw))
    model.load_state_dict(payload["model"])
    return model.eval(), dict(payload.get("provenance", {}))
