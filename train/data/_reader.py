"""Read a catalogued real scan into ``[D, H, W]`` (or ``[1, H, W, 3]``) float32 + spacing + metadata.

Uses :func:`mediqa_sdk.io.load_scan` when the runtime provides it. Otherwise a small fallback reads NIfTI,
NRRD (raw/gzip), DICOM files or series directories (classic, multi-frame, ``.dcm.gz``) and images; volumes
are reoriented to axial display orientation (rows anterior -> posterior, columns patient right -> left).
"""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np

__all__ = ["read_volume"]

_NRRD_TYPES = {
    "short": "i2",
    "int16": "i2",
    "signed short": "i2",
    "unsigned short": "u2",
    "ushort": "u2",
    "uint16": "u2",
    "unsigned char": "u1",
    "uchar": "u1",
    "uint8": "u1",
    "signed char": "i1",
    "int8": "i1",
    "int": "i4",
    "int32": "i4",
    "float": "f4",
    "double": "f8",
}


def read_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float], dict[str, Any]]:
    """Volume ``[D, H, W]`` or ``[1, H, W, 3]`` (colour), ``(slice, row, col)`` spacing in mm, metadata."""
    try:
        from mediqa_sdk import io as runtime_io
    except ImportError:
        return _fallback(Path(path))
    load_scan = getattr(runtime_io, "load_scan", None)
    if load_scan is None:
        return _fallback(Path(path))
    scan = load_scan(path)
    vol = np.asarray(scan.slices[:], dtype=np.float32)
    dz, dy, dx = (float(s) for s in scan.spacing)
    return vol, (dz, dy, dx), dict(scan.metadata)


def _fallback(path: Path) -> tuple[np.ndarray, tuple[float, float, float], dict[str, Any]]:
    name = path.name.lower()
    if path.is_dir() or name.endswith((".dcm", ".dcm.gz", ".ima")) or re.fullmatch(r"[^.]*", path.name):
        return _dicom(path)
    if name.endswith((".nii", ".nii.gz")):
        img: Any = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
        return _display(data, np.asarray(img.affine))
    if name.endswith(".nrrd"):
        return _nrrd(path)
    if name.endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
        return rgb[None], (math.nan, 1.0, 1.0), {"modality": "fundus"}
    raise ValueError(f"no reader for {path}")


def _display(
    data: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float], dict[str, Any]]:
    """RAS-canonical, then axial display: ``[z, y, x]`` with rows anterior first."""
    while data.ndim > 3:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    ornt = nib.orientations.io_orientation(affine)
    data = nib.orientations.apply_orientation(data, ornt)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    zooms = np.array([zooms[int(np.flatnonzero(ornt[:, 0] == k)[0])] for k in range(3)])  # RAS order
    vol = np.ascontiguousarray(np.transpose(data, (2, 1, 0))[:, ::-1, :], dtype=np.float32)
    return vol, (float(zooms[2]), float(zooms[1]), float(zooms[0])), {}


def _nrrd(path: Path) -> tuple[np.ndarray, tuple[float, float, float], dict[str, Any]]:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    fields: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.lstrip("=").strip()
    sizes = [int(s) for s in fields["sizes"].split()]
    dtype = np.dtype(_NRRD_TYPES[fields["type"]]).newbyteorder(
        "<" if fields.get("endian", "little") == "little" else ">"
    )
    if fields.get("encoding", "raw") in ("gzip", "gz"):
        body = gzip.decompress(body)
    data = (
        np.frombuffer(body, dtype=dtype, count=int(np.prod(sizes))).reshape(sizes[::-1]).T.astype(np.float32)
    )
    dirs = np.array(
        [
            [float(v) for v in d.strip("()").split(",")]
            for d in re.findall(r"\([^)]*\)", fields["space directions"])
        ]
    )
    affine = np.eye(4)
    affine[:3, :3] = dirs.T
    if fields.get("space", "").startswith("left-posterior"):
        affine[:2] *= -1  # LPS -> RAS
    return _display(data, affine)


def _dicom(path: Path) -> tuple[np.ndarray, tuple[float, float, float], dict[str, Any]]:
    import pydicom

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    datasets = []
    for f in files:
        try:
            if f.name.endswith(".gz"):
                import io

                ds = pydicom.dcmread(io.BytesIO(gzip.decompress(f.read_bytes())))
            else:
                ds = pydicom.dcmread(str(f))
        except Exception:
            continue
        if "PixelData" in ds:
            datasets.append(ds)
    if not datasets:
        raise ValueError(f"no DICOM images in {path}")
    series: dict[str, list[Any]] = {}
    for ds in datasets:
        series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append(ds)
    group = max(series.values(), key=len)

    def position(ds: Any) -> float:
        ipp = getattr(ds, "ImagePositionPatient", None)
        iop = getattr(ds, "ImageOrientationPatient", None)
        if ipp is not None and iop is not None:
            normal = np.cross(np.array(iop[:3], float), np.array(iop[3:], float))
            return float(np.dot(normal, np.array(ipp, float)))
        return float(getattr(ds, "InstanceNumber", 0) or 0)

    group.sort(key=position)
    slices: list[np.ndarray] = []
    for ds in group:
        arr = ds.pixel_array.astype(np.float32)
        slope, intercept = (
            float(getattr(ds, "RescaleSlope", 1) or 1),
            float(getattr(ds, "RescaleIntercept", 0) or 0),
        )
        if "SharedFunctionalGroupsSequence" in ds and "RescaleSlope" not in ds:
            try:
                pvt = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
                slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
            except (AttributeError, IndexError, KeyError):
                pass
        arr = arr * slope + intercept
        slices.extend(arr if arr.ndim == 3 else [arr])
    vol = np.stack(slices).astype(np.float32)
    ds0 = group[0]
    ps = [float(v) for v in getattr(ds0, "PixelSpacing", [1.0, 1.0])]
    dz = float(getattr(ds0, "SliceThickness", 0) or 0) or math.nan
    if len(group) > 1:
        dz = abs(position(group[1]) - position(group[0])) or dz
    meta: dict[str, Any] = {"modality": str(getattr(ds0, "Modality", "")).lower()}
    for key, tag in (
        ("exposure_mas", "Exposure"),
        ("kvp", "KVP"),
        ("field_strength_t", "MagneticFieldStrength"),
    ):
        value = getattr(ds0, tag, None)
        if value not in (None, ""):
            meta[key] = float(value)
    if "SliceThickness" in ds0 and ds0.SliceThickness:
        meta["slice_thickness_mm"] = float(ds0.SliceThickness)
    return vol, (dz, ps[0], ps[1]), meta
