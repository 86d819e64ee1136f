"""Contact sheet: clean vs. degraded examples, one row per (source, degradation), three severities.

Tiles are 128 px; the sheet is saved as a 256-colour palette PNG to stay small (about 0.5 MB).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import labels
from .generator import CleanSource, load_real, make_phantom, make_sample

__all__ = ["ROWS", "render_contact_sheet"]

#: (real source id or phantom kind:seed, prompt type, family, three parameters from mild to severe);
#: ``"a+b"`` with ``(pa, pb)`` pairs combines two families.
ROWS: tuple[tuple[str, str, str, tuple[float | tuple[float, float], ...]], ...] = (
    ("ts-ct-dicom", "soft_window", "ct_dose", (100.0, 30.0, 10.0)),
    ("phantom:ct_chest:900001", "lung_window", "ct_dose", (100.0, 30.0, 10.0)),
    ("phantom:ct_abdomen:900002", "soft_window", "ct_dose", (100.0, 30.0, 10.0)),
    ("phantom:ct_chest:900001", "lung_window", "ct_sparse_views", (120.0, 60.0, 30.0)),
    ("dcmqa-ct-ge-head", "brain_window", "ct_motion", (2.0, 5.0, 10.0)),
    ("phantom:ct_chest:900001", "lung_window", "ct_slice_thickness", (6.0, 9.0, 12.0)),
    ("ts-ct-dicom", "soft_window", "ct_dose+ct_motion", ((100.0, 1.0), (50.0, 3.0), (20.0, 6.0))),
    ("sag-anon-t1", "t1", "mr_field_strength", (1.5, 0.5, 0.2)),
    ("phantom:mr_brain:900003", "t2", "mr_field_strength", (3.0, 1.0, 0.3)),
    ("stroke-t2", "t2", "mr_motion", (1.0, 3.0, 6.0)),
    ("phantom:mr_brain:900004", "flair", "mr_gibbs", (128.0, 80.0, 48.0)),
    ("sag-anon-t1", "t1", "mr_field_strength+mr_gibbs", ((1.5, 160.0), (1.0, 96.0), (0.5, 64.0))),
    ("rorden-t1", "t1", "mr_undersampling", (2.0, 3.0, 5.0)),
    ("phantom:mr_breast:900005", "t1", "mr_bias_field", (0.4, 0.8, 1.2)),
    ("hrf-01_h", "color", "fundus_defocus", (1.5, 3.0, 6.0)),
    ("hrf-02_h", "color", "fundus_motion_blur", (3.0, 8.0, 16.0)),
    ("phantom:fundus:900006", "color", "fundus_illumination", (0.3, 0.6, 0.9)),
    ("skimage-retina", "color", "fundus_exposure", (-1.0, -2.0, 1.5)),
    ("hrf-07_h", "color", "fundus_haze", (0.2, 0.5, 0.8)),
    ("phantom:fundus:900007", "color", "fundus_jpeg", (40.0, 15.0, 5.0)),
    ("hrf-10_h", "color", "fundus_noise", (5.0, 12.0, 25.0)),
)
TILE = 128


def _source(key: str) -> CleanSource:
    if key.startswith("phantom:"):
        _, kind, seed = key.split(":")
        return make_phantom(kind, int(seed), 24)
    return load_real(key)


def _display(img: np.ndarray, modality: str, type_: str, clean: np.ndarray) -> np.ndarray:
    if modality == "fundus":
        rgb = np.clip(img, 0, 255).astype(np.uint8)
    else:
        grey = (labels.scored_unit(img, modality, type_, clean) * 255).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    return cv2.resize(rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)


def _caption(tile: np.ndarray, text: str, line: int = 0) -> None:
    y = 11 + 11 * line
    cv2.putText(tile, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 0), 1, cv2.LINE_AA)


def _save_png(path: Path, bgr: np.ndarray) -> None:
    """Write a palette (256-colour, median-cut, no dither) PNG: about a third of the RGB size."""
    from PIL import Image

    rgb = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))
    rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )


def render_contact_sheet(
    out_path: Path, rows: tuple[tuple[str, str, str, tuple[float, ...]], ...] = ROWS
) -> Path:
    """Render the sheet to a PNG (rows whose real source is not available fall back to being skipped)."""
    strips = []
    cache: dict[str, CleanSource] = {}
    for key, type_, family, params in rows:
        try:
            src = cache.setdefault(key, _source(key))
        except (StopIteration, OSError, ValueError):
            continue
        idx = None
        tiles = []
        first, _, second = family.partition("+")
        for j, param in enumerate((None, *params)):
            pa, pb = param if isinstance(param, tuple) else (param, None)
            s = make_sample(
                src,
                "2d",
                None if param is None else first,
                np.random.default_rng(j),
                param=pa,
                type_=type_,
                indices=idx,
                second=second or None,
                second_param=pb,
            )
            idx = s.slice_indices
            tile = np.ascontiguousarray(_display(s.image, s.modality, type_, s.clean)[..., ::-1])
            if param is None:
                _caption(tile, f"{key.replace('phantom:', 'ph:')}")
                _caption(tile, f"clean {type_}", 1)
            else:
                for line, (name, value, unit) in enumerate(s.degradations):
                    _caption(tile, f"{name.split('_', 1)[1]}={value:g} {unit}"[:24], line)
                _caption(tile, f"pseudo-MOS {s.pseudo_mos:.2f}", len(s.degradations))
            tiles.append(tile)
        strips.append(np.hstack(tiles))
    sheet = np.vstack(strips)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _save_png(out_path, sheet)
    return out_path
