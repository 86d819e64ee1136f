"""From a voxel array plus an affine to slices in display orientation (NIfTI, NRRD, MetaImage).

The rules, all without resampling (only axis transposes and flips, which are numpy views):

1. **Acquisition axis**, from the file's own affine (before any reorientation), first rule that applies:
   a single-slice axis; the slice axis the header records (NIfTI ``dim_info``); the odd one out when two
   axes share a spacing and the third differs (square in-plane pixels: this catches EPI with 3.75 mm pixels
   and 3 mm slices, and thin-slice CT); the axis with the largest spacing; on ties (within 1 %, e.g.
   isotropic voxels) the axis closest to superior-inferior.
2. **Name:** the anatomical axis (RAS+) nearest to that voxel axis: ``axial`` (S-I), ``coronal`` (A-P),
   ``sagittal`` (L-R); ``oblique`` when no anatomical axis is within about 37 degrees of it.
3. **Display orientation** (as DICOM viewers show them, radiological convention):

   ========  ====================  =====================  ======================
   axis      slice order (index 0)  rows (top -> bottom)   columns (left -> right)
   ========  ====================  =====================  ======================
   axial     inferior -> superior   anterior -> posterior  patient right -> left
   coronal   anterior -> posterior  superior -> inferior   patient right -> left
   sagittal  left -> right          superior -> inferior   anterior -> posterior
   ========  ====================  =====================  ======================

   These are the slice orders a standard DICOM series has when sorted along its slice normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ScanReadError
from ..scan import Scan
from ._stack import ArrayStack, finite_fill

__all__ = [
    "OrientedVolume",
    "affine_from_directions",
    "axis_name",
    "build_volume_scan",
    "lps_to_ras",
    "orient_volume",
]

# display (slice, row, col) per acquisition direction, as (RAS axis, +1 = increasing along that axis)
_DISPLAY: dict[int, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    2: ((2, +1), (1, -1), (0, -1)),  # axial: I->S, A->P, R->L
    1: ((1, -1), (2, -1), (0, -1)),  # coronal: A->P, S->I, R->L
    0: ((0, +1), (2, -1), (1, -1)),  # sagittal: L->R, S->I, A->P
}
_AXIS_NAMES = {0: "sagittal", 1: "coronal", 2: "axial"}
_OBLIQUE_BELOW = 0.8  # |cosine| to the nearest anatomical axis under which a direction is "oblique"


@dataclass(frozen=True)
class OrientedVolume:
    """A 3D voxel array re-indexed as display slices.

    Attributes:
        view: ``(n_slices, rows, cols)`` view of the input array (no copy).
        spacing: ``(slice, row, col)`` spacing in mm (``nan`` where unknown).
        axis: ``axial``, ``coronal``, ``sagittal`` or ``oblique``.
        warnings: what the user should know (orientation assumed, ...).
    """

    view: np.ndarray
    spacing: tuple[float, float, float]
    axis: str
    warnings: tuple[str, ...] = ()


def axis_name(direction: np.ndarray) -> str:
    """Anatomical name of a direction given in RAS+ (or LPS: only magnitudes matter)."""
    unit = np.abs(np.asarray(direction, dtype=float))
    norm = float(np.linalg.norm(unit))
    if not np.isfinite(norm) or norm == 0:
        return "oblique"
    unit /= norm
    best = int(np.argmax(unit))
    return _AXIS_NAMES[best] if unit[best] >= _OBLIQUE_BELOW else "oblique"


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 * max(a, b)


def _pick_acquisition_axis(
    shape: tuple[int, int, int], vox: np.ndarray, dirs: np.ndarray, hint: int | None
) -> int:
    """Voxel axis along which slices were acquired (see the module docstring, rule 1)."""
    singles = [i for i in range(3) if shape[i] == 1]
    if len(singles) == 1:
        return singles[0]
    if hint is not None and 0 <= hint < 3 and shape[hint] > 1:
        return hint
    candidates = [i for i in range(3) if shape[i] > 1] or [0, 1, 2]
    if len(candidates) == 3:
        for odd in range(3):
            a, b = (j for j in range(3) if j != odd)
            if _same(vox[a], vox[b]) and not _same(vox[odd], vox[a]):
                return odd
    largest = max(vox[i] for i in candidates)
    tied = [i for i in candidates if vox[i] >= largest * 0.99]
    if len(tied) == 1:
        return tied[0]
    # closest to superior-inferior: largest |z| component of the unit direction
    return max(tied, key=lambda i: (abs(dirs[2, i]), -i))


def orient_volume(
    data: np.ndarray,
    affine: np.ndarray | None,
    name: str,
    spacing_hint: tuple[float, float, float] | None = None,
    slice_axis_hint: int | None = None,
) -> OrientedVolume:
    """Present a 3D array as slices along its acquisition axis, in display orientation.

    Args:
        data: ``(i, j, k)`` voxel array as the affine indexes it.
        affine: 4x4 voxel-to-world matrix in RAS+ mm (NIfTI convention), or ``None`` when the file has no
            orientation (slices are then taken along the third axis as stored, named ``axial``, with a
            warning).
        name: file name for messages.
        spacing_hint: voxel sizes to report when ``affine`` is ``None`` (``nan`` where unknown).
        slice_axis_hint: the voxel axis the file records as the slice direction, if it does.

    Returns:
        The display view, its spacing and the axis name.

    Raises:
        ScanReadError: the affine has a zero, negative or non-finite voxel size.
    """
    if data.ndim != 3:
        raise ScanReadError(f"{name}: expected a 3D volume, found {data.ndim} dimensions")
    shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    if affine is None:
        hint = spacing_hint or (float("nan"),) * 3
        view = np.transpose(data, (2, 1, 0))
        warn = (
            f"{name}: the header gives no orientation: slices taken along the third stored axis, "
            "assumed axial"
        )
        return OrientedVolume(view, (float(hint[2]), float(hint[1]), float(hint[0])), "axial", (warn,))

    affine = np.array(affine, dtype=float)
    lin = affine[:3, :3]
    vox = np.linalg.norm(lin, axis=0)
    unknown = np.zeros(3, dtype=bool)
    for i in range(3):  # a single-slice axis may carry no voxel size (2D files): give it a direction
        if shape[i] == 1 and not (np.isfinite(vox[i]) and vox[i] > 0):
            others = [j for j in range(3) if j != i]
            normal = np.cross(lin[:, others[0]], lin[:, others[1]])
            if np.linalg.norm(normal) > 0 and np.all(np.isfinite(normal)):
                lin[:, i] = normal / np.linalg.norm(normal) * (1 if i != 1 else -1)
                vox[i] = 1.0
                unknown[i] = True
    if not np.all(np.isfinite(lin)) or np.any(vox <= 0):
        sizes = ", ".join(f"{v:g}" for v in vox)
        raise ScanReadError(
            f"{name}: invalid voxel size in the header ({sizes} mm): the file is damaged or was written "
            "wrongly"
        )
    dirs = lin / vox
    if abs(np.linalg.det(dirs)) < 1e-6:
        raise ScanReadError(
            f"{name}: the header's orientation matrix is degenerate (two axes point the same way)"
        )

    # nearest RAS axis (and its sign) for each voxel axis, as a permutation (nibabel.io_orientation logic)
    from nibabel.orientations import io_orientation

    ornt = io_orientation(affine)
    ras_of_voxel = {int(ornt[i, 0]): (i, int(ornt[i, 1])) for i in range(3)}

    acq = _pick_acquisition_axis(shape, vox, dirs, slice_axis_hint)
    acq_ras = int(ornt[acq, 0])
    order = []
    flips = []
    for ras_axis, wanted in _DISPLAY[acq_ras]:
        voxel_axis, sign = ras_of_voxel[ras_axis]
        order.append(voxel_axis)
        flips.append(sign * wanted < 0)
    view = np.transpose(data, order)
    view = view[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    vox[unknown] = np.nan
    spacing = (float(vox[order[0]]), float(vox[order[1]]), float(vox[order[2]]))
    return OrientedVolume(view, spacing, axis_name(dirs[:, acq]))


def lps_to_ras(affine: np.ndarray) -> np.ndarray:
    """Turn a voxel-to-LPS affine (DICOM, ITK, NRRD "left-posterior-superior") into voxel-to-RAS."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine, dtype=float)


def affine_from_directions(directions: np.ndarray, spacing: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """4x4 affine whose column ``i`` is ``directions[:, i] * spacing[i]``, translated by ``origin``.

    Fewer than three axes (2D images) get a unit normal as the missing axis.
    """
    n = directions.shape[1]
    lin = np.zeros((3, 3))
    lin[: directions.shape[0], :n] = directions * np.asarray(spacing, dtype=float)[:n]
    if n == 2:
        normal = np.cross(lin[:, 0], lin[:, 1])
        norm = np.linalg.norm(normal)
        lin[:, 2] = normal / norm if norm > 0 else (0.0, 0.0, 1.0)
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[: len(origin), 3] = origin[:3]
    return affine


def build_volume_scan(
    data: np.ndarray,
    affine: np.ndarray | None,
    *,
    path: Path,
    files: tuple[Path, ...],
    fmt: str,
    sha256: str,
    label: str | None,
    warnings: list[str],
    metadata: dict[str, object],
    spacing_hint: tuple[float, float, float] | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    slice_axis_hint: int | None = None,
) -> Scan:
    """A :class:`Scan` for a 3D voxel array with a RAS+ affine or none: oriented, NaN-checked, scaled lazily.

    Args:
        data: ``(i, j, k)`` array in its stored dtype (a 2D image is ``(i, j, 1)``).
        affine: voxel-to-RAS+ mm, or ``None`` when the file has no geometry.
        path: the file (the header file for detached data).
        files: every file read.
        fmt: the :attr:`Scan.format` name.
        sha256: hash of the input bytes.
        label: name for tables (the file name by default).
        warnings: warnings collected so far; more are appended.
        metadata: header facts.
        spacing_hint: voxel sizes when ``affine`` is ``None``.
        slope: stored-to-physical multiplier.
        intercept: stored-to-physical offset.
        slice_axis_hint: the slice axis if the header records it.
    """
    name = path.name
    fill, warn = finite_fill(data, name, slope, intercept)
    if warn:
        warnings.append(warn)
    oriented = orient_volume(data, affine, name, spacing_hint=spacing_hint, slice_axis_hint=slice_axis_hint)
    warnings.extend(oriented.warnings)
    stack = ArrayStack(oriented.view, slope, intercept, fill)
    return Scan(
        slices=stack,
        spacing=oriented.spacing,
        dim="3d" if stack.shape[0] > 1 else "2d",
        axis=oriented.axis,
        source=path,
        files=files,
        format=fmt,
        metadata=metadata,
        warnings=tuple(warnings),
        sha256=sha256,
        label=label or name,
    )
