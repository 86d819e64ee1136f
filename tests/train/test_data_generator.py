"""Sample stream and labelled-set writer: shapes, determinism, split hygiene, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from mediqa_sdk.train.data.cli import data_group
from mediqa_sdk.train.data.generator import REGION_WINDOWS, iter_samples
from mediqa_sdk.train.data.splits import PHANTOM_SEEDS, load_splits
from mediqa_sdk.train.data.writeset import MANIFEST_FIELDS

from mediqa_sdk.registry import load_registry


def _check_split(sample, split: str) -> None:
    if sample.source_id.startswith("phantom:"):
        lo, hi = PHANTOM_SEEDS[split]
        assert lo <= int(sample.source_id.rsplit(":", 1)[1]) < hi
    else:
        assert load_splits()[sample.source_id] == split


def test_2d_stream_is_deterministic_and_labelled() -> None:
    a = list(iter_samples("val", "2d", seed=4, n=12, samples_per_source=4))
    b = list(iter_samples("val", "2d", seed=4, n=12, samples_per_source=4))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        assert (x.source_id, x.degradation, x.pseudo_mos) == (y.source_id, y.degradation, y.pseudo_mos)
    for s in a:
        assert s.image.shape in ((256, 256), (256, 256, 3)) and s.image.dtype == np.float32
        assert 0.0 <= s.pseudo_mos <= 1.0 and s.split == "val"
        assert s.physics_valid["ct_dose"] == (s.modality == "ct")
        _check_split(s, "val")


def test_3d_stream_has_seven_slices() -> None:
    for s in iter_samples("test", "3d", seed=1, n=4, samples_per_source=2, modalities=["mr"]):
        assert s.image.shape == (7, 256, 256) and s.clean.shape == s.image.shape
        assert len(s.slice_indices) == 7 and s.dim == "3d"
        _check_split(s, "test")


def test_write_set_and_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(data_group, ["write-set", str(tmp_path), "--n", "6", "--seed", "2"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and tuple(rows[0]) == MANIFEST_FIELDS
    assert all((tmp_path / r["path"]).exists() and r["split"] == "test" for r in rows)
    listing = CliRunner().invoke(data_group, ["catalogue"])
    assert listing.exit_code == 0 and "phantom:ct_chest" in listing.output


def test_3d_samples_carry_their_degraded_neighbours() -> None:
    from mediqa_sdk.export.heldout import sample_volume
    from mediqa_sdk.train.data.degrade.ct import ct_slice_thickness
    from mediqa_sdk.train.data.generator import make_phantom, make_sample

    src = make_phantom("ct_abdomen", 900_001, 24)
    rng = np.random.default_rng(0)
    clean = make_sample(src, "3d", None, rng, type_="soft_window", neighbours=True)
    idx = np.asarray(clean.slice_indices)
    assert clean.neighbours is not None and clean.neighbours.shape == (7, 2, *clean.image.shape[1:])
    np.testing.assert_array_equal(clean.neighbours[:, 0], src.volume[np.maximum(idx - 1, 0)])
    np.testing.assert_array_equal(clean.neighbours[:, 1], src.volume[np.minimum(idx + 1, 23)])
    # a through-plane fault: the neighbours are the thick volume's, not the thin source's
    thick = make_sample(
        src,
        "3d",
        "ct_slice_thickness",
        rng,
        param=9.0,
        type_="soft_window",
        indices=tuple(idx),
        neighbours=True,
    )
    ctx = src.context()
    ref = ct_slice_thickness(
        src.volume, 9.0, spacing_mm=ctx.spacing_z_mm, source_thickness_mm=ctx.thickness_mm
    )
    np.testing.assert_allclose(thick.image, ref[idx], atol=1e-4)
    assert np.abs(thick.image - clean.image).max() > 1.0
    np.testing.assert_allclose(thick.neighbours[:, 0], ref[np.maximum(idx - 1, 0)], atol=1e-4)
    # a per-slice fault reaches the neighbours with their own noise; labels come from the chosen slices
    dose = make_sample(
        src, "3d", "ct_dose", rng, param=20.0, type_="soft_window", indices=tuple(idx), neighbours=True
    )
    assert dose.pseudo_mos < 1.0
    noise = dose.neighbours - np.stack([clean.neighbours[:, 0], clean.neighbours[:, 1]], axis=1)
    assert noise.std() > 5.0 and not np.allclose(noise[:, 0], noise[:, 1])
    # what the runtime is given: the chosen slice is the middle of each run of three
    stack = sample_volume(dose)
    assert stack.shape == (21, *dose.image.shape[1:])
    np.testing.assert_array_equal(stack[1::3], dose.image)
    np.testing.assert_array_equal(stack[0::3], dose.neighbours[:, 0])
    # 2D samples and samples made without neighbours have none
    assert make_sample(src, "2d", None, rng, neighbours=True).neighbours is None
    assert make_sample(src, "3d", None, rng).neighbours is None


def test_the_runtime_scores_each_ct_region_in_the_windows_the_engine_trains_it_in() -> None:
    """A head CT scored in the brain window alone (v2.5.0) while trained in brain and bone made the grain of a
    routine scan hide motion from the scorer: the two lists must name the same windows."""
    runtime = load_registry().get(None, "scorer").preprocess.ct_region_windows
    for region, windows in REGION_WINDOWS.items():
        assert set(runtime[region]) == set(windows), region
        assert runtime[region][0] == windows[0], region  # the first names the grade bands
