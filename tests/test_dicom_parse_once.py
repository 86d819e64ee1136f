"""A DICOM series is parsed once: the headers discovery parsed reach the loader, unless a file changed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom.filereader
import pytest

from mediqa_sdk.io import _header_cache, discover_inputs, load_input

from .io_fixtures import write_dicom_series, write_enhanced_dicom


@pytest.fixture(autouse=True)
def _empty_store() -> None:
    _header_cache.clear()


def _volume(n: int = 5) -> np.ndarray:
    return np.stack([np.full((8, 8), 10 * (k + 1), np.int16) for k in range(n)])


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = pydicom.filereader.read_partial

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom.filereader, "read_partial", counting)
    return calls


def test_each_header_of_a_series_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dicom_series(tmp_path / "s", _volume(5), intercept=-1000.0)
    calls = _count_parses(monkeypatch)
    items, failures = discover_inputs([tmp_path / "s"])
    scan = load_input(items[0])
    assert not failures and len(calls) == 5
    assert [float(scan.slices[k][0, 0]) for k in range(5)] == [10.0 * (k + 1) - 1000.0 for k in range(5)]

    _header_cache.clear()  # the same series parsed by the loader itself: the same scan
    again = load_input(items[0])
    assert len(calls) == 10
    assert np.array_equal(again.slices[:], scan.slices[:]) and again.spacing == scan.spacing
    assert dict(again.metadata) == dict(scan.metadata) and again.sha256 == scan.sha256


def test_a_file_changed_after_discovery_is_read_again(tmp_path: Path) -> None:
    paths = write_dicom_series(tmp_path / "s", _volume(4), intercept=-1000.0, shuffle_names=False)
    items, _ = discover_inputs([tmp_path / "s"])
    write_dicom_series(tmp_path / "s", _volume(4), intercept=0.0, shuffle_names=False)
    later = paths[0].stat().st_mtime_ns + 10**9  # a new modification time, however coarse the clock
    for p in paths:
        os.utime(p, ns=(later, later))
    scan = load_input(items[0])
    assert [float(scan.slices[k][0, 0]) for k in range(4)] == [10.0, 20.0, 30.0, 40.0]


def test_headers_are_given_out_once_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_header_cache, "MAX_HEADERS", 3)
    paths = write_dicom_series(tmp_path / "s", _volume(5), shuffle_names=False)
    discover_inputs([tmp_path / "s"])
    kept = [_header_cache.take(p) is not None for p in paths]
    assert kept == [False, False, True, True, True]  # the oldest were dropped
    assert all(_header_cache.take(p) is None for p in paths)  # taken once


def test_enhanced_headers_are_not_kept(tmp_path: Path) -> None:
    frames = np.arange(3 * 8 * 8, dtype=np.int16).reshape(3, 8, 8)
    (tmp_path / "e").mkdir()
    path = write_enhanced_dicom(tmp_path / "e" / "enh.dcm", frames, [(0, 0, z) for z in (0.0, 2.0, 4.0)])
    items, failures = discover_inputs([tmp_path / "e"])
    assert not failures and _header_cache.take(path) is None  # discovery stopped before the functional groups
    scan = load_input(items[0])
    assert scan.slices.shape == (3, 8, 8) and float(scan.slices[2][0, 0]) == float(frames[2, 0, 0])
