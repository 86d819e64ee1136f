"""Training is reproducible: the same recipe and seed give the same weights, bit for bit (CPU)."""

from __future__ import annotations

from pathlib import Path

import torch
from click.testing import CliRunner

from mediqa_sdk.cli import main


def _finetune(out: Path, seed: int) -> dict[str, torch.Tensor]:
    """A few steps of the shipped recipe's engine options on the tiny preset, through the CLI."""
    args = [
        "train", "finetune", "--out", str(out), "--config", "tiny", "--seed", str(seed),
        "--augment", "--ct-resolution", "--ct-noise-floor", "0.75", "--ct-noise-floor-hu", "1,4",
        "--paired", "0.75", "--series", "0.3", "--physics-weight", "0.5", "--lr", "1e-3",
        "--batch-size", "4", "--p3d", "0.3", "--val-2d", "4", "--val-3d", "0",
        "--max-steps", "4", "--eval-every", "4", "--threads", "1", "--precision", "fp32",
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return torch.load(out / "last.pt", weights_only=True)["model"]


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(real_data, tmp_path):
    first = _finetune(tmp_path / "runs" / "a", seed=3)
    again = _finetune(tmp_path / "runs" / "b", seed=3)
    other = _finetune(tmp_path / "runs" / "c", seed=4)
    assert first.keys() == again.keys() == other.keys()
    for key, value in first.items():
        torch.testing.assert_close(again[key], value, atol=0, rtol=0, msg=f"{key} differs between runs")
    assert any(not torch.equal(other[k], v) for k, v in first.items() if v.is_floating_point())
