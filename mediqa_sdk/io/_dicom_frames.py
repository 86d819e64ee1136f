"""DICOM files to frames: one record per 2D slice with its position, orientation, spacing and rescale.

A classic image gives one frame; a multi-frame object one per frame (geometry and rescale from the per-frame
or shared functional groups, or ``GridFrameOffsetVector``); a Siemens mosaic one per tile (tile count from
(0019,100A) NumberOfImagesInMosaic or the CSA header, slice normal from the CSA header, the position corrected
from the virtual mosaic image to the first tile); a UIH ``VFRAME`` mosaic one per tile with the per-slice
positions of its private (0065,1051) sequence.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ScanReadError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["Frame", "Source", "as_float", "frames_of", "stored_range"]


@dataclass
class Source:
    """One DICOM file and what decoding its pixels needs."""

    path: Path
    header: Dataset
    data: bytes | None  # inflated bytes of a .dcm.gz
    transfer_syntax: str
    photometric: str
    samples: int
    stored_range: tuple[float, float]
    multi_frame: bool
    mosaic_grid: tuple[int, int, int] | None = None  # (tile rows, tile cols, tiles per mosaic row)

    def open(self) -> Path | BytesIO:
        return BytesIO(self.data) if self.data is not None else self.path


@dataclass
class Frame:
    """One 2D slice: which file/frame/tile it is, and where it lies."""

    source: int
    frame: int | None
    tile: int | None
    rows: int
    cols: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float
    order: tuple[float, float, int]
    sop_uid: str
    extra: dict[str, Any] = field(default_factory=dict)


def _vec(value: Any, n: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        return None
    return arr


def _spacing(value: Any) -> tuple[float, float] | None:
    vec = _vec(value, 2)
    if vec is None or np.any(vec <= 0):
        return None
    return float(vec[0]), float(vec[1])


def as_float(value: Any, default: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def _group_item(item: Any, keyword: str) -> Any:
    seq = item.get(keyword) if item is not None else None
    return seq[0] if seq else None


def stored_range(ds: Dataset) -> tuple[float, float]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _instance(ds: Dataset) -> float:
    return as_float(ds.get("InstanceNumber"), math.inf)


def _private_count(elem: Any) -> int:
    """An unsigned count from a private element, whether pydicom knows its VR (US) or not (UN bytes)."""
    if elem is None or elem.value in (None, b"", ""):
        return 0
    value = elem.value
    if isinstance(value, bytes):
        return int(struct.unpack("<H", value[:2])[0]) if len(value) >= 2 else 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _siemens_mosaic(ds: Dataset, name: str) -> tuple[int, np.ndarray | None]:
    """Number of tiles and the CSA slice normal of a Siemens mosaic."""
    count = _private_count(ds.get((0x0019, 0x100A)))
    normal = None
    if (0x0029, 0x1010) in ds:
        import warnings

        with warnings.catch_warnings():  # nibabel.nicom warns on import that it is experimental
            warnings.simplefilter("ignore")
            from nibabel.nicom import csareader

        try:
            csa = csareader.get_csa_header(ds, "image")
            if not count:
                count = int(csareader.get_n_mosaic(csa) or 0)
            sn = csareader.get_slice_normal(csa)
            normal = _vec(sn, 3) if sn is not None else None
        except Exception:
            normal = None
    if count <= 0:
        raise ScanReadError(
            f"{name}: Siemens mosaic without the number of images it holds (NumberOfImagesInMosaic missing)"
        )
    return count, normal


def frames_of(src_index: int, src: Source, ds: Dataset, name: str) -> list[Frame]:
    """Frames (slices) of one file, with geometry and rescale, from its header."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    n_frames = int(as_float(ds.get("NumberOfFrames", 1), 1) or 1)
    instance = _instance(ds)
    sop = str(ds.get("SOPInstanceUID", "") or "")
    iop = _vec(ds.get("ImageOrientationPatient"), 6)
    ipp = _vec(ds.get("ImagePositionPatient"), 3)
    pixel_spacing = _spacing(ds.get("PixelSpacing")) or _spacing(ds.get("ImagerPixelSpacing"))
    slope = as_float(ds.get("RescaleSlope"), 1.0)
    intercept = as_float(ds.get("RescaleIntercept"), 0.0)
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]

    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    if per_frame is not None or shared_seq is not None:
        shared = shared_seq[0] if shared_seq else None
        frames = []
        for k in range(n_frames):
            item = per_frame[k] if per_frame is not None and k < len(per_frame) else None

            def pick(keyword: str, item: Any = item) -> Any:
                found = _group_item(item, keyword)
                return found if found is not None else _group_item(shared, keyword)

            plane_pos, plane_ori = pick("PlanePositionSequence"), pick("PlaneOrientationSequence")
            measures, transform = pick("PixelMeasuresSequence"), pick("PixelValueTransformationSequence")
            content = pick("FrameContentSequence")
            frames.append(
                Frame(
                    source=src_index,
                    frame=k,
                    tile=None,
                    rows=rows,
                    cols=cols,
                    position=_vec(plane_pos.get("ImagePositionPatient"), 3) if plane_pos is not None else ipp,
                    orientation=_vec(plane_ori.get("ImageOrientationPatient"), 6)
                    if plane_ori is not None
                    else iop,
                    pixel_spacing=(_spacing(measures.get("PixelSpacing")) if measures is not None else None)
                    or pixel_spacing,
                    slope=as_float(transform.get("RescaleSlope"), slope) if transform is not None else slope,
                    intercept=as_float(transform.get("RescaleIntercept"), intercept)
                    if transform is not None
                    else intercept,
                    order=(
                        instance,
                        as_float(content.get("TemporalPositionIndex"), 0) if content is not None else 0,
                        k,
                    ),
                    sop_uid=sop,
                    extra={
                        "thickness": as_float(measures.get("SliceThickness"), math.nan)
                        if measures is not None
                        else math.nan
                    },
                )
            )
        return frames

    def tiles(tile_rows: int, tile_cols: int, positions: list[np.ndarray | None]) -> list[Frame]:
        """One frame per tile of a mosaic, in acquisition order."""
        return [
            Frame(
                source=src_index,
                frame=None,
                tile=k,
                rows=tile_rows,
                cols=tile_cols,
                position=position,
                orientation=iop,
                pixel_spacing=pixel_spacing,
                slope=slope,
                intercept=intercept,
                order=(instance, 0, k),
                sop_uid=sop,
            )
            for k, position in enumerate(positions)
        ]

    if "MOSAIC" in image_type and n_frames == 1:
        count, normal = _siemens_mosaic(ds, name)
        grid = math.ceil(math.sqrt(count))
        tile_rows, tile_cols = rows // grid, cols // grid
        src.mosaic_grid = (tile_rows, tile_cols, grid)
        positions: list[np.ndarray | None] = [None] * count
        if ipp is not None and iop is not None and pixel_spacing is not None:
            row_cos, col_cos = iop[:3], iop[3:]
            # Siemens gives the position of a virtual image as large as the mosaic, centred like the slices
            first = (
                ipp
                + col_cos * pixel_spacing[0] * (rows - tile_rows) / 2
                + row_cos * pixel_spacing[1] * (cols - tile_cols) / 2
            )
            if normal is None:
                normal = np.cross(row_cos, col_cos)
            normal = normal / np.linalg.norm(normal)
            step = as_float(ds.get("SpacingBetweenSlices"), as_float(ds.get("SliceThickness"), math.nan))
            if math.isfinite(step) and step > 0:
                positions = [first + k * step * normal for k in range(count)]
        return tiles(tile_rows, tile_cols, positions)

    uih = ds.get((0x0065, 0x1051))
    if "VFRAME" in image_type and uih is not None and uih.VR == "SQ" and len(uih.value) > 1 and n_frames == 1:
        items = list(uih.value)
        count = len(items)
        size = ds.get((0x0065, 0x1004))
        tile_rows = tile_cols = 0
        if size is not None:
            try:
                a, b = (int(v) for v in str(size.value).replace("x", "*").split("*"))
                for tr, tc in ((a, b), (b, a)):
                    if rows % tr == 0 and cols % tc == 0 and (rows // tr) * (cols // tc) >= count:
                        tile_rows, tile_cols = tr, tc
                        break
            except (TypeError, ValueError):
                pass
        if not tile_rows:
            raise ScanReadError(f"{name}: UIH mosaic whose tile size could not be worked out")
        src.mosaic_grid = (tile_rows, tile_cols, cols // tile_cols)
        return tiles(tile_rows, tile_cols, [_vec(item.get("ImagePositionPatient"), 3) for item in items])

    if n_frames > 1:
        offsets = ds.get("GridFrameOffsetVector")
        normal = np.cross(iop[:3], iop[3:]) if iop is not None else None
        frames = []
        for k in range(n_frames):
            pos = None
            if offsets is not None and ipp is not None and normal is not None and k < len(offsets):
                pos = ipp + float(offsets[k]) * normal
            frames.append(
                Frame(
                    source=src_index,
                    frame=k,
                    tile=None,
                    rows=rows,
                    cols=cols,
                    position=pos,
                    orientation=iop,
                    pixel_spacing=pixel_spacing,
                    slope=slope,
                    intercept=intercept,
                    order=(instance, 0, k),
                    sop_uid=sop,
                )
            )
        return frames

    return [
        Frame(
            source=src_index,
            frame=None,
            tile=None,
            rows=rows,
            cols=cols,
            position=ipp,
            orientation=iop,
            pixel_spacing=pixel_spacing,
            slope=slope,
            intercept=intercept,
            order=(instance, 0, 0),
            sop_uid=sop,
        )
    ]
