"""A user's manifest is read with the preprocessing of the model being trained, not the default scorer's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from mediqa_sdk.train.manifests import ManifestEntry
from mediqa_sdk.train.streams import ManifestBatches

from mediqa_sdk.registry import load_registry

from ..conftest import REPO


def _first_input(record=None) -> np.ndarray:
    entry = ManifestEntry(Path(REPO / "examples" / "data" / "head_ct.nii.gz"), 0.8, 4.0, "ct", "head")
    batch = next(iter(ManifestBatches([entry], 1, 0, loop=False, record=record)))
    return batch["slices"][0].numpy()  # [S, 3, H, W]


def test_a_model_on_neighbour_channels_is_fed_the_neighbouring_slices() -> None:
    default = load_registry().get(None, "scorer")
    channels = ("scored", "scored_prev", "scored_next")
    x_default = _first_input()
    x_neighbours = _first_input(
        replace(default, preprocess=replace(default.preprocess, gray_channels=channels))
    )
    # the record the run trains decides: the default feeds its own recipes, the other record neighbours
    own = default.preprocess.gray_channels
    assert np.array_equal(x_default[:, 0], x_default[:, 1]) == (own[0] == own[1])
    assert not np.array_equal(x_neighbours[:, 0], x_neighbours[:, 1])
    assert not np.array_equal(x_neighbours[:, 1], x_neighbours[:, 2])
    np.testing.assert_array_equal(x_neighbours[:, 0], x_default[:, own.index("scored")])  # same slices
