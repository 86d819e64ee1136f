"""Sample stream and labelled-set writer: shapes, determinism, split hygiene, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from mediqa_sdk.train.data.cli import data_group
from mediqa_sdk.train.data.generator import iter_samples
from mediqa_sdk.train.data.splits import PHANTOM_SEEDS, load_splits
from mediqa_sdk.train.data.writeset import MANIFEST_FIELDS


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
