"""Regenerate the golden outputs of the shipped graphs: ``python tests/goldens/make_goldens.py``.

Inputs are made from fixed seeds (see :func:`golden_inputs`), so only the outputs are stored. Run this after a
deliberate model change, never to make a failing test pass without understanding why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mediqa_sdk.engine import Session
from mediqa_sdk.registry import load_registry

GOLDEN = Path(__file__).with_name("graph_outputs.npz")


def golden_inputs(prompt_length: int) -> dict[str, np.ndarray]:
    """Smooth random images plus noise (like preprocessed slices), and valid one-hot prompts."""
    rng = np.random.default_rng(20261128)
    base = rng.normal(0, 1, (2, 7, 3, 28, 28)).astype(np.float32)
    smooth = np.repeat(np.repeat(base, 8, axis=3), 8, axis=4) * 0.3
    slices = np.clip(smooth + rng.normal(0, 0.05, smooth.shape), -1, 1).astype(np.float32)
    slices[1, :, :, :, :40] = -1.0  # a dark band, so slice weights differ
    prompt = np.zeros((2, prompt_length), np.float32)
    prompt[0, [1, 2, 6, 12]] = 1.0
    prompt[1, [1, 3, 5, 15]] = 1.0
    return {"slices": slices, "prompt": prompt, "image": slices[0]}


def compute() -> dict[str, np.ndarray]:
    registry = load_registry()
    scorer, classifier = registry.get(None, "scorer"), registry.get(None, "classifier")
    inputs = golden_inputs(scorer.vocabulary.prompt_length)
    out = {
        f"scorer.{k}": v
        for k, v in Session(scorer, "cpu")
        .run({"slices": inputs["slices"], "prompt": inputs["prompt"]})
        .items()
    }
    out |= {
        f"classifier.{k}": v for k, v in Session(classifier, "cpu").run({"image": inputs["image"]}).items()
    }
    out["scorer.sha256"] = np.array(scorer.sha256)
    out["classifier.sha256"] = np.array(classifier.sha256)
    return out


if __name__ == "__main__":
    np.savez(GOLDEN, **compute())
    print(f"wrote {GOLDEN}")
