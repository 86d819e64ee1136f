"""The in-memory form of one input: :class:`Scan`, produced by the loaders in :mod:`mediqa_sdk.io`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Scan", "SliceStack"]


@runtime_checkable
class SliceStack(Protocol):
    """A stack of 2D slices, possibly decoded lazily (a numpy array satisfies this protocol).

    ``shape`` is ``(n_slices, rows, cols)`` for grey images or ``(n_slices, rows, cols, 3)`` for colour;
    ``stack[i]`` returns slice ``i`` as a float32 array in physical units (HU for CT).
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, index: Any) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Scan:
    """One image or volume, ready for slice selection.

    Attributes:
        slices: slices along the acquisition (through-plane) axis, index 0 first, each in display orientation
            (rows top to bottom = anterior to posterior for axial slices, columns = patient right to left,
            as a radiologist views them); float32 values in physical units (HU for CT).
        spacing: ``(slice, row, col)`` spacing in mm; ``nan`` where unknown (2D images).
        dim: ``"2d"`` or ``"3d"``; a single-slice file of a volumetric format is ``"3d"`` only if it has
            more than one slice.
        axis: name of the acquisition axis: ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` or
            ``"none"`` for 2D images.
        source: path of the file or DICOM series directory it came from (``None`` for arrays).
        files: every file read to build the scan (a DICOM series has many), in slice order.
        format: ``"nifti"``, ``"dicom"``, ``"image"``, ``"nrrd"``, ``"metaimage"`` or ``"array"``.
        metadata: header facts that feed prompts and reports (``modality``, ``body_part``,
            ``series_description``, ``kvp``, ``exposure_mas``, ``ctdi_vol``, ``field_strength_t``, ...);
            only keys that were present in the header.
        warnings: what the loader noticed and the user should know (4D input reduced to one volume, ...).
        sha256: sha256 of the input bytes (all files of a series, in slice order), or of the array.
        label: a short name for the input in tables (file name, or directory plus series number).
    """

    slices: SliceStack
    spacing: tuple[float, float, float]
    dim: str
    axis: str
    source: Path | None
    files: tuple[Path, ...] = ()
    format: str = "array"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    sha256: str = ""
    label: str = ""

    @property
    def n_slices(self) -> int:
        """Number of slices along the acquisition axis."""
        return int(self.slices.shape[0])

    @property
    def is_color(self) -> bool:
        """True for RGB images (fundus photographs)."""
        return len(self.slices.shape) == 4

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.slices.shape)
        return f"Scan({self.label or self.source!s}, {self.format}, {self.dim}, {shape}, axis={self.axis})"
