"""Equal-budget accuracy comparison of scorer backbones (writes one JSON-lines log per config).

Each config is trained from random weights for the same wall-clock budget on one fixed, pre-generated set of
2D data-engine samples (train split), with the fine-tuning loss (MSE + within-source ranking loss, bf16,
AdamW), and validated every 100 steps on the fixed validation set the training CLI builds, in eval mode.
The metric is the within-source SRCC (the view of the held-out bar). Run the configs side by side with one
thread each so they share the machine equally::

    for c in cnn-pyramid cnn-pyramid-gn vit-tiny-conv; do
        python bench/backbone_ab.py $c --minutes 9 --out runs/ab/$c.log &
    done; wait

Results of the run recorded in the README: ``docs/backbones-ab.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from mediqa_sdk.train.loop import _loss, evaluate_batches
from mediqa_sdk.train.model import build_model, scorer_config
from mediqa_sdk.train.streams import StreamSpec, fixed_batches

from mediqa_sdk.registry import load_registry


def _cached(path: Path, make) -> list[dict[str, torch.Tensor]]:
    if path.is_file():
        return torch.load(path, weights_only=True)
    batches = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(batches, path)
    return batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="scorer preset, e.g. cnn-pyramid-gn")
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--out", type=Path, required=True, help="JSON-lines log")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path("runs/ab"), help="where the fixed sample sets live")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    record = load_registry().get(None, "scorer")
    train = _cached(
        args.cache / "train-2d.pt",
        lambda: fixed_batches(
            StreamSpec(task="scorer", split="train", batch_size=16, seed=77), record, 1600, 0
        ),
    )
    val_all = _cached(
        args.cache / "val.pt",
        lambda: fixed_batches(
            StreamSpec(task="scorer", split="val", batch_size=16, seed=10_000), record, 192, 0
        ),
    )
    val = [b for b in val_all if b["slices"].shape[1] == 1]

    torch.manual_seed(0)
    model = build_model(scorer_config(args.config)).train()
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    rng = np.random.default_rng(0)
    start, step, losses = time.time(), 0, []
    with args.out.open("w") as log:
        while time.time() - start < args.minutes * 60:
            for i in rng.permutation(len(train)):
                for group in optim.param_groups:
                    group["lr"] = 3e-4 * min(1.0, (step + 1) / 50)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = _loss(model, train[int(i)], "finetune", 1.0)
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                losses.append(float(loss))
                step += 1
                if step % 100 == 0:
                    metrics = evaluate_batches(model, val, "finetune")
                    row = {
                        "step": step,
                        "t": round(time.time() - start),
                        "loss": round(np.mean(losses[-100:]), 4),
                    }
                    print(
                        json.dumps(row | {k: round(v, 4) for k, v in metrics.items()}), file=log, flush=True
                    )
                if time.time() - start > args.minutes * 60:
                    break


if __name__ == "__main__":
    main()
