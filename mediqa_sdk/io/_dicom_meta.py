"""DICOM header access: reading headers without pixel data, and the metadata dict of a scan.

Metadata keys (only those present and non-empty in the header): ``modality`` (lower-case), ``body_part``,
``series_description``, ``study_description``, ``protocol_name``, ``manufacturer``, ``model``, ``kvp``,
``exposure_mas``, ``tube_current_ma``, ``ctdi_vol``, ``convolution_kernel`` (multi-valued joined with
``\\``), ``slice_thickness``, ``field_strength_t``, ``scanning_sequence``, ``sequence_variant`` and
``image_type`` (tuples of str), ``sequence_name``, ``echo_time``, ``repetition_time``, ``inversion_time``
(ms), ``mr_acquisition_type``, ``series_uid``, ``series_number`` (int), ``study_uid``, ``photometric``,
``transfer_syntax``, ``stored_dtype``; the loader adds ``sop_instance_uids`` (one per slice, slice order).
Enhanced (multi-frame) objects keep several of these inside functional group sequences; they are found there
too (``EffectiveEchoTime``, ``ExposureInmAs``, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputTooLargeError, ScanReadError
from ._files import GZIP_MAGIC, describe_os_error, inflate, inflate_prefix
from ._limits import ReadLimits, check_file_size, check_voxels

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "DicomSummary",
    "check_image_header",
    "deferred_element",
    "find_value",
    "pixel_data_shortfall",
    "read_header",
    "read_summary",
    "series_metadata",
    "summary_of",
]


_TEXT = {
    "body_part": "BodyPartExamined",
    "series_description": "SeriesDescription",
    "study_description": "StudyDescription",
    "protocol_name": "ProtocolName",
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "sequence_name": "SequenceName",
    "mr_acquisition_type": "MRAcquisitionType",
    "series_uid": "SeriesInstanceUID",
    "study_uid": "StudyInstanceUID",
    "photometric": "PhotometricInterpretation",
}
_FLOAT: dict[str, tuple[str, ...]] = {
    "kvp": ("KVP",),
    "tube_current_ma": ("XRayTubeCurrent", "XRayTubeCurrentInmA"),
    "ctdi_vol": ("CTDIvol",),
    "slice_thickness": ("SliceThickness",),
    "field_strength_t": ("MagneticFieldStrength",),
    "echo_time": ("EchoTime", "EffectiveEchoTime"),
    "repetition_time": ("RepetitionTime",),
    "inversion_time": ("InversionTime", "InversionTimes"),
}
_MULTI = {
    "scanning_sequence": "ScanningSequence",
    "sequence_variant": "SequenceVariant",
    "image_type": "ImageType",
}


@dataclass(frozen=True)
class DicomSummary:
    """What discovery needs from one DICOM file to group it into a series."""

    path: Path
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    rows: int | None
    cols: int | None
    orientation: tuple[float, ...] | None
    sop_class: str
    sop_uid: str
    frames: int

    @property
    def has_pixels(self) -> bool:
        """True for image objects (they have Rows/Columns); SR, presentation states, RT plans have not."""
        return bool(self.rows) and bool(self.cols)


_DEFER_BYTES = 4096  # values larger than this (pixel data, CSA headers) are read from the file when used
_SUMMARY_PREFIX = 1 << 20  # inflated bytes of a .dcm.gz enough to hold the groups discovery reads
_GZ_SLACK = 64 << 20  # what a .dcm.gz may inflate to beyond its pixel data (functional groups, private data)
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF


def _count(value: Any, default: int) -> int:
    """A non-negative count from a header value (IS strings, ints; garbage gives ``default``)."""
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default
    return max(number, 0)


def deferred_element(ds: Dataset, tag: int) -> Any:
    """The element ``tag`` of ``ds`` without reading a deferred value (``value`` stays ``None`` and
    ``value_tell`` says where it starts): pydicom's ``get_item`` alone reads the pixel data into memory."""
    try:
        return ds.get_item(tag, keep_deferred=True)
    except TypeError:  # pydicom < 3: no keep_deferred; the raw element is in the dataset's dict
        return getattr(ds, "_dict", {}).get(tag)


def image_geometry(ds: Dataset) -> tuple[int, int, int, int, int]:
    """``(rows, cols, frames, samples, bits_allocated)`` as the header states them (0 when absent)."""
    return (
        _count(ds.get("Rows"), 0),
        _count(ds.get("Columns"), 0),
        max(1, _count(ds.get("NumberOfFrames"), 1)),
        max(1, _count(ds.get("SamplesPerPixel"), 1)),
        _count(ds.get("BitsAllocated"), 16),
    )


def check_image_header(name: str, ds: Dataset, limits: ReadLimits) -> None:
    """Refuse, from one file's header and before anything else is done with it, an image whose
    ``NumberOfFrames x Rows x Columns`` exceeds ``limits.max_voxels``.

    Raises:
        InputTooLargeError: the header claims too much.
    """
    rows, cols, frames, _, _ = image_geometry(ds)
    check_voxels(name, (frames, rows, cols), limits)


def _native_bytes(ds: Dataset) -> int:
    rows, cols, frames, samples, bits = image_geometry(ds)
    return (rows * cols * frames * samples * bits + 7) // 8


def pixel_data_shortfall(ds: Dataset, available: int | None) -> tuple[int, int] | None:
    """``(bytes held, bytes needed)`` when the native (uncompressed) pixel data of ``ds`` are shorter than its
    ``Rows x Columns x frames x samples x BitsAllocated`` need; ``None`` when they are not (or are
    encapsulated).

    Args:
        ds: a dataset read with its pixel data deferred.
        available: size of the byte stream it was read from (file or inflated ``.dcm.gz``), to catch a
            deferred value that the stream ends before.
    """
    elem = deferred_element(ds, _PIXEL_DATA) if _PIXEL_DATA in ds else None
    if elem is None:
        return None
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    if ts:
        from pydicom.uid import UID

        if UID(ts).is_compressed or UID(ts).is_deflated:
            return None
    length = getattr(elem, "length", None)
    value = elem.value
    if isinstance(value, (bytes, bytearray, memoryview)):
        have = len(value)
    elif value is None and isinstance(length, int):
        if length == _UNDEFINED_LENGTH:
            return None
        have = length
        tell = getattr(elem, "value_tell", None)
        if available is not None and isinstance(tell, int):
            have = max(0, min(have, available - tell))
    else:
        return None
    need = _native_bytes(ds)
    return (have, need) if have < need else None


def _inflate_dcm_gz(raw: bytes, name: str, limits: ReadLimits) -> bytes:
    """Inflate a ``.dcm.gz`` only as far as its own header says is needed: a stream that goes on beyond the
    pixel data plus 64 MiB (a gzip bomb) is refused without inflating the rest.

    Raises:
        InputTooLargeError: the header claims too many voxels, or the stream inflates beyond what it needs.
        ScanReadError: a corrupt or truncated stream.
    """
    need = 0
    try:
        head = _read_groups_to_0028(BytesIO(inflate_prefix(raw, _SUMMARY_PREFIX)))
    except Exception:  # the full read below says what is wrong
        head = None
    if head is not None:
        check_image_header(name, head, limits)
        need = _native_bytes(head)
    cap = min(limits.max_file_bytes, need + _GZ_SLACK)
    data = inflate(raw, name, max_out=cap + 1)
    if len(data) > cap:
        rows, cols, frames, _, _ = image_geometry(head) if head is not None else (0, 0, 1, 1, 0)
        raise InputTooLargeError(
            f"{name}: the gzip stream inflates to more than {cap / 2**20:.0f} MiB, far beyond what its "
            f"{frames}x{rows}x{cols} DICOM image needs: refused as a likely decompression bomb"
        )
    return data


def _dcmread(src: Path | BytesIO) -> Dataset:
    import pydicom

    return pydicom.dcmread(src, force=True, defer_size=_DEFER_BYTES)


def _stop_after_image_pixel_module(tag: Any, vr: Any, length: Any) -> bool:
    return int(tag) > 0x0028FFFF


def _read_groups_to_0028(src: Path | BytesIO) -> Dataset:
    """Parse only groups 0002-0028 (identity, series, geometry, image size): skips the large functional group
    sequences and private headers that follow, so discovery stays fast on enhanced multi-frame files."""
    from pydicom.filereader import read_partial

    if isinstance(src, Path):
        with src.open("rb") as fh:
            return read_partial(fh, stop_when=_stop_after_image_pixel_module, force=True)
    return read_partial(src, stop_when=_stop_after_image_pixel_module, force=True)


def read_header(path: Path, limits: ReadLimits, *, gz: bool | None = None) -> tuple[Dataset, bytes | None]:
    """The dataset of a DICOM file with its large values (pixel data) deferred, plus the inflated bytes of a
    ``.dcm.gz``. The pixel data are read from the file (or the inflated bytes) only when decoded.

    Raises:
        ScanReadError: unreadable file or not DICOM.
        InputTooLargeError: larger than ``limits.max_file_bytes``.
    """
    name = path.name
    try:
        check_file_size(path, path.stat().st_size, limits)
        if gz is None:
            with path.open("rb") as fh:
                gz = fh.read(2) == GZIP_MAGIC
        if gz:
            data = _inflate_dcm_gz(path.read_bytes(), name, limits)
            return _dcmread(BytesIO(data)), data
        return _dcmread(path), None
    except OSError as err:
        raise ScanReadError(describe_os_error(path, err)) from err
    except ScanReadError:
        raise
    except Exception as err:
        raise ScanReadError(f"{name}: not a readable DICOM file ({_short(err)})") from err


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text[:160] + "...") if len(text) > 160 else text or type(err).__name__


def read_summary(path: Path, *, gz: bool = False) -> DicomSummary:
    """Grouping facts of one DICOM file, from its header only.

    Raises:
        ScanReadError: unreadable or damaged header.
    """
    name = path.name
    try:
        if gz:
            raw = path.read_bytes()
            try:
                ds = _read_groups_to_0028(BytesIO(inflate_prefix(raw, _SUMMARY_PREFIX)))
            except Exception:
                ds = _read_groups_to_0028(BytesIO(inflate(raw, name, max_out=_SUMMARY_PREFIX * 64)))
        else:
            ds = _read_groups_to_0028(path)
        return summary_of(path, ds)
    except OSError as err:
        raise ScanReadError(describe_os_error(path, err)) from err
    except ScanReadError:
        raise
    except Exception as err:
        raise ScanReadError(f"{name}: not a readable DICOM file ({_short(err)})") from err


def summary_of(path: Path, ds: Dataset) -> DicomSummary:
    """The grouping facts of ``ds``, the header of ``path`` (raises what a damaged value raises)."""
    sop_class = str(
        ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")
    )
    number = ds.get("SeriesNumber")
    return DicomSummary(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        series_number=int(number) if number not in (None, "") else None,
        description=str(ds.get("SeriesDescription", "") or "").strip(),
        modality=str(ds.get("Modality", "") or "").strip(),
        rows=int(ds.Rows) if ds.get("Rows") else None,
        cols=int(ds.Columns) if ds.get("Columns") else None,
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        sop_class=sop_class,
        sop_uid=str(ds.get("SOPInstanceUID", "") or ""),
        frames=max(1, _count(ds.get("NumberOfFrames"), 1)),
    )


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    """``n`` finite floats from a multi-valued element, or None."""
    if value is None:
        return None
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        return None
    return vals


def find_value(ds: Dataset, keyword: str) -> Any:
    """``keyword`` from the dataset, else from the shared or the first per-frame functional groups."""
    try:
        value = ds.get(keyword)
    except Exception:
        value = None
    if value not in (None, ""):
        return value
    for seq_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(seq_keyword)
        if not seq:
            continue
        for elem in seq[0]:
            if elem.VR == "SQ" and elem.value:
                try:
                    inner = elem.value[0].get(keyword)
                except Exception:
                    inner = None
                if inner not in (None, ""):
                    return inner
    return None


def _as_float(value: Any) -> float | None:
    try:
        if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, str)):
            value = value[0]
        out = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return out if math.isfinite(out) else None


def series_metadata(ds: Dataset) -> dict[str, Any]:
    """The metadata dict (see the module docstring) of the header of a series' first slice."""
    meta: dict[str, Any] = {}
    modality = find_value(ds, "Modality")
    if modality:
        meta["modality"] = str(modality).strip().lower()
    for key, keyword in _TEXT.items():
        value = find_value(ds, keyword)
        if value not in (None, ""):
            text = str(value).strip()
            if text:
                meta[key] = text
    for key, keywords in _FLOAT.items():
        for keyword in keywords:
            number = _as_float(find_value(ds, keyword))
            if number is not None:
                meta[key] = number
                break
    for key, keyword in _MULTI.items():
        value = find_value(ds, keyword)
        if value not in (None, ""):
            items = [value] if isinstance(value, str) else list(value)
            values = tuple(str(v).strip() for v in items if str(v).strip())
            if values:
                meta[key] = values
    kernel = find_value(ds, "ConvolutionKernel")
    if kernel not in (None, ""):
        parts = [kernel] if isinstance(kernel, str) else list(kernel)
        text = "\\".join(str(p).strip() for p in parts if str(p).strip())
        if text:
            meta["convolution_kernel"] = text
    exposure = _as_float(find_value(ds, "Exposure")) or _as_float(find_value(ds, "ExposureInmAs"))
    if exposure is None and (micro := _as_float(find_value(ds, "ExposureInuAs"))) is not None:
        exposure = micro / 1000.0
    if exposure is None:
        current = _as_float(find_value(ds, "XRayTubeCurrent"))
        time_ms = _as_float(find_value(ds, "ExposureTime"))
        if current is not None and time_ms is not None:
            exposure = current * time_ms / 1000.0
    if exposure is not None:
        meta["exposure_mas"] = exposure
    number = find_value(ds, "SeriesNumber")
    try:
        if number not in (None, ""):
            meta["series_number"] = int(number)
    except (TypeError, ValueError):
        pass
    ts = getattr(ds, "file_meta", None)
    uid = ts.get("TransferSyntaxUID") if ts is not None else None
    if uid:
        meta["transfer_syntax"] = str(getattr(uid, "name", uid))
    return meta
