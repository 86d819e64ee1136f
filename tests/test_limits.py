"""Read limits: sizes, the environment, the CLI option, and the checks made from headers before decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk import Assessor, InputTooLargeError
from mediqa_sdk.cli import main
from mediqa_sdk.io import ReadLimits, load_scan
from mediqa_sdk.io._limits import parse_size

from .io_fixtures import write_nifti


@pytest.mark.parametrize(
    ("text", "value"),
    [("600M", 600_000_000), ("2GiB", 2 * 2**30), ("1.5k", 1500), ("1000", 1000), ("1e6", 1_000_000)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-5", "0", "nan"])
def test_parse_size_refuses_non_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_limits_from_the_environment() -> None:
    limits = ReadLimits.from_env({"MEDIQA_MAX_VOXELS": "1M", "MEDIQA_MAX_FILE_BYTES": "1GiB"})
    assert limits == ReadLimits(max_voxels=1_000_000, max_file_bytes=2**30)
    with pytest.raises(ValueError, match="MEDIQA_MAX_PIXELS_2D"):
        ReadLimits.from_env({"MEDIQA_MAX_PIXELS_2D": "big"})
    with pytest.raises(ValueError, match="positive integer"):
        ReadLimits(max_voxels=0)


def test_assessor_reads_the_environment_and_refuses_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_nifti(tmp_path / "v.nii", np.zeros((20, 20, 20), np.int16))
    monkeypatch.setenv("MEDIQA_MAX_VOXELS", "5000")
    assessor = Assessor("mediqa-scorer-placeholder", classifier="mediqa-classifier-placeholder", device="cpu")
    assert assessor.limits.max_voxels == 5000
    with pytest.raises(
        InputTooLargeError, match=r"^v\.nii: header claims a 20x20x20 volume .*MEDIQA_MAX_VOXELS"
    ):
        assessor.score(path)
    assert load_scan(path).n_slices == 20  # the library default is unchanged


def test_cli_max_voxels(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", np.zeros((20, 20, 20), np.int16))
    res = CliRunner().invoke(main, ["score", "--max-voxels", "1k", str(path)])
    assert res.exit_code == 1 and "above the limit of 1.0k voxels" in res.stderr
    res = CliRunner().invoke(main, ["score", "--max-voxels", "many", str(path)])
    assert res.exit_code == 2 and "--max-voxels" in res.stderr
