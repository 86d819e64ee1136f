"""One Assessor shared by several threads gives every thread what it gives serially (the documented
guarantee: inference sessions are thread-safe, every call works on its own arrays, shared state is locked)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk import Assessor

from .io_fixtures import write_dicom_series, write_nifti, write_png8
from .synthetic import ct_volume, fundus_photo, mr_slice


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("concurrency")
    series = write_dicom_series(folder / "series", (ct_volume(10, 48, seed=3) + 1024).astype(np.int16))
    return [
        write_nifti(folder / "ct.nii.gz", np.ascontiguousarray(ct_volume(12, 48, seed=1).transpose(2, 1, 0))),
        write_png8(folder / "mr.png", np.clip(mr_slice(80) / 3, 0, 255)),
        write_png8(folder / "fundus.png", fundus_photo(80)),
        series[0].parent,  # a DICOM series: decoded lazily, slice by slice
    ]


def _reported(result) -> dict:  # type: ignore[no-untyped-def,type-arg]
    out = result.to_dict()
    out["provenance"].pop("timings")
    return out


def _hammer(assessor: Assessor, inputs: list[Path], rounds: int) -> None:
    serial = {str(p): _reported(assessor.score(p)) for p in inputs}

    def one(k: int) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
        if k % 3 == 2:  # batches from some threads, single scans from the others
            order = inputs[k % len(inputs) :] + inputs[: k % len(inputs)]
            return [(str(r.provenance.input_path), _reported(r)) for r in assessor.score_many(order)]
        path = inputs[k % len(inputs)]
        return [(str(path), _reported(assessor.score(path)))]

    with ThreadPoolExecutor(6) as pool:
        done = [pair for pairs in pool.map(one, range(rounds * len(inputs))) for pair in pairs]
    assert len(done) > rounds * len(inputs)
    for path, reported in done:
        assert reported == serial[path], path


def test_one_assessor_hammered_from_threads_matches_serial(inputs: list[Path]) -> None:
    _hammer(Assessor(device="cpu"), inputs, rounds=2)


def test_an_isolated_assessor_is_thread_safe_too(inputs: list[Path]) -> None:
    assessor = Assessor(
        "mediqa-scorer-placeholder", classifier="mediqa-classifier-placeholder", device="cpu", isolate=True
    )
    try:
        _hammer(assessor, inputs, rounds=3)
    finally:
        assessor.close()
