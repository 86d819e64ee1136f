"""--augment: engine examples in random orientations of the square, every slice of an example alike."""

from __future__ import annotations

import numpy as np
import torch
from mediqa_sdk.train.streams import dihedral


def _symmetries(x: torch.Tensor) -> list[torch.Tensor]:
    turns = [torch.rot90(x, k, dims=(-2, -1)) for k in range(4)]
    return turns + [torch.flip(t, dims=(-1,)) for t in turns]


def test_each_example_is_one_of_the_8_symmetries_and_its_slices_move_together() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 3, 8, 8, generator=gen)
    x[:, 1] = 2 * x[:, 0]  # a relation between the slices of one example
    out = dihedral(x, np.random.default_rng(1))
    assert out.shape == x.shape
    seen = set()
    for before, after in zip(x, out, strict=True):
        matches = [k for k, s in enumerate(_symmetries(before)) if torch.equal(s, after)]
        assert len(matches) == 1  # a symmetry of the whole example, applied to all its slices
        seen.add(matches[0])
    assert seen == set(range(8))  # all 8 occur over 64 examples
    torch.testing.assert_close(out[:, 1], 2 * out[:, 0])


def test_the_orientations_follow_the_seed() -> None:
    x = torch.rand(16, 1, 3, 8, 8)
    assert torch.equal(dihedral(x, np.random.default_rng(5)), dihedral(x, np.random.default_rng(5)))
    assert not torch.equal(dihedral(x, np.random.default_rng(5)), dihedral(x, np.random.default_rng(6)))
