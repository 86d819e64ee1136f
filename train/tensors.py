"""Training samples to network arrays, through the runtime's own preprocessing (no train/serve drift).

Both functions call :func:`mediqa_sdk.preprocess.scorer_input` or
:func:`~mediqa_sdk.preprocess.classifier_input`, and :func:`mediqa_sdk.prompts.encode_prompt`, with the
record the exported model will carry, exactly as :class:`mediqa_sdk.Assessor` does at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediqa_sdk.preprocess import classifier_input, scorer_input, scoring_window
from mediqa_sdk.prompts import encode_prompt
from mediqa_sdk.registry import ModelRecord

from .data import Sample

__all__ = ["ClassifierArrays", "ScorerArrays", "classifier_arrays", "scorer_arrays", "slices_of"]


@dataclass(frozen=True)
class ScorerArrays:
    """Scorer input and targets of one sample.

    Attributes:
        slices: ``[S, 3, 224, 224]`` network input.
        prompt: ``[P]`` one-hot prompt.
        score: quality target in 0..1 (pseudo-MOS or a user's normalised score).
        physics: ``[K]`` normalised physics targets in the record's order; ``physics_mask``: which apply.
    """

    slices: np.ndarray
    prompt: np.ndarray
    score: float
    physics: np.ndarray
    physics_mask: np.ndarray


@dataclass(frozen=True)
class ClassifierArrays:
    """Classifier input ``[1, 3, 224, 224]`` and label indices; ``type_valid`` is False where the type is
    not a property of the image (a CT in HU is scored in windows chosen by its region)."""

    image: np.ndarray
    modality: int
    region: int
    type: int
    type_valid: bool


def slices_of(sample: Sample) -> tuple[np.ndarray, bool]:
    """The sample's image as a slice stack ``[S, H, W(, 3)]`` and whether it is colour."""
    image = sample.image
    is_color = sample.modality == "fundus" or (
        image.ndim == 3 and image.shape[-1] == 3 and sample.dim == "2d"
    )
    stack = image[None] if sample.dim == "2d" else image
    return stack.astype(np.float32, copy=False), is_color


def scorer_arrays(sample: Sample, record: ModelRecord, score: float | None = None) -> ScorerArrays:
    """Network arrays of ``sample`` for a scorer described by ``record`` (engine samples are in HU)."""
    stack, is_color = slices_of(sample)
    window = scoring_window(record.preprocess, sample.modality, sample.type, values_in_hu=True)
    x = scorer_input(stack, record.preprocess, is_color=is_color, window=window, neighbours=sample.neighbours)
    prompt = encode_prompt(record.vocabulary, sample.dim, sample.modality, sample.region, sample.type)
    physics = np.array([sample.physics.get(p.name, 0.0) for p in record.physics], np.float32)
    mask = np.array([bool(sample.physics_valid.get(p.name, False)) for p in record.physics], bool)
    return ScorerArrays(x, prompt, float(sample.pseudo_mos if score is None else score), physics, mask)


def classifier_arrays(sample: Sample, record: ModelRecord, rng: np.random.Generator) -> ClassifierArrays:
    """One slice of ``sample`` (a random one of a 3D sample) as classifier input with its labels."""
    stack, is_color = slices_of(sample)
    one = stack[int(rng.integers(stack.shape[0]))][None]
    vocab = record.vocabulary
    return ClassifierArrays(
        image=classifier_input(one, record.preprocess, is_color=is_color),
        modality=vocab.modality.index(sample.modality),
        region=vocab.region.index(sample.region),
        type=vocab.type.index(sample.type),
        type_valid=sample.modality != "ct",
    )
