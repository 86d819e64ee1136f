"""Prompts: one-hot encoding, DICOM-tag evidence, override validation, precedence and warnings."""

from __future__ import annotations

import numpy as np
import pytest

from mediqa_sdk.errors import PromptError
from mediqa_sdk.prompts import (
    ClassifierOutput,
    encode_prompt,
    modality_from_tags,
    mr_type_from_tags,
    region_from_tags,
    resolve_prompts,
    validate_overrides,
)


def _probs(vocab, modality="mr", region="head", type_="t1", p=0.9):
    def hot(values, value):
        v = np.full(len(values), (1 - p) / (len(values) - 1))
        v[values.index(value)] = p
        return v

    return ClassifierOutput(hot(vocab.modality, modality), hot(vocab.region, region), hot(vocab.type, type_))


def _resolve(registry, metadata=None, overrides=None, probs=None, hu=True):
    rec = registry.get(None, "scorer")
    return resolve_prompts(
        rec.vocabulary,
        rec.preprocess,
        dim="3d",
        metadata=metadata or {},
        overrides=overrides or {},
        classify=(lambda: probs) if probs else None,
        values_in_hu=hu,
        warn_confidence=0.6,
    )


def test_encoding_is_four_one_hots_in_vocabulary_order(registry):
    vocab = registry.get(None, "scorer").vocabulary
    vec = encode_prompt(vocab, "3d", "ct", "chest", "lung_window")
    assert vec.shape == (vocab.prompt_length,) and vec.sum() == 4
    on = np.flatnonzero(vec)
    assert list(on) == [1, 2, 2 + 3 + 1, 2 + 3 + 6 + 0]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"body_part": "CHEST"}, "chest"),
        ({"body_part": "ABDOMEN"}, "abdomen"),
        ({"body_part": "HEAD"}, "head"),
        ({"series_description": "T1 MPRAGE brain"}, "head"),
        ({"body_part": "CHEST_ABDOMEN"}, None),  # two regions: ambiguous, so no evidence
        ({}, None),
    ],
)
def test_region_from_tags(tags, expected):
    hit = region_from_tags(tags)
    assert (hit[0] if hit else None) == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"series_description": "t2_tse_tra"}, "t2"),
        ({"series_description": "Ax T2 FLAIR"}, "flair"),
        ({"protocol_name": "anat-T1w_acq-tfl"}, "t1"),
        ({"series_description": "ep2d_diff_mddw"}, "other_mr"),
        ({"repetition_time": 9000, "echo_time": 90, "inversion_time": 2500}, "flair"),
        ({"repetition_time": 500, "echo_time": 12}, "t1"),
        ({"repetition_time": 3000, "echo_time": 15}, "pd"),
        ({"series_description": "localizer"}, None),
    ],
)
def test_mr_type_from_tags(tags, expected):
    hit = mr_type_from_tags(tags)
    assert (hit[0] if hit else None) == expected


def test_dicom_modality_mapping():
    assert modality_from_tags({"modality": "CT"}) == "ct"
    assert modality_from_tags({"modality": "OP"}) == "fundus"
    assert modality_from_tags({"modality": "US"}) is None


def test_overrides_are_checked_and_a_type_implies_its_modality(registry):
    vocab = registry.get(None, "scorer").vocabulary
    assert validate_overrides(vocab, {"type": "FLAIR", "region": None}) == {"type": "flair", "modality": "mr"}
    with pytest.raises(PromptError, match="not in the model's vocabulary"):
        validate_overrides(vocab, {"modality": "pet"})
    with pytest.raises(PromptError, match="does not belong to modality 'mr'"):
        validate_overrides(vocab, {"modality": "mr", "type": "lung_window"})


def test_precedence_override_then_tag_then_classifier(registry):
    vocab = registry.get(None, "scorer").vocabulary
    probs = _probs(vocab, "mr", "head", "t2")
    prompts, _ = _resolve(registry, {"modality": "MR", "series_description": "t1_mprage brain"}, {}, probs)
    assert (prompts.modality.value, prompts.modality.source) == ("mr", "dicom")
    assert (prompts.types[0].value, prompts.types[0].source) == ("t1", "dicom")
    assert (prompts.region.value, prompts.region.source) == ("head", "dicom")
    prompts, _ = _resolve(registry, {"modality": "MR"}, {"type": "flair"}, probs)
    assert (prompts.types[0].value, prompts.types[0].source) == ("flair", "override")
    prompts, _ = _resolve(registry, {}, {}, probs)
    assert prompts.types[0].source == "classifier" and prompts.types[0].confidence == pytest.approx(
        0.9 / (0.9 + 4 * 0.1 / 9), rel=1e-3
    )


def test_disagreement_between_tag_and_classifier_is_a_warning(registry):
    vocab = registry.get(None, "scorer").vocabulary
    prompts, warnings = _resolve(
        registry, {"modality": "CT", "body_part": "HEAD"}, {}, _probs(vocab, "mr", "head", "t1")
    )
    assert prompts.modality.value == "ct"
    assert any("dicom says 'ct' but the classifier says 'mr'" in w for w in warnings)


def test_chest_ct_is_scored_in_lung_and_soft_windows(registry):
    vocab = registry.get(None, "scorer").vocabulary
    prompts, _ = _resolve(
        registry, {"modality": "CT", "body_part": "CHEST"}, {}, _probs(vocab, "ct", "chest", "soft_window")
    )
    assert [t.value for t in prompts.types] == ["lung_window", "soft_window"]
    assert all(t.source == "region" for t in prompts.types)
    prompts, _ = _resolve(registry, {"modality": "CT", "body_part": "CHEST"}, {"type": "bone_window"}, None)
    assert [t.value for t in prompts.types] == ["bone_window"]


def test_head_ct_is_scored_in_brain_and_bone_windows(registry):
    vocab = registry.get(None, "scorer").vocabulary
    prompts, _ = _resolve(
        registry, {"modality": "CT", "body_part": "HEAD"}, {}, _probs(vocab, "ct", "head", "brain_window")
    )
    assert [t.value for t in prompts.types] == ["brain_window", "bone_window"]


def test_fundus_implies_eye_and_colour(registry):
    vocab = registry.get(None, "scorer").vocabulary
    prompts, _ = _resolve(registry, {}, {}, _probs(vocab, "fundus", "eye", "color"), hu=False)
    assert (prompts.region.value, prompts.region.source) == ("eye", "implied")
    assert prompts.types[0].value == "color"


def test_without_classifier_a_missing_prompt_is_an_error(registry):
    with pytest.raises(PromptError, match="no modality prompt"):
        _resolve(registry, {}, {}, None)
