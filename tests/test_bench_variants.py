"""bench/variants.py: reduced-precision copies of a scorer are registered and score like the reference."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import variants  # noqa: E402

from mediqa_sdk import Assessor  # noqa: E402
from mediqa_sdk.registry import load_registry  # noqa: E402

from .synthetic import ct_volume  # noqa: E402


def test_an_fp16_variant_is_registered_beside_its_scorer_and_scores_like_it(tmp_path) -> None:
    registry = variants.copy_registry(tmp_path)
    names = variants.register_variants(registry, "mediqa-scorer-cnn", ("fp16",))
    assert names == {"fp16": "mediqa-scorer-cnn-fp16"}
    reg = load_registry(registry)  # validates
    ref, var = reg.models["mediqa-scorer-cnn"], reg.models["mediqa-scorer-cnn-fp16"]
    assert var.sha256 == hashlib.sha256(var.path.read_bytes()).hexdigest() != ref.sha256
    assert var.size < 0.6 * ref.size  # float16 weights
    assert (var.preprocess, var.vocabulary, var.grades) == (ref.preprocess, ref.vocabulary, ref.grades)
    volume = ct_volume(n_slices=16, size=96).astype(np.float32)
    scores = [
        Assessor(name, registry=registry, device="cpu").score(volume, modality="ct", region="abdomen").score
        for name in (ref.name, var.name)
    ]
    assert abs(scores[0] - scores[1]) < 0.01
    assert load_registry().get(None, "scorer").name == "mediqa-scorer-cnn"  # the SDK's registry untouched
