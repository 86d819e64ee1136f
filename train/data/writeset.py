"""Write a reproducible labelled set to disk: images (NIfTI for CT/MR, PNG for fundus) + ``manifest.csv``.

Grey images are written as NIfTI in physical units with ``affine = diag(px, -px, dz)`` over
``data[col, row, slice]`` (display orientation: rows anterior -> posterior, columns patient right -> left).
Each sample also gets its clean reference (``clean_path``), so full-reference tools can use the set.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np

from .generator import Sample, iter_samples
from .labels import PHYSICS

__all__ = ["MANIFEST_FIELDS", "write_image", "write_set"]

MANIFEST_FIELDS = (
    "path",
    "clean_path",
    "score",
    "modality",
    "region",
    "type",
    "dim",
    "source_id",
    "split",
    "degradation",
    "param",
    "unit",
    *(f"{n}{s}" for n in PHYSICS for s in ("", "_norm", "_valid")),
    "pixel_mm",
)


def write_image(path: Path, image: np.ndarray, pixel_mm: float, slice_mm: float = 5.0) -> Path:
    """Write ``[H, W]``/``[S, H, W]`` as float32 NIfTI (``.nii.gz``) or ``[H, W, 3]`` as 8-bit PNG."""
    if image.ndim == 3 and image.shape[-1] == 3:
        out = path.with_suffix(".png")
        rgb = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return out
    vol = image[None] if image.ndim == 2 else image
    px = pixel_mm if math.isfinite(pixel_mm) else 1.0
    affine = np.diag([px, -px, slice_mm, 1.0])
    out = path.with_suffix(".nii.gz")
    nib.save(
        nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0), dtype=np.float32), affine), str(out)
    )
    return out


def _row(sample: Sample, path: Path, clean_path: Path, root: Path) -> dict[str, object]:
    row: dict[str, object] = {
        "path": path.relative_to(root).as_posix(),
        "clean_path": clean_path.relative_to(root).as_posix(),
        "score": f"{sample.pseudo_mos:.6f}",
        "modality": sample.modality,
        "region": sample.region,
        "type": sample.type,
        "dim": sample.dim,
        "source_id": sample.source_id,
        "split": sample.split,
        "degradation": sample.degradation,
        "param": "" if math.isnan(sample.param) else f"{sample.param:.6g}",
        "unit": sample.unit,
        "pixel_mm": f"{sample.pixel_mm:.6g}",
    }
    for name in PHYSICS:
        raw = sample.physics_raw[name]
        row[name] = "" if math.isnan(raw) else f"{raw:.6g}"
        row[f"{name}_norm"] = f"{sample.physics[name]:.6f}" if sample.physics_valid[name] else ""
        row[f"{name}_valid"] = int(sample.physics_valid[name])
    return row


def write_set(
    out_dir: Path,
    *,
    split: str = "test",
    n: int = 200,
    seed: int = 0,
    kind: str = "2d",
    families: Iterable[str] | None = None,
    modalities: Iterable[str] | None = None,
) -> Path:
    """Write ``n`` samples of ``split`` under ``out_dir`` and return the manifest path.

    The same arguments always give the same files (the stream is seeded).
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "clean").mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        stream = iter_samples(split, kind, seed, families=families, modalities=modalities, n=n)
        for i, sample in enumerate(stream):
            stem = f"{i:06d}_{sample.modality}_{sample.degradation}"
            path = write_image(out_dir / "images" / stem, sample.image, sample.pixel_mm)
            clean = write_image(out_dir / "clean" / stem, sample.clean, sample.pixel_mm)
            writer.writerow(_row(sample, path, clean, out_dir))
    return manifest
