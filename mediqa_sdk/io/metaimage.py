"""MetaImage (``.mha`` with the data attached, ``.mhd`` with a separate data file), a small numpy reader.

Supported: ``NDims`` 2-4, the ``MET_*`` element types (``MET_LONG`` is 32-bit as ITK writes it), byte order,
``CompressedData`` (zlib), ``HeaderSize`` (including ``-1``), ``ElementSpacing``/``ElementSize``,
``Offset``/``Position``/``Origin`` and ``TransformMatrix``/``Rotation``/``Orientation`` (ITK's LPS world).
A 4th dimension and multi-channel elements are reduced to the first volume / channel with a warning.
Not supported (clear error): ``ElementDataFile = LIST`` and filename patterns (one file per slice).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from ..errors import ScanReadError, UnsupportedFormatError
from ..scan import Scan
from ._files import read_bytes, sha256_of_files
from ._limits import DEFAULT_LIMITS, ReadLimits, check_pixels_2d, check_voxels
from ._rawdata import decode_block, product
from ._volume import affine_from_directions, build_volume_scan, lps_to_ras

__all__ = ["load_metaimage", "parse_metaimage_header"]

_TYPES = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_MAX_HEADER = 1 << 20
_TRUE = ("true", "1", "yes")


def parse_metaimage_header(raw: bytes, name: str) -> tuple[dict[str, str], int]:
    """Fields (keys lower-cased) of a MetaImage header and the offset just after ``ElementDataFile``.

    Raises:
        ScanReadError: no ``ElementDataFile`` line (the header is incomplete).
    """
    fields: dict[str, str] = {}
    pos = 0
    limit = min(len(raw), _MAX_HEADER)
    while pos < limit:
        nl = raw.find(b"\n", pos, limit)
        end = nl if nl >= 0 else limit
        line = raw[pos:end].decode("latin-1").strip()
        pos = end + 1
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ScanReadError(f"{name}: not a MetaImage header line: {line[:60]!r}")
        key = key.strip().lower()
        fields[key] = value.strip()
        if key == "elementdatafile":
            return fields, min(pos, len(raw))
    raise ScanReadError(f"{name}: MetaImage header without an ElementDataFile line (incomplete header)")


def _floats(text: str, name: str, key: str) -> list[float]:
    try:
        return [float(v) for v in text.split()]
    except ValueError as err:
        raise ScanReadError(f"{name}: unreadable MetaImage {key} ({text!r})") from err


def load_metaimage(path: Path, limits: ReadLimits = DEFAULT_LIMITS, label: str | None = None) -> Scan:
    """Load a MetaImage file (``.mha``, or ``.mhd`` + its data file) as a :class:`Scan`.

    Raises:
        ScanReadError: damaged or inconsistent file.
        UnsupportedFormatError: an element type or data layout this reader does not handle.
        InputTooLargeError: the header claims more voxels or bytes than ``limits`` allow.
    """
    name = path.name
    raw = read_bytes(path, limits)
    fields, offset = parse_metaimage_header(raw, name)
    try:
        ndims = int(fields["ndims"])
        sizes = [int(v) for v in fields["dimsize"].split()]
        type_name = fields["elementtype"].upper()
        data_file = fields["elementdatafile"]
    except KeyError as err:
        raise ScanReadError(f"{name}: MetaImage header lacks the required field {err.args[0]!r}") from err
    except ValueError as err:
        raise ScanReadError(f"{name}: unreadable MetaImage NDims or DimSize ({err})") from err
    if len(sizes) != ndims or ndims < 2 or any(s <= 0 for s in sizes):
        raise ScanReadError(f"{name}: MetaImage DimSize {sizes} does not match NDims {ndims}")
    if ndims > 4:
        raise UnsupportedFormatError(f"{name}: {ndims}D MetaImage is not supported")
    if type_name not in _TYPES:
        raise UnsupportedFormatError(f"{name}: MetaImage element type {type_name!r} is not supported")
    msb = fields.get("elementbyteordermsb", fields.get("binarydatabyteordermsb", "false")).lower() in _TRUE
    dtype = np.dtype((">" if msb else "<") + _TYPES[type_name])
    channels = int(fields.get("elementnumberofchannels", "1") or 1)
    if fields.get("binarydata", "true").lower() not in _TRUE:
        raise UnsupportedFormatError(f"{name}: text (BinaryData = False) MetaImage is not supported")

    spatial = sizes[:3]
    if len(spatial) == 3:
        check_voxels(name, spatial, limits)
    else:
        check_pixels_2d(name, spatial[0], spatial[1], limits)

    files: tuple[Path, ...] = (path,)
    if data_file.upper() == "LOCAL":
        payload: bytes | memoryview = memoryview(raw)[offset:]
        header_size = 0
    else:
        if data_file.upper().startswith("LIST") or "%" in data_file or len(data_file.split()) > 1:
            raise UnsupportedFormatError(
                f"{name}: MetaImage data split over several files ({data_file!r}) is not supported"
            )
        data_path = path.parent / data_file
        if not data_path.is_file():
            raise ScanReadError(f"{name}: the data file it names ({data_file}) is missing")
        try:
            payload = read_bytes(data_path, limits)
        except ScanReadError as err:
            raise ScanReadError(f"{name}: {err}") from err
        files = (path, data_path)
        header_size = int(fields.get("headersize", "0") or 0)
    compressed = fields.get("compresseddata", "false").lower() in _TRUE
    count = product(sizes) * channels
    flat = decode_block(
        payload,
        name=name,
        encoding="zlib" if compressed else "raw",
        dtype=dtype,
        count=count,
        byte_skip=header_size if not compressed else max(header_size, 0),
        limits=limits,
    )
    sha = hashlib.sha256(raw).hexdigest() if len(files) == 1 else sha256_of_files(files)
    data = flat.reshape((*sizes[::-1], channels))  # (t, z, y, x, c): x fastest
    data = np.transpose(data[..., 0], tuple(range(ndims))[::-1])  # (x, y, z[, t])
    warnings: list[str] = []
    if channels > 1:
        warnings.append(f"{name}: {channels} values per voxel: scored the first")
    if ndims == 4:
        if sizes[3] > 1:
            warnings.append(f"{name}: 4D MetaImage (t={sizes[3]}): scored the first volume")
        data = data[..., 0]
    if ndims == 2:
        data = data[:, :, np.newaxis]

    n = min(ndims, 3)
    spacing = fields.get("elementspacing", fields.get("elementsize"))
    vox = _floats(spacing, name, "ElementSpacing")[:n] if spacing else [1.0] * n
    if len(vox) < n or not all(math.isfinite(v) and v > 0 for v in vox):
        raise ScanReadError(f"{name}: invalid voxel size in the header (ElementSpacing {spacing})")
    matrix_text = next(
        (fields[k] for k in ("transformmatrix", "rotation", "orientation") if k in fields), None
    )
    if matrix_text is not None:
        values = _floats(matrix_text, name, "TransformMatrix")
        if len(values) < ndims * ndims:
            raise ScanReadError(
                f"{name}: MetaImage TransformMatrix has {len(values)} values, needs {ndims**2}"
            )
        # ITK: consecutive groups of NDims values are the directions of image axes 0, 1, 2
        dirs = np.array(values[: ndims * ndims]).reshape(ndims, ndims).T[:n, :n]
    else:
        dirs = np.eye(n)
    origin_text = next((fields[k] for k in ("offset", "position", "origin") if k in fields), None)
    origin = np.zeros(3)
    if origin_text is not None:
        vals = _floats(origin_text, name, "Offset")
        origin[: min(3, len(vals))] = vals[:3]
    if n == 2:
        dirs = np.vstack([dirs, np.zeros((1, 2))])
    affine = lps_to_ras(affine_from_directions(dirs, np.array(vox), origin))
    metadata: dict[str, object] = {"stored_dtype": dtype.newbyteorder("=").name}
    if not spacing:
        warnings.append(f"{name}: the header gives no voxel size: 1 mm assumed")
    return build_volume_scan(
        data,
        affine,
        path=path,
        files=files,
        fmt="metaimage",
        sha256=sha,
        label=label,
        warnings=warnings,
        metadata=metadata,
    )
