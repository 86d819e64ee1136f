"""2D images: PNG, JPEG and TIFF (8/16-bit, float32), decoded by OpenCV from bytes read once.

The pixel count is read from the header (PNG IHDR, JPEG SOF, TIFF IFD) and checked against
:attr:`ReadLimits.max_pixels_2d` before anything is decoded, so a decompression bomb costs nothing.

Decisions:

- Colour comes out RGB (OpenCV's BGR is reversed); an alpha channel is dropped; palette PNGs are expanded.
- A colour image whose three channels are equal (a grey image saved as RGB) becomes grey. JPEG chroma noise
  of up to 2 grey levels still counts as equal.
- JPEG photographs are turned upright by their EXIF orientation (as every viewer shows them); PNG and TIFF
  are decoded unchanged (``IMREAD_UNCHANGED``), keeping 16-bit and float data.
- Multi-page TIFF: the first page is scored and a warning says how many pages were skipped (a page stack is
  rarely a volume with known spacing; export volumes as NIfTI or DICOM).
- Values stay as stored (0..255, 0..65535 or float), as float32; ``spacing`` is ``nan``.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ScanReadError, UnsupportedFormatError
from ..scan import Scan
from ._files import read_bytes
from ._limits import DEFAULT_LIMITS, ReadLimits, check_pixels_2d
from ._stack import ArrayStack, finite_fill

__all__ = ["image_size", "load_image2d", "png_chunk_problem"]

_PNG = b"\x89PNG\r\n\x1a\n"
_MAX_TIFF_PAGES = 100_000


def _png_size(data: bytes) -> tuple[int, int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("PNG without an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, 1


def _jpeg_size(data: bytes) -> tuple[int, int, int]:
    pos = 2
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError("JPEG marker expected")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in (0x01, *range(0xD0, 0xD9)):  # standalone markers
            continue
        if marker == 0xD9:
            break
        if pos + 2 > n:
            break
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 7 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            return width, height, 1
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += length
    raise ValueError("JPEG without a frame header (SOF)")


def _tiff_size(data: bytes) -> tuple[int, int, int]:
    endian = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(endian + "H", data[2:4])[0] == 43
    if big:
        offset = struct.unpack(endian + "Q", data[8:16])[0]
        count_fmt, entry_size, next_fmt, value_at = "Q", 20, "Q", 12
    else:
        offset = struct.unpack(endian + "I", data[4:8])[0]
        count_fmt, entry_size, next_fmt, value_at = "H", 12, "I", 8
    count_size = struct.calcsize(count_fmt)
    width = height = None
    pages = 0
    seen: set[int] = set()
    while offset and offset not in seen and pages < _MAX_TIFF_PAGES:
        seen.add(offset)
        if offset + count_size > len(data):
            break
        n_entries = struct.unpack(endian + count_fmt, data[offset : offset + count_size])[0]
        base = offset + count_size
        if pages == 0:
            for k in range(n_entries):
                entry = data[base + k * entry_size : base + (k + 1) * entry_size]
                if len(entry) < entry_size:
                    break
                tag, typ = struct.unpack(endian + "HH", entry[:4])
                if tag in (256, 257):
                    fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
                    if fmt is None:
                        continue
                    value = struct.unpack(endian + fmt, entry[value_at : value_at + struct.calcsize(fmt)])[0]
                    if tag == 256:
                        width = value
                    else:
                        height = value
        pages += 1
        nxt = base + n_entries * entry_size
        if nxt + struct.calcsize(next_fmt) > len(data):
            break
        offset = struct.unpack(endian + next_fmt, data[nxt : nxt + struct.calcsize(next_fmt)])[0]
    if width is None or height is None:
        raise ValueError("TIFF without image width/length")
    return int(width), int(height), pages


def _printable(chunk_type: bytes) -> str:
    return "".join(c if c.isalnum() else "?" for c in chunk_type.decode("latin-1"))


def png_chunk_problem(data: bytes) -> str | None:
    """Why the chunk structure of a PNG is damaged, or ``None``: a chunk whose length runs past the end of
    the file, or whose CRC does not match. Checked before decoding because libpng allocates what a chunk
    claims (a 1 kB file claiming a 4 GB chunk) and reports damage on stderr, past our one-line errors."""
    view = memoryview(data)
    pos, size = 8, len(data)
    while pos + 8 <= size:
        length = int.from_bytes(view[pos : pos + 4], "big")
        kind = bytes(view[pos + 4 : pos + 8])
        end = pos + 12 + length
        if end > size:
            return (
                f"chunk {_printable(kind)} claims {length} bytes, past the end of the {size}-byte file: "
                "it is truncated or damaged"
            )
        if zlib.crc32(view[pos + 4 : end - 4]) != int.from_bytes(view[end - 4 : end], "big"):
            return f"chunk {_printable(kind)} fails its CRC check: the file is damaged"
        if kind == b"IEND":
            break
        pos = end
    return None


def image_size(data: bytes) -> tuple[str, int, int, int]:
    """Format, width, height and page count of a PNG/JPEG/TIFF from its header, without decoding.

    Raises:
        ValueError: the header is not readable.
    """
    if data.startswith(_PNG):
        return ("png", *_png_size(data))
    if data.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_size(data))
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return ("tiff", *_tiff_size(data))
    raise ValueError("not a PNG, JPEG or TIFF file")


def _to_display(img: np.ndarray, lossy: bool) -> np.ndarray:
    """OpenCV output -> grey ``(rows, cols)`` or RGB ``(rows, cols, 3)``; alpha dropped, grey RGB merged."""
    if img.ndim == 3:
        channels = img.shape[2]
        if channels == 1 or channels == 2:
            img = img[:, :, 0]
        elif channels >= 3:
            img = img[:, :, 2::-1]  # BGR(A) -> RGB, alpha dropped
            b, g, r = img[:, :, 2], img[:, :, 1], img[:, :, 0]
            if lossy:
                tol = 2
                same = bool(
                    np.abs(r.astype(np.int16) - g).max(initial=0) <= tol
                    and np.abs(g.astype(np.int16) - b).max(initial=0) <= tol
                )
                if same:
                    img = np.rint(img.mean(axis=2, dtype=np.float32)).astype(img.dtype)
            elif np.array_equal(r, g) and np.array_equal(g, b):
                img = img[:, :, 1]
    return img


def load_image2d(path: Path, limits: ReadLimits = DEFAULT_LIMITS, label: str | None = None) -> Scan:
    """Load a PNG, JPEG or TIFF image as a 2D :class:`Scan`.

    Args:
        path: the image file (detected by content).
        limits: ``max_pixels_2d`` is checked from the header before decoding.
        label: name for tables; the file name by default.

    Raises:
        ScanReadError: unreadable or damaged image.
        UnsupportedFormatError: not a PNG/JPEG/TIFF, or an image layout OpenCV cannot decode.
        InputTooLargeError: the header claims more pixels than ``limits.max_pixels_2d``.
    """
    import cv2

    name = path.name
    raw = read_bytes(path, limits)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        kind, width, height, pages = image_size(raw)
    except (ValueError, struct.error) as err:
        raise ScanReadError(f"{name}: damaged image header ({err})") from err
    if width <= 0 or height <= 0:
        raise ScanReadError(f"{name}: header gives an empty image ({width}x{height})")
    check_pixels_2d(name, width, height, limits)
    problem = png_chunk_problem(raw) if kind == "png" else None
    if problem is not None:
        raise ScanReadError(f"{name}: the PNG data could not be decoded ({problem})")

    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    log = cv2.utils.logging
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)  # damaged files are reported by our exception, not on stderr
    try:
        img = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error as err:
        raise ScanReadError(f"{name}: the {kind.upper()} data could not be decoded ({err})") from err
    finally:
        log.setLogLevel(previous)
    if img is None:
        raise ScanReadError(
            f"{name}: the {kind.upper()} data could not be decoded (damaged file or a variant "
            "OpenCV does not read)"
        )
    if img.dtype.kind == "c" or img.ndim > 3:
        raise UnsupportedFormatError(f"{name}: unsupported pixel layout ({img.dtype}, shape {img.shape})")
    stored = img.dtype
    img = _to_display(img, lossy=kind == "jpeg")

    warnings: list[str] = []
    if pages > 1:
        warnings.append(f"{name}: multi-page TIFF ({pages} pages): scored the first page")
    fill = None
    if img.dtype.kind == "f":
        fill, warn = finite_fill(img, name)
        if warn:
            warnings.append(warn.replace("voxels", "pixels"))
    metadata: dict[str, object] = {"stored_dtype": stored.name, "file_format": kind}
    return Scan(
        slices=ArrayStack(img[np.newaxis], fill=fill),
        spacing=(float("nan"),) * 3,
        dim="2d",
        axis="none",
        source=path,
        files=(path,),
        format="image",
        metadata=metadata,
        warnings=tuple(warnings),
        sha256=sha,
        label=label or name,
    )
