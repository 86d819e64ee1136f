"""MedIQA models in plain torch: the scorer (MANIQA + prompts + slice weights) and the prompt classifier.

>>> from mediqa_sdk.train.model import build_model, scorer_config
>>> model = build_model(scorer_config("cnn-pyramid")).eval()
>>> out = model(slices, prompt)  # slices [B,S,3,224,224], prompt [B,21] -> score, slice_scores, ...
"""

from .baselines import BASELINE_PRESETS, BaselineConfig, baseline_config
from .checkpoint import CheckpointError, build_model, load_checkpoint, save_checkpoint
from .classifier import ClassifierOutput, PromptClassifier
from .config import (
    CLASSIFIER_PRESETS,
    SCORER_PRESETS,
    BackboneConfig,
    ClassifierConfig,
    ScorerConfig,
    classifier_config,
    config_from_dict,
    scorer_config,
)
from .maniqa import MedIQAScorer, ScorerOutput

__all__ = [
    "BASELINE_PRESETS",
    "CLASSIFIER_PRESETS",
    "SCORER_PRESETS",
    "BackboneConfig",
    "BaselineConfig",
    "CheckpointError",
    "ClassifierConfig",
    "ClassifierOutput",
    "MedIQAScorer",
    "PromptClassifier",
    "ScorerConfig",
    "ScorerOutput",
    "baseline_config",
    "build_model",
    "classifier_config",
    "config_from_dict",
    "load_checkpoint",
    "save_checkpoint",
    "scorer_config",
]
