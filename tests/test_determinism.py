"""Scores are bitwise identical across repeated runs on the CPU and independent of batch composition: the raw
graph outputs of a scan do not depend on what it was batched with, in which order, or in which Assessor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk import Assessor

from .io_fixtures import write_dicom_series, write_nifti, write_png8
from .synthetic import ct_volume, fundus_photo, mr_slice


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("determinism")
    return [
        write_nifti(folder / "ct.nii.gz", np.ascontiguousarray(ct_volume(14, 64, seed=1).transpose(2, 1, 0))),
        write_png8(folder / "mr.png", np.clip(mr_slice(96) / 3, 0, 255)),
        write_png8(folder / "fundus.png", fundus_photo(96)),
        write_dicom_series(
            folder / "series", (ct_volume(10, 64, noise_hu=30, seed=3) + 1024).astype(np.int16)
        )[0].parent,
    ]


def _raw_and_reported(assessor: Assessor, paths: list[Path], batch_size: int) -> dict[str, tuple]:  # type: ignore[type-arg]
    """Per input: the raw graph outputs of every scored window, and the reported result without timings."""
    raw: dict[str, list[dict[str, np.ndarray]]] = {}
    real_result = assessor._result

    def keep(p, outs):  # type: ignore[no-untyped-def]
        raw[str(p.scan.source)] = [{k: np.array(v) for k, v in o.items()} for _, o in outs]
        return real_result(p, outs)

    assessor._result = keep  # type: ignore[method-assign]
    try:
        results = assessor.score_many(paths, batch_size=batch_size)
    finally:
        del assessor._result
    out = {}
    for r in results:
        reported = r.to_dict()
        reported["provenance"].pop("timings")
        out[str(r.provenance.input_path)] = (raw[str(r.provenance.input_path)], reported)
    return out


def _assert_identical(a: dict[str, tuple], b: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    assert a.keys() == b.keys()
    for key in a:
        (raw_a, rep_a), (raw_b, rep_b) = a[key], b[key]
        assert rep_a == rep_b, key
        for wa, wb in zip(raw_a, raw_b, strict=True):
            for name in wa:  # bitwise, not approximately
                assert wa[name].tobytes() == wb[name].tobytes(), (key, name)


def test_scores_are_bitwise_identical_across_batches_orders_runs_and_threads(inputs: list[Path]) -> None:
    assessor = Assessor(device="cpu")
    alone = _raw_and_reported(assessor, inputs, batch_size=1)
    _assert_identical(alone, _raw_and_reported(assessor, inputs[::-1], batch_size=8))  # one batch, reversed
    other = Assessor(device="cpu", threads=1)  # a second run: new sessions, one intra-op thread
    _assert_identical(alone, _raw_and_reported(other, inputs, batch_size=3))  # batches of 3 and 1
