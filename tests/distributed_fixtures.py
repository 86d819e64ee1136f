"""A generated archive for the manifest/Ray tests and bench/ray_scale.py: tiny scans plus injected bad files.

``build_archive(folder, n_2d, n_3d, n_series)`` writes small 16-bit PNG MR slices, RGB fundus PNGs, small CT
NIfTI volumes and DICOM series folders, then the bad ones (empty, truncated, random bytes, a missing path),
and returns the manifest rows (``{"id", "path"}``) in a stable order.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from .io_fixtures import write_dicom_series, write_nifti, write_png8, write_png16
from .synthetic import ct_volume, fundus_photo, mr_slice

BAD_NAMES = ("empty.png", "truncated.nii.gz", "random.png", "missing.png")


def build_archive(folder: Path, n_2d: int = 240, n_3d: int = 24, n_series: int = 3) -> list[dict[str, str]]:
    """Write the archive under ``folder`` and return its manifest rows (ids are the file names)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(n_2d):
        if i % 10 == 9:
            paths.append(write_png8(folder / f"fundus{i:03d}.png", fundus_photo(64, seed=i)))
        else:
            paths.append(write_png16(folder / f"mr{i:03d}.png", mr_slice(64, noise=2.0 + i % 7, seed=i)))
    for i in range(n_3d):
        vol = ct_volume(n_slices=12, size=40, noise_hu=5.0 + 3 * (i % 5), seed=i)
        paths.append(write_nifti(folder / f"ct{i:03d}.nii.gz", np.ascontiguousarray(vol.transpose(2, 1, 0))))
    for i in range(n_series):
        vol = (ct_volume(n_slices=9, size=32, seed=100 + i) + 1024.0).astype(np.int16)
        write_dicom_series(folder / f"series{i}", vol, seed=i)
        paths.append(folder / f"series{i}")
    (folder / "empty.png").write_bytes(b"")
    good = (folder / "ct000.nii.gz").read_bytes() if n_3d else b"\x1f\x8b" + bytes(100)
    (folder / "truncated.nii.gz").write_bytes(good[: len(good) // 3])
    (folder / "random.png").write_bytes(np.random.default_rng(0).bytes(3000))
    paths += [folder / name for name in BAD_NAMES]
    return [{"id": p.name, "path": str(p)} for p in paths]


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write ``rows`` as a CSV manifest (columns: the union of the rows' keys, ``id`` and ``path`` first)."""
    columns = ["id", "path", *sorted({k for r in rows for k in r} - {"id", "path"})]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def zip_members(archive: Path, files: dict[str, Path]) -> Path:
    """A zip holding ``files`` (member name -> file or folder; folders are stored recursively)."""
    with zipfile.ZipFile(archive, "w") as zf:
        for name, source in files.items():
            if source.is_dir():
                for f in sorted(source.iterdir()):
                    zf.write(f, f"{name}/{f.name}")
            else:
                zf.write(source, name)
    return archive
