"""The isolated reader: a decoder that crashes, hangs or eats memory costs one input, never the batch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk import Assessor
from mediqa_sdk.cli import main
from mediqa_sdk.errors import MultipleSeriesError, ScanReadError
from mediqa_sdk.isolate import Isolation, KeptSlices

from .hostile_reader import hostile_reader
from .io_fixtures import write_dicom_series, write_nifti
from .synthetic import ct_volume

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the worker's crash tests need POSIX signals")
_FAST = {"model": "mediqa-scorer-placeholder", "classifier": "mediqa-classifier-placeholder"}


@pytest.fixture(scope="module")
def ct_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("isolate")
    vol = np.ascontiguousarray(ct_volume(n_slices=12, size=48).transpose(2, 1, 0))
    return write_nifti(folder / "good.nii.gz", vol)


def _copies(ct_file: Path, folder: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(ct_file.read_bytes())
        paths.append(path)
    return paths


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_crashes_and_memory_blowups_are_per_file_errors(ct_file: Path, tmp_path: Path) -> None:
    names = ["segfault.nii.gz", "ok1.nii.gz", "abort.nii.gz", "blowup.nii.gz", "ok2.nii.gz"]
    paths = _copies(ct_file, tmp_path, names)
    isolated = Assessor(**_FAST, device="cpu", isolate=Isolation(memory_bytes=2**30, reader=hostile_reader))
    try:
        outcomes = list(isolated.iter_score(paths))
        restarts = isolated._isolated.restarts if isolated._isolated else -1
    finally:
        isolated.close()
    by_name = {o.item.path.name: o for o in outcomes}
    assert "the decoder crashed while reading it (SIGSEGV)" in str(by_name["segfault.nii.gz"].error)
    assert "the decoder crashed while reading it (SIGABRT)" in str(by_name["abort.nii.gz"].error)
    assert str(by_name["segfault.nii.gz"].error).startswith("segfault.nii.gz: ")
    assert "memory ceiling of 1.0 GiB" in str(by_name["blowup.nii.gz"].error)
    assert restarts == 2  # after each crash; a MemoryError leaves the worker alive
    expected = Assessor(**_FAST, device="cpu").score(ct_file).score
    assert [by_name[n].result.score for n in ("ok1.nii.gz", "ok2.nii.gz")] == [expected, expected]


def test_a_hanging_decoder_is_stopped_after_the_timeout(ct_file: Path, tmp_path: Path) -> None:
    paths = _copies(ct_file, tmp_path, ["hang.nii.gz", "after.nii.gz"])
    isolated = Assessor(**_FAST, device="cpu", isolate=Isolation(timeout_s=2.0, reader=hostile_reader))
    try:
        hung, after = list(isolated.iter_score(paths))
    finally:
        isolated.close()
    assert isinstance(hung.error, ScanReadError)
    assert str(hung.error).startswith("hang.nii.gz: reading it took longer than 2 s and was stopped")
    assert after.result is not None


def test_isolated_results_equal_in_process_results(ct_file: Path, tmp_path: Path) -> None:
    for number in (1, 2):
        write_dicom_series(
            tmp_path / "two",
            (ct_volume(8, 32) + 1024).astype(np.int16),
            series_number=number,
            prefix=f"S{number}",
            seed=number,
        )
    isolated = Assessor(**_FAST, device="cpu", isolate=True)
    try:
        a = isolated.score(ct_file).to_dict()
        with pytest.raises(MultipleSeriesError) as info:  # errors cross the pipe with their attributes
            isolated.score(tmp_path / "two")
    finally:
        isolated.close()
    assert len(info.value.series) == 2
    b = Assessor(**_FAST, device="cpu").score(ct_file).to_dict()
    for result in (a, b):
        result["provenance"].pop("timings")
    assert a == b


def test_cli_isolate_flag_on_a_single_input(ct_file: Path) -> None:
    runs = [
        CliRunner().invoke(main, ["score", "--model", _FAST["model"], flag, "--format", "json", str(ct_file)])
        for flag in ("--isolate", "--no-isolate")
    ]
    assert [r.exit_code for r in runs] == [0, 0]
    assert runs[0].stdout.split('"timings"')[0] == runs[1].stdout.split('"timings"')[0]


def test_kept_slices_hold_only_the_chosen_slices() -> None:
    kept = KeptSlices((5, 2, 2), {3: np.ones((2, 2), np.float32)})
    assert kept.shape == (5, 2, 2) and kept[3].sum() == 4
    with pytest.raises(ScanReadError, match="not decoded"):
        kept[0]


def test_isolation_settings_from_the_environment() -> None:
    iso = Isolation.from_env({"MEDIQA_ISOLATE_MEMORY": "2GiB", "MEDIQA_ISOLATE_TIMEOUT": "30"})
    assert (iso.memory_bytes, iso.timeout_s) == (2 * 2**30, 30.0)
    with pytest.raises(ValueError, match="MEDIQA_ISOLATE_TIMEOUT"):
        Isolation.from_env({"MEDIQA_ISOLATE_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="at least 256 MiB"):
        Isolation(memory_bytes=1000)
