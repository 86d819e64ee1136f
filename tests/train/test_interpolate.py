"""Weight-space interpolation (WiSE-FT) of a fine-tune with its start model, in Python and as a command."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from mediqa_sdk.train.model import build_model, load_checkpoint, save_checkpoint, scorer_config
from mediqa_sdk.train.model.input_channels import first_input_conv, remap_input_channels
from mediqa_sdk.train.model.interpolate import interpolate_models

from mediqa_sdk.cli import main

SCORED = ("scored", "scored", "scored")
NEIGHBOURS = ("scored", "scored_prev", "scored_next")


def _tiny(seed: int, channels: tuple[str, ...] = ()) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(scorer_config("tiny", gray_channels=channels)).eval()


def _score(model: torch.nn.Module) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 3, 224, 224, generator=gen)
    with torch.no_grad():
        return model(x, torch.zeros(2, model.cfg.prompt_dim)).score


def test_the_ends_are_the_two_models_and_the_middle_is_their_mean() -> None:
    start, tuned = _tiny(0), _tiny(1)
    before = first_input_conv(tuned).weight.detach().clone()
    torch.testing.assert_close(_score(interpolate_models(start, tuned, 0.0)), _score(start))
    torch.testing.assert_close(_score(interpolate_models(start, tuned, 1.0)), _score(tuned))
    mid = interpolate_models(start, tuned, 0.5)
    w = {m: first_input_conv(m).weight for m in (start, tuned, mid)}
    torch.testing.assert_close(w[mid], (w[start] + w[tuned]) / 2)
    assert not torch.allclose(_score(mid), _score(start)) and not torch.allclose(_score(mid), _score(tuned))
    torch.testing.assert_close(first_input_conv(tuned).weight, before, atol=0, rtol=0)  # inputs untouched


def run_interpolate(init: Path, finetuned: Path, alpha: float, out: Path) -> Result:
    """``mediqa train interpolate`` as a user runs it."""
    args = ["--init", str(init), "--finetuned", str(finetuned), "--alpha", str(alpha), "--out", str(out)]
    return CliRunner().invoke(main, ["train", "interpolate", *args])


def test_models_of_another_structure_or_alpha_outside_0_1_are_refused() -> None:
    start = _tiny(0)
    other = build_model(replace(scorer_config("tiny"), head_hidden=8)).eval()
    with pytest.raises(ValueError, match="differ at"):
        interpolate_models(start, other, 0.5)
    with pytest.raises(ValueError, match=r"alpha 1.5: must lie in \[0, 1\]"):
        interpolate_models(start, _tiny(1), 1.5)


def test_the_command_folds_the_start_onto_the_fine_tunes_channels_and_records_both(tmp_path) -> None:
    start, tuned = _tiny(0, SCORED), _tiny(1, NEIGHBOURS)
    save_checkpoint(start, tmp_path / "start.pt")
    save_checkpoint(tuned, tmp_path / "tuned.pt", provenance={"stage": "finetune", "settings": {"seed": 4}})
    out = tmp_path / "wise" / "best.pt"
    res = run_interpolate(tmp_path / "start.pt", tmp_path / "tuned.pt", 0.25, out)
    assert res.exit_code == 0, res.output
    mixed, prov = load_checkpoint(out)
    assert tuple(mixed.cfg.gray_channels) == NEIGHBOURS
    folded = first_input_conv(start).weight.detach().clone()
    remap_input_channels(start, SCORED, NEIGHBOURS)
    expected = 0.75 * first_input_conv(start).weight + 0.25 * first_input_conv(tuned).weight
    torch.testing.assert_close(first_input_conv(mixed).weight, expected)
    assert expected[:, 0].allclose(0.75 * folded.sum(1) + 0.25 * first_input_conv(tuned).weight[:, 0])
    assert prov["stage"] == "interpolate" and prov["alpha"] == 0.25
    assert prov["start"]["sha256"] == hashlib.sha256((tmp_path / "start.pt").read_bytes()).hexdigest()
    assert prov["finetuned"]["provenance"]["settings"] == {"seed": 4} == prov["settings"]


def test_the_command_refuses_a_missing_or_unrelated_fine_tune_in_one_line(tmp_path) -> None:
    save_checkpoint(_tiny(0), tmp_path / "start.pt")
    save_checkpoint(build_model(replace(scorer_config("tiny"), head_hidden=8)), tmp_path / "other.pt")
    runner = CliRunner()
    base = ["train", "interpolate", "--init", str(tmp_path / "start.pt"), "--out", str(tmp_path / "o.pt")]
    res = runner.invoke(main, [*base, "--finetuned", str(tmp_path / "missing.pt")])
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [
        f"error: --finetuned {tmp_path / 'missing.pt'}: checkpoint not found"
    ]
    res = runner.invoke(main, [*base, "--finetuned", str(tmp_path / "other.pt")])
    assert res.exit_code != 0
    other, start = tmp_path / "other.pt", tmp_path / "start.pt"
    assert res.output.strip().splitlines() == [
        f"error: {other}: not a fine-tune of {start} (other model configuration)"
    ]
    res = runner.invoke(
        main, [*base[:3], "no-such-scorer", *base[4:], "--finetuned", str(tmp_path / "start.pt")]
    )
    assert res.exit_code != 0
    assert "neither a checkpoint file nor a scorer in the registry" in res.output
    assert not (tmp_path / "o.pt").exists()
