"""--phantom-weights: drawing some phantom kinds more often, and the default draws left as they were."""

from __future__ import annotations

from collections import Counter

import pytest
from mediqa_sdk.train.data.generator import check_phantom_weights, iter_samples


def _kinds(n: int, modality: str = "ct", **kw) -> list[str]:
    """Phantom kinds of the first ``n`` samples of a seeded phantom-only stream (2 samples per block)."""
    stream = iter_samples(
        "val", "2d", seed=3, n=n, modalities=[modality], real_fraction=0.0, samples_per_source=2, **kw
    )
    return [s.source_id.split(":")[1] for s in stream]


def test_a_weighted_kind_is_drawn_in_proportion() -> None:
    uniform = Counter(_kinds(120))
    weighted = Counter(_kinds(120, phantom_weights={"ct_head": 8.0}))
    assert set(uniform) == set(weighted) == {"ct_head", "ct_chest", "ct_abdomen"}
    assert uniform["ct_head"] / 120 < 0.5  # one in three
    assert weighted["ct_head"] / 120 > 0.65  # eight in ten
    mr = Counter(_kinds(120, "mr", phantom_weights={"ct_head": 8.0}))  # other modalities: uniform shares
    assert set(mr) == {"mr_brain", "mr_breast"} and 0.3 < mr["mr_brain"] / 120 < 0.7


def test_without_weights_the_stream_draws_what_it_always_drew() -> None:
    # the first 12 blocks of this stream, as drawn before the option existed (the recipes of shipped models)
    head, chest, abdomen = "ct_head", "ct_chest", "ct_abdomen"
    expected = [head, abdomen, head, chest, abdomen, abdomen, chest, abdomen, head, chest, head, head]
    assert _kinds(24)[::2] == expected
    assert _kinds(24, phantom_weights={}) == _kinds(24)


@pytest.mark.parametrize(
    ("weights", "problem"),
    [({"ct_hed": 2.0}, "unknown phantom kind 'ct_hed'"), ({"ct_head": 0.0}, "must be > 0")],
)
def test_bad_weights_are_refused(weights: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_phantom_weights(weights)
    with pytest.raises(ValueError, match=problem):
        next(iter_samples("val", "2d", seed=0, phantom_weights=weights))
