"""NRRD (``.nrrd`` with attached data, ``.nhdr`` with a detached data file), a small pure-numpy reader.

Supported: the NRRD0001-0005 header; types int8..uint64, float, double; encodings raw, gzip, bzip2, ascii
and hex; ``endian``; ``byte skip`` (including ``-1``) and ``line skip``; ``space``/``space directions``/
``space origin`` (RAS, LPS, LAS; other spaces are taken as RAS with a warning) or plain ``spacings``.
Axes whose ``space directions`` entry is ``none`` (or whose ``kinds`` is not ``domain``/``space``) are
non-spatial (time, diffusion gradients, vector components): the first sample along them is scored, with a
warning. A 2D NRRD whose non-spatial axis is an RGB colour is read as a colour image. Not supported (clear
error): detached data given as a file list or a filename pattern, and the ``block`` type.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np

from ..errors import ScanReadError, UnsupportedFormatError
from ..scan import Scan
from ._files import read_bytes, sha256_of_files
from ._limits import DEFAULT_LIMITS, ReadLimits, check_pixels_2d, check_voxels
from ._rawdata import decode_block, product
from ._stack import ArrayStack
from ._volume import affine_from_directions, build_volume_scan

__all__ = ["load_nrrd", "parse_nrrd_header"]

_TYPES: dict[str, str] = {}
for _names, _code in (
    (("signed char", "int8", "int8_t"), "i1"),
    (("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    (("short", "short int", "signed short", "signed short int", "int16", "int16_t"), "i2"),
    (("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), "u2"),
    (("int", "signed int", "int32", "int32_t"), "i4"),
    (("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    (
        (
            "longlong",
            "long long",
            "long long int",
            "signed long long",
            "signed long long int",
            "int64",
            "int64_t",
        ),
        "i8",
    ),
    (("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"), "u8"),
    (("float",), "f4"),
    (("double",), "f8"),
):
    for _n in _names:
        _TYPES[_n] = _code

_ENCODINGS = {
    "raw": "raw",
    "gzip": "gzip",
    "gz": "gzip",
    "bzip2": "bzip2",
    "bz2": "bzip2",
    "ascii": "ascii",
    "text": "ascii",
    "txt": "ascii",
    "hex": "hex",
}
_SPACES = {
    "right-anterior-superior": (1, 1, 1),
    "ras": (1, 1, 1),
    "left-posterior-superior": (-1, -1, 1),
    "lps": (-1, -1, 1),
    "left-anterior-superior": (-1, 1, 1),
    "las": (-1, 1, 1),
}
_VECTOR = re.compile(r"\(([^)]*)\)|none", re.IGNORECASE)
_MAX_HEADER = 1 << 20


def parse_nrrd_header(raw: bytes, name: str) -> tuple[dict[str, str], int]:
    """Fields (lower-case keys) of an NRRD header and the offset where attached data start.

    Raises:
        ScanReadError: not an NRRD header.
    """
    if not raw.startswith(b"NRRD000"):
        raise ScanReadError(f"{name}: not an NRRD file (no NRRD000x magic)")
    end = len(raw)
    for blank in (b"\n\n", b"\r\n\r\n"):
        at = raw.find(blank, 0, _MAX_HEADER)
        if at >= 0:
            end = min(end, at + len(blank))
    text = raw[:end].decode("latin-1")
    fields: dict[str, str] = {}
    for raw_line in text.splitlines()[1:]:
        entry = raw_line.strip()
        if not entry or entry.startswith("#") or ":=" in entry:  # comments and key/value pairs
            continue
        key, sep, value = entry.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields, end


def _floats(text: str) -> list[float]:
    return [float(v) for v in re.split(r"[,\s]+", text.strip().strip("()")) if v]


def _directions(text: str) -> list[list[float] | None]:
    out: list[list[float] | None] = []
    for m in _VECTOR.finditer(text):
        out.append(None if m.group(1) is None else _floats(m.group(1)))
    return out


def _data_payload(
    raw: bytes, offset: int, fields: dict[str, str], path: Path, limits: ReadLimits
) -> tuple[bytes | memoryview, tuple[Path, ...], list[bytes]]:
    """Bytes holding the voxels: attached after the header, or from the detached data file."""
    name = path.name
    ref = fields.get("data file", fields.get("datafile"))
    if ref is None:
        return memoryview(raw)[offset:], (path,), []
    if ref.upper().startswith("LIST") or "%" in ref or len(ref.split()) > 1:
        raise UnsupportedFormatError(
            f"{name}: NRRD data split over several files ({ref!r}) is not supported: save a single .nrrd"
        )
    data_path = (path.parent / ref) if not Path(ref).is_absolute() else Path(ref)
    if not data_path.is_file():
        raise ScanReadError(f"{name}: the data file it names ({ref}) is missing")
    try:
        payload = read_bytes(data_path, limits)
    except ScanReadError as err:
        raise ScanReadError(f"{name}: {err}") from err
    line_skip = int(fields.get("line skip", fields.get("lineskip", "0")) or 0)
    start = 0
    for _ in range(line_skip):
        start = payload.index(b"\n", start) + 1
    return memoryview(payload)[start:], (path, data_path), [payload]


def load_nrrd(path: Path, limits: ReadLimits = DEFAULT_LIMITS, label: str | None = None) -> Scan:
    """Load an NRRD file (``.nrrd`` or ``.nhdr`` + data file) as a :class:`Scan`.

    Raises:
        ScanReadError: damaged or inconsistent file.
        UnsupportedFormatError: an encoding, type or layout this reader does not handle.
        InputTooLargeError: the header claims more voxels or bytes than ``limits`` allow.
    """
    name = path.name
    raw = read_bytes(path, limits)
    fields, offset = parse_nrrd_header(raw, name)
    try:
        dims = int(fields["dimension"])
        sizes = [int(v) for v in fields["sizes"].split()]
        type_name = " ".join(fields["type"].lower().split())
        encoding_name = fields["encoding"].lower()
    except KeyError as err:
        raise ScanReadError(f"{name}: NRRD header lacks the required field {err.args[0]!r}") from err
    except ValueError as err:
        raise ScanReadError(f"{name}: unreadable NRRD dimension or sizes ({err})") from err
    if len(sizes) != dims or any(s <= 0 for s in sizes):
        raise ScanReadError(f"{name}: NRRD sizes {sizes} do not match dimension {dims}")
    if type_name not in _TYPES:
        raise UnsupportedFormatError(f"{name}: NRRD type {type_name!r} is not supported")
    encoding = _ENCODINGS.get(encoding_name)
    if encoding is None:
        raise UnsupportedFormatError(
            f"{name}: NRRD encoding {encoding_name!r} is not supported (raw, gzip, bzip2, ascii and hex are)"
        )
    endian = ">" if fields.get("endian", "little").lower() == "big" else "<"
    dtype = np.dtype(endian + _TYPES[type_name])

    warnings: list[str] = []
    kinds = fields.get("kinds", "").split()
    directions = _directions(fields["space directions"]) if "space directions" in fields else []
    if directions and len(directions) == dims:
        spatial = [i for i in range(dims) if directions[i] is not None]
    elif len(kinds) == dims:
        spatial = [i for i in range(dims) if kinds[i].lower() in ("domain", "space")]
    else:
        spatial = list(range(min(dims, 3)))
    if not spatial or len(spatial) > 3:
        raise UnsupportedFormatError(f"{name}: NRRD with {len(spatial)} spatial axes is not supported")
    others = [i for i in range(dims) if i not in spatial]
    spatial_sizes = [sizes[i] for i in spatial]
    color = (
        len(spatial) == 2
        and len(others) == 1
        and sizes[others[0]] in (3, 4)
        and (
            len(kinds) != dims or kinds[others[0]].lower() in ("rgb-color", "rgba-color", "vector", "3-color")
        )
    )
    if len(spatial) == 3:
        check_voxels(name, spatial_sizes, limits)
    else:
        check_pixels_2d(name, spatial_sizes[0], spatial_sizes[-1], limits)

    payload, files, _keep = _data_payload(raw, offset, fields, path, limits)
    byte_skip = int(fields.get("byte skip", fields.get("byteskip", "0")) or 0)
    if byte_skip < 0 and encoding != "raw":
        byte_skip = 0
    flat = decode_block(
        payload,
        name=name,
        encoding=encoding,
        dtype=dtype,
        count=product(sizes),
        byte_skip=byte_skip,
        limits=limits,
    )
    sha = hashlib.sha256(raw).hexdigest() if len(files) == 1 else sha256_of_files(files)
    data = flat.reshape(sizes[::-1]).T  # axis 0 is the fastest in NRRD

    metadata: dict[str, object] = {"stored_dtype": dtype.newbyteorder("=").name}
    if color:
        img = np.moveaxis(data, others[0], -1)[..., :3]  # (x, y, 3)
        img = np.transpose(img, (1, 0, 2))  # rows = y, cols = x, as stored
        return Scan(
            slices=ArrayStack(img[np.newaxis]),
            spacing=(float("nan"),) * 3,
            dim="2d",
            axis="none",
            source=path,
            files=files,
            format="nrrd",
            metadata=metadata,
            warnings=tuple(warnings),
            sha256=sha,
            label=label or name,
        )
    if others:
        index = tuple(0 if i in others else slice(None) for i in range(dims))
        data = data[index]
        what = ", ".join(f"{sizes[i]} {kinds[i] if len(kinds) == dims else 'values'}" for i in others)
        warnings.append(f"{name}: NRRD has non-spatial axes ({what}): scored the first volume")
    if len(spatial) == 2:
        data = data[:, :, np.newaxis]

    affine: np.ndarray | None = None
    spacing_hint: tuple[float, float, float] | None = None
    if directions and len(directions) == dims:
        vecs = np.array([directions[i] for i in spatial], dtype=float).T  # (space dim, n spatial)
        space = fields.get("space", "").lower()
        signs = _SPACES.get(space)
        if signs is None:
            signs = (1, 1, 1)
            warnings.append(f"{name}: NRRD space {space or 'unnamed'!r} has no anatomical axes: assumed RAS")
        if vecs.shape[0] < 3:
            vecs = np.vstack([vecs, np.zeros((3 - vecs.shape[0], vecs.shape[1]))])
        norms = np.linalg.norm(vecs, axis=0)
        if np.any(~np.isfinite(norms)) or np.any(norms <= 0):
            raise ScanReadError(f"{name}: invalid NRRD space directions ({fields['space directions']})")
        origin = np.zeros(3)
        if "space origin" in fields:
            vals = _floats(fields["space origin"])
            origin[: min(3, len(vals))] = vals[:3]
        affine = affine_from_directions(vecs / norms, norms, origin)
        affine = np.diag([*signs, 1.0]) @ affine
    else:
        spacings = _floats(fields.get("spacings", "")) if "spacings" in fields else []
        picked = [
            spacings[i] if i < len(spacings) and math.isfinite(spacings[i]) else float("nan") for i in spatial
        ] + [float("nan")] * (3 - len(spatial))
        spacing_hint = (picked[0], picked[1], picked[2])
    return build_volume_scan(
        data,
        affine,
        path=path,
        files=files,
        fmt="nrrd",
        sha256=sha,
        label=label,
        warnings=warnings,
        metadata=metadata,
        spacing_hint=spacing_hint,
    )
