"""Training precision: explicit choices are kept, ``auto`` decides from a measured step-time ratio."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from mediqa_sdk.train import precision
from mediqa_sdk.train.precision import PrecisionChoice, choose_precision


def test_explicit_choices_are_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "bf16_step_ratio", lambda: pytest.fail("measured"))
    assert choose_precision("fp32") == PrecisionChoice(bf16=False, ratio=None)
    assert choose_precision("bf16") == PrecisionChoice(bf16=True, ratio=None)


@pytest.mark.parametrize(("ratio", "bf16"), [(0.5, True), (0.89, True), (0.95, False), (10.3, False)])
def test_auto_takes_bf16_only_when_clearly_faster(
    monkeypatch: pytest.MonkeyPatch, ratio: float, bf16: bool
) -> None:
    monkeypatch.setattr(precision, "bf16_step_ratio", lambda: ratio)
    choice = choose_precision("auto")
    assert choice == PrecisionChoice(bf16=bf16, ratio=ratio)
    assert f"{ratio:.2f}x" in choice.describe()


def test_measured_ratio_is_a_positive_time_ratio() -> None:
    assert 0.0 < precision.bf16_step_ratio() < 1000.0


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        choose_precision("fp16")
