"""Format detection from the first bytes of a file (magic numbers and headers), not from its extension."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from ._files import GZIP_MAGIC, inflate_prefix

__all__ = ["FORMAT_NAMES", "detect_format", "detect_format_bytes"]

#: human names of the formats :func:`detect_format` returns
FORMAT_NAMES = {
    "dicom": "DICOM",
    "dicom-gz": "gzip-compressed DICOM",
    "dicomdir": "DICOMDIR",
    "nifti": "NIfTI",
    "analyze": "Analyze / NIfTI pair",
    "nrrd": "NRRD",
    "metaimage": "MetaImage",
    "png": "PNG",
    "jpeg": "JPEG",
    "tiff": "TIFF",
}

_HEAD_BYTES = 4096
_MEDIA_STORAGE_DIRECTORY = b"1.2.840.10008.1.3.10"
_META_KEYS = re.compile(
    rb"^\s*(ObjectType|NDims|DimSize|ElementType|ElementDataFile|ObjectSubType|Comment|TransformMatrix|"
    rb"Offset|ElementSpacing|BinaryData)\s*=",
    re.IGNORECASE | re.MULTILINE,
)


def _nifti_kind(head: bytes) -> str | None:
    """``"nifti"`` for a single-file NIfTI-1/2 header, ``"analyze"`` for a .hdr of a pair, else None."""
    if len(head) >= 348:
        for endian in "<>":
            if struct.unpack(endian + "i", head[:4])[0] == 348:
                magic = head[344:348]
                if magic == b"n+1\x00":
                    return "nifti"
                if magic in (b"ni1\x00", b"\x00\x00\x00\x00"):
                    return "analyze"
            if len(head) >= 540 and struct.unpack(endian + "i", head[:4])[0] == 540:
                if head[4:8] == b"n+2\x00":
                    return "nifti"
                if head[4:8] == b"ni2\x00":
                    return "analyze"
    return None


def _media_storage_class(head: bytes) -> bytes:
    """Value of (0002,0002) Media Storage SOP Class UID in a file meta header (explicit VR little endian)."""
    at = head.find(b"\x02\x00\x02\x00UI", 132)
    if at < 0 or at + 8 > len(head):
        return b""
    length = struct.unpack("<H", head[at + 6 : at + 8])[0]
    return head[at + 8 : at + 8 + length].rstrip(b"\x00 ")


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM stream without the 128-byte preamble: starts with a group 0002/0008 element, explicit or
    implicit VR little endian."""
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element > 0x0100:
        return False
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    length = struct.unpack("<I", head[4:8])[0]
    return 0 < length < 1024


def _is_dicom_dataset(head: bytes, path: Path | None) -> bool:
    """Confirm with pydicom that a preamble-less stream parses and looks like an image object."""
    from io import BytesIO

    import pydicom

    try:
        src: BytesIO | Path = path if path is not None else BytesIO(head)
        ds = pydicom.dcmread(
            src,
            force=True,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "Modality", "StudyInstanceUID", "Rows"],
        )
    except Exception:
        return False
    return any(k in ds for k in ("SOPClassUID", "Modality", "StudyInstanceUID", "Rows"))


def detect_format_bytes(head: bytes, path: Path | None = None) -> str | None:
    """Format of a file from its first bytes (see :data:`FORMAT_NAMES`); ``None`` when not recognised.

    Args:
        head: the first few kilobytes of the file.
        path: the file, used only to confirm a preamble-less DICOM with pydicom.
    """
    if head.startswith(GZIP_MAGIC):
        inner = inflate_prefix(head, 1024)
        kind = _nifti_kind(inner)
        if kind == "nifti":
            return "nifti"
        if len(inner) >= 132 and inner[128:132] == b"DICM":
            return "dicom-gz"
        return None
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicomdir" if _media_storage_class(head) == _MEDIA_STORAGE_DIRECTORY else "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    kind = _nifti_kind(head)
    if kind is not None:
        return kind
    if _META_KEYS.match(head) and b"NDims" in head and b"DimSize" in head:
        return "metaimage"
    if _looks_like_raw_dicom(head) and _is_dicom_dataset(head, path):
        return "dicom"
    return None


def detect_format(path: Path) -> str | None:
    """Format of the file at ``path`` from its content; ``None`` when not recognised.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with Path(path).open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    return detect_format_bytes(head, path)
