"""Training precision: bf16 autocast only where this CPU runs it faster than fp32.

bf16 autocast is a gain on CPUs with native bf16 (AVX512-BF16, AMX) and a large loss on others: on the
project's AMD EPYC machine without AVX-512 one fine-tuning step of ``cnn-pyramid-gn`` (16 slices) took
7.5 s with bf16 autocast and 0.58 s in fp32. ``auto`` therefore times a small convolution block both ways
(forward + backward, median of 3 after a warm-up, well under a second) and picks bf16 only when it is at
least 10 % faster.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class PrecisionChoice:
    """The chosen precision and why (``ratio`` = bf16 time / fp32 time; None when not measured)."""

    bf16: bool
    ratio: float | None

    def describe(self) -> str:
        name = "bf16 autocast" if self.bf16 else "fp32"
        if self.ratio is None:
            return f"precision: {name} (as asked)"
        return f"precision: {name} (a bf16 autocast step took {self.ratio:.2f}x the fp32 one on this CPU)"


def _step_seconds(bf16: bool, reps: int = 3) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 16, 3, padding=1))
    x = torch.randn(2, 16, 24, 24)
    times = []
    for i in range(reps + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = block(x).float().square().mean()
        loss.backward()
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def bf16_step_ratio() -> float:
    """Time of a bf16-autocast convolution step over the fp32 one (< 1: bf16 is faster here)."""
    fp32 = _step_seconds(False)
    return _step_seconds(True) / fp32


def choose_precision(precision: str) -> PrecisionChoice:
    """Resolve ``auto`` / ``bf16`` / ``fp32`` to a choice; ``auto`` measures (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return PrecisionChoice(bf16=precision == "bf16", ratio=None)
    ratio = bf16_step_ratio()
    return PrecisionChoice(bf16=ratio < 0.9, ratio=ratio)
