"""Fine-tune the scorer on your own quality scores, export it to ONNX and score with it.

    python examples/finetune_own_scores.py --out runs/own                 # demo: makes a tiny scored set
    python examples/finetune_own_scores.py --manifest my_scores.csv --out runs/own --steps 2000 \\
        --init mediqa-scorer-cnn       # the shipped scorer, or a checkpoint: runs/pretrain/best.pt

Your scores go in a CSV ``path,score[,modality,region,type,group]`` (paths relative to the CSV, any score
scale: it is normalised to 0..1; ``group`` = patient, so one patient never sits in two splits). Without
``--manifest`` the script writes a demo set: slices of the example head CT with added noise, scored
``1 - noise level``. Steps: ``mediqa train finetune --data MANIFEST`` (every image goes through the runtime's
own loading, slice selection, prompts and preprocessing), then ``mediqa export`` into a private registry
(the shipped ``models.json`` is left alone), then :class:`mediqa_sdk.Assessor` with that registry.
Needs the training extra: ``pip install torch && pip install "mediqa-sdk[train]"``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLE_CT = Path(__file__).resolve().parent / "data" / "head_ct.nii.gz"


def demo_manifest(folder: Path, n_slices: int = 4, levels: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0)) -> Path:
    """Single-slice NIfTI files (HU) of the example CT with Gaussian noise of ``level * 60`` HU; score
    ``1 - level``; one group per source slice."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    image = nib.load(EXAMPLE_CT)
    volume = np.asarray(image.dataobj, dtype=np.float32)
    rng = np.random.default_rng(0)
    picks = np.linspace(volume.shape[2] * 0.3, volume.shape[2] * 0.7, n_slices).astype(int)
    rows = []
    for k in picks:
        for level in levels:
            noisy = volume[:, :, k : k + 1] + rng.normal(0.0, 60.0 * level, volume[:, :, k : k + 1].shape)
            name = f"slice{k:03d}_noise{int(level * 100):03d}.nii.gz"
            nib.save(nib.Nifti1Image(noisy.astype(np.int16), image.affine), folder / name)
            rows.append({"path": name, "score": f"{1.0 - level:.2f}", "modality": "ct", "group": f"s{k}"})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "score", "modality", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def private_registry(folder: Path) -> Path:
    """A copy of the installed registry whose graphs live in ``folder/models`` (exports go there)."""
    from mediqa_sdk import load_registry

    shipped = load_registry()
    (folder / "models").mkdir(parents=True, exist_ok=True)
    for record in shipped.models.values():
        target = folder / "models" / record.file
        if not target.exists():
            shutil.copy2(record.path, target)
    registry = folder / "models.json"
    registry.write_text(json.dumps(json.loads(shipped.path.read_text()), indent=2), encoding="utf-8")
    return registry


def mediqa(*args: str) -> None:
    """Run a ``mediqa`` command with this interpreter; stop on failure."""
    command = [sys.executable, "-m", "mediqa_sdk.cli", *args]
    print("$ mediqa " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=None, help="your scores (CSV/JSON); default: a demo set")
    parser.add_argument("--out", default="runs/own", help="run folder")
    parser.add_argument("--config", default="tiny", help="scorer preset (tiny: seconds, for the demo)")
    parser.add_argument(
        "--init", default=None, help="start from a checkpoint or a registry scorer (e.g. mediqa-scorer-cnn)"
    )
    parser.add_argument("--steps", type=int, default=4, help="training steps")
    parser.add_argument("--no-export", action="store_true", help="stop after training")
    args = parser.parse_args(argv)

    out = Path(args.out)
    manifest = Path(args.manifest) if args.manifest else demo_manifest(out / "demo_set")
    train = [
        "train", "finetune", "--data", str(manifest), "--out", str(out / "run"), "--config", args.config,
        "--max-steps", str(args.steps), "--eval-every", str(max(1, args.steps // 2)), "--batch-size", "4",
        "--threads", "1", "--fp32", "--minutes", "10",
    ]  # fmt: skip
    if args.init:
        train += ["--init", args.init]
    mediqa(*train)
    checkpoint = out / "run" / "best.pt"
    if args.no_export:
        print(f"checkpoint: {checkpoint}")
        return 0
    registry = private_registry(out / "registry")
    mediqa("export", str(checkpoint), "--name", "my-scorer", "--registry", str(registry))

    from mediqa_sdk import Assessor

    mine = Assessor(model="my-scorer", registry=registry, device="cpu")
    result = mine.score(EXAMPLE_CT)
    print(f"my-scorer on {EXAMPLE_CT.name}: {result.score:.3f} ({result.grade})")
    print(f"use it: MEDIQA_REGISTRY={registry} mediqa score scan.nii.gz --model my-scorer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
