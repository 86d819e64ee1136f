"""Through-plane input: grey channels made of the slices before and after each salient slice."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk import Assessor
from mediqa_sdk.errors import RegistryError
from mediqa_sdk.preprocess import apply_window, neighbour_indices, prepare_gray
from mediqa_sdk.registry import load_registry, read_registry_json, registry_path

from .io_fixtures import write_nifti
from .synthetic import ct_volume

THROUGH = ("scored", "scored_prev", "scored_next")


def _pre(registry, channels=THROUGH):
    pre = registry.get(None, "scorer").preprocess
    return replace(pre, gray_channels=channels)


def test_neighbour_channels_hold_the_scored_window_of_the_slices_before_and_after(registry):
    pre = _pre(registry)
    assert pre.needs_neighbours and not registry.get(None, "scorer").preprocess.needs_neighbours
    vol = ct_volume(n_slices=9, size=96)
    chosen = vol[[2, 5]]
    near = np.stack([vol[[1, 6]], vol[[3, 4]]], axis=1)  # [S, 2, H, W]: before, after
    x = prepare_gray(chosen, pre, window="soft_window", neighbours=near)
    ref = prepare_gray(
        vol[[1, 2, 3, 4, 5, 6]], replace(pre, gray_channels=("scored",) * 3), window="soft_window"
    )
    np.testing.assert_array_equal(x[:, 0], ref[[1, 4], 0])  # the chosen slices
    np.testing.assert_array_equal(x[:, 1], ref[[0, 5], 0])  # before: 1 and 6
    np.testing.assert_array_equal(x[:, 2], ref[[2, 3], 0])  # after: 3 and 4
    assert not np.array_equal(x[:, 0], x[:, 1])


def test_a_2d_image_has_empty_neighbour_channels_and_mr_uses_the_chosen_slices_bounds(registry):
    pre = _pre(registry)
    vol = ct_volume(n_slices=5, size=64)
    alone = prepare_gray(vol[2:3], pre, window="soft_window")
    assert not alone[:, 1].any() and not alone[:, 2].any()  # the mean: 0 at the network input, not a copy
    thick = prepare_gray(
        vol[2:3], pre, window="soft_window", neighbours=np.stack([vol[2:3], vol[2:3]], axis=1)
    )
    np.testing.assert_array_equal(thick[:, 0], thick[:, 1])  # a neighbour equal to the slice is a copy
    np.testing.assert_array_equal(alone[:, 0], thick[:, 0])
    # percentile normalisation (window None): a brighter neighbour is not rescaled to look like the centre
    mr = np.full((1, 32, 32), 100.0, np.float32)
    mr[0, 8:24, 8:24] = 400.0
    near = np.stack([mr * 2.0, mr], axis=1)
    x = prepare_gray(mr, pre, window=None, neighbours=near)
    assert x[0, 1].mean() > x[0, 0].mean()
    np.testing.assert_array_equal(x[0, 0], x[0, 2])


def test_neighbour_indices_clamp_at_the_ends():
    assert neighbour_indices((0, 4, 9), 10) == ((0, 3, 8), (1, 5, 9))
    assert neighbour_indices((0,), 1) == ((0,), (0,))


def _registry_with(tmp_path: Path, channels) -> Path:
    raw = read_registry_json(registry_path())
    name = raw["defaults"]["scorer"]
    for rec in raw["models"]:
        if rec["name"] == name:
            rec["preprocess"]["gray_channels"] = list(channels)
    path = tmp_path / "models.json"  # no models/ beside it: the graphs come from the package
    path.write_text(json.dumps(raw))
    return path


def test_registry_accepts_the_neighbour_recipes_and_refuses_unknown_ones(tmp_path):
    reg = load_registry(_registry_with(tmp_path, THROUGH))
    assert reg.get(None, "scorer").preprocess.gray_channels == THROUGH
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(RegistryError, match="gray_channels"):
        load_registry(_registry_with(bad, ("scored", "scored_above", "scored")))


def test_runtime_feeds_the_scorer_the_volume_neighbours_of_each_salient_slice(tmp_path):
    vol = ct_volume(n_slices=30, size=64)
    vol += np.arange(30, dtype=np.float32)[:, None, None] * 3.0  # each slice its own level
    assessor = Assessor(registry=_registry_with(tmp_path, THROUGH), device="cpu")
    sel = assessor.score(vol, modality="ct", region="abdomen").slice_indices
    _, feeds = assessor.network_inputs(vol, modality="ct", region="abdomen")
    x = feeds[0][1]
    before, after = neighbour_indices(tuple(sel), 30)
    window = load_registry().get(None, "scorer").preprocess.ct_windows["soft_window"]
    level = {i: float(apply_window(vol[i], *window).mean()) for i in range(30)}
    for k, i in enumerate(sel):
        # each channel's mean is the window mean of the slice it came from (the slices are square: no padding)
        got = [float(x[k, c].mean()) * 0.5 + 0.5 for c in range(3)]
        assert got == pytest.approx([level[i], level[before[k]], level[after[k]]], abs=2e-3)
        assert got[1] < got[0] < got[2] or i in (0, 29)


def test_isolated_reader_decodes_the_neighbours_too(tmp_path):
    path = write_nifti(
        tmp_path / "vol.nii.gz", np.moveaxis(ct_volume(n_slices=20, size=64), 0, -1).astype(np.int16)
    )
    registry = _registry_with(tmp_path, THROUGH)
    here = Assessor(registry=registry, device="cpu").score(path)
    isolated = Assessor(registry=registry, device="cpu", isolate=True)
    try:
        apart = isolated.score(path)
    finally:
        isolated.close()
    assert apart.slice_indices == here.slice_indices
    assert apart.score == pytest.approx(here.score, abs=1e-6)


def test_score_slices_scores_the_given_slices_and_refuses_others(assessor):
    vol = ct_volume(n_slices=24, size=64)
    given = (5, 6, 7, 8, 9, 10, 11)  # contiguous: not what the salient rule spreads over the body
    result = assessor.score_slices(vol, given, modality="ct", region="abdomen")
    assert result.slice_indices == given
    _, feeds = assessor.network_inputs(vol, slices=given, modality="ct", region="abdomen")
    _, salient = assessor.network_inputs(vol, modality="ct", region="abdomen")
    assert assessor.score(vol, modality="ct", region="abdomen").slice_indices != given
    assert not np.array_equal(feeds[0][1], salient[0][1])
    with pytest.raises(ValueError, match=r"0\.\.23"):
        assessor.score_slices(vol, (3, 24), modality="ct")
    with pytest.raises(ValueError):
        assessor.score_slices(vol, (), modality="ct")
