"""Fast paths of the runtime give exactly what the plain paths give (bench/perf.py measures their speed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.io import load_scan
from mediqa_sdk.io._stack import ArrayStack, LazyStack
from mediqa_sdk.registry import SalientSpec
from mediqa_sdk.slices import _percentile_below, foreground_fractions

from .io_fixtures import write_dicom_series


def _volume(dtype: type, lo: int, hi: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # odd sizes test the subsampling edges; 50x47 int16 (4.7 kB) is read lazily from the file by pydicom,
    # uint8 (2.3 kB) is kept in the header: both ways to the pixel bytes are covered
    return rng.integers(lo, hi, size=(4, 50, 47)).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "lo", "hi", "options"),
    [
        (np.int16, -1024, 3000, {}),
        (np.uint16, 0, 4095, {"bits_stored": 12}),
        (np.uint16, 0, 65535, {"bits_stored": 12}),  # junk in the unused high bits: masked like pydicom does
        (np.int16, -2048, 2047, {"bits_stored": 12}),  # signed 12-bit: sign-extended
        (np.uint16, 0, 4095, {"photometric": "MONOCHROME1", "bits_stored": 12}),
        (np.uint8, 0, 255, {"slope": 2.5, "intercept": -10.0}),
        (np.int16, -1024, 3000, {"gz": True}),
    ],
)
@pytest.mark.parametrize("step", [1, 4])
def test_dicom_preview_equals_the_full_decode(
    tmp_path: Path, dtype: type, lo: int, hi: int, options: dict, step: int
) -> None:
    write_dicom_series(tmp_path / "s", _volume(dtype, lo, hi), **options)
    fast = load_scan(tmp_path / "s").slices
    plain = load_scan(tmp_path / "s").slices
    assert isinstance(fast, LazyStack)
    preview = fast.preview(step)
    assert preview.dtype == np.float32
    np.testing.assert_array_equal(preview, np.asarray(plain[:, ::step, ::step]))


@pytest.mark.parametrize("dtype", [np.int16, np.uint8])
def test_dicom_preview_reads_pixel_bytes_without_the_full_decoder(tmp_path: Path, dtype: type) -> None:
    write_dicom_series(tmp_path / "s", _volume(dtype, 0, 200))
    stack = load_scan(tmp_path / "s").slices
    calls: list[int] = []
    full = stack._load
    stack._load = lambda i: calls.append(i) or full(i)  # type: ignore[method-assign]
    stack.preview(4)
    assert calls == []  # native little-endian slices: no pydicom decode at all


def test_compressed_dicom_preview_falls_back_to_decoding(tmp_path: Path) -> None:
    from pydicom.uid import RLELossless

    write_dicom_series(tmp_path / "s", _volume(np.int16, -1024, 3000), compress=RLELossless)
    fast, plain = load_scan(tmp_path / "s").slices, load_scan(tmp_path / "s").slices
    np.testing.assert_array_equal(fast.preview(4), np.asarray(plain[:, ::4, ::4]))


def test_array_stack_preview_is_subsampled_indexing() -> None:
    data = np.arange(2 * 9 * 7, dtype=np.int16).reshape(2, 9, 7)
    stack = ArrayStack(data, slope=0.5, intercept=-3.0)
    np.testing.assert_array_equal(stack.preview(3), stack[:, ::3, ::3])


def test_percentile_test_agrees_with_numpy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(3000):
        n = int(rng.integers(1, 40))
        values = (rng.integers(-5, 5, n) * 100).astype(np.float32)
        threshold = float(rng.integers(-6, 6) * 100 + rng.choice([0, 50]))
        q = float(rng.choice([0.0, 1.0, 50.0, 99.0, 100.0]))
        assert _percentile_below(values, q, threshold) == bool(np.percentile(values, q) < threshold)


def test_ct_foreground_fractions_do_not_depend_on_percentiles() -> None:
    spec = SalientSpec()
    vol = np.full((3, 8, 8), -1000.0, dtype=np.float32)
    vol[1, :4] = 40.0
    vol[2, 0, 0] = np.nan
    expected = np.array([0.0, 0.5, 0.0])
    np.testing.assert_array_equal(foreground_fractions(vol, spec, is_ct=True), expected)
    np.testing.assert_array_equal(foreground_fractions(vol, spec, is_ct=None), expected)
