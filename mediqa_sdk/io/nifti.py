"""NIfTI-1 and NIfTI-2 single files (``.nii``, ``.nii.gz``) read with nibabel's header classes.

The file is read once; the same bytes give :attr:`Scan.sha256`. Only the header and the first volume are
inflated (with ``isal`` when installed), and the voxels stay in their stored dtype inside an
:class:`~mediqa_sdk.io._stack.ArrayStack` view that applies ``scl_slope``/``scl_inter`` per indexed slice.
Orientation follows the header's best affine (sform, else qform) and the display rules of
:mod:`mediqa_sdk.io._volume`.

Decisions:

- 4D (and higher) files: the first volume is scored and a warning says so (``4D NIfTI (t=25): scored the
  first volume``); a singleton 4th dimension is plain 3D. Quality of a time series or diffusion set is
  judged on its first volume, which is also what a radiographer checks first.
- NaN/Inf voxels are replaced by the finite minimum with a warning; a volume without finite voxels is an
  error.
- A zero, negative or NaN voxel size (pixdim) along a non-singleton axis is an error.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputTooLargeError, ScanReadError, UnsupportedFormatError
from ..scan import Scan
from ._files import GZIP_MAGIC, inflate, inflate_prefix, read_bytes
from ._limits import DEFAULT_LIMITS, ReadLimits, check_voxels
from ._volume import build_volume_scan

__all__ = ["load_nifti"]


def _parse_header(head: bytes, name: str) -> Any:
    """The nibabel NIfTI-1 or NIfTI-2 header class parsed from the first bytes of the file."""
    import nibabel as nib

    if len(head) < 348:
        raise ScanReadError(f"{name}: file is too short to hold a NIfTI header ({len(head)} bytes)")
    for endian in "<>":
        size = int(np.frombuffer(head[:4], dtype=endian + "i4")[0])
        if size == 348:
            if head[344:348] != b"n+1\x00":
                raise UnsupportedFormatError(
                    f"{name}: Analyze or NIfTI pair header (.hdr/.img): convert it to a single .nii.gz file"
                )
            return nib.Nifti1Header(binaryblock=head[:348], check=False)
        if size == 540 and len(head) >= 540:
            if head[4:8] != b"n+2\x00":
                raise UnsupportedFormatError(
                    f"{name}: NIfTI-2 pair header (.hdr/.img): convert it to a single .nii.gz file"
                )
            return nib.Nifti2Header(binaryblock=head[:540], check=False)
    raise ScanReadError(f"{name}: not a NIfTI file (no valid header size at the start)")


def _sha256_in_background(data: bytes, min_size: int = 8 << 20) -> Callable[[], str]:
    """Start hashing ``data``; return a function that waits for the hex digest.

    hashlib releases the GIL, so a thread hashes a large file while the caller inflates it; below
    ``min_size`` bytes the digest is computed at once (a thread would cost more than it saves).
    """
    if len(data) < min_size:
        digest = hashlib.sha256(data).hexdigest()
        return lambda: digest
    result: list[str] = []
    thread = threading.Thread(
        target=lambda: result.append(hashlib.sha256(data).hexdigest()), name="mediqa-sha256", daemon=True
    )
    thread.start()

    def wait() -> str:
        thread.join()
        return result[0]

    return wait


def load_nifti(path: Path, limits: ReadLimits = DEFAULT_LIMITS, label: str | None = None) -> Scan:
    """Load a NIfTI-1/2 file (plain or gzip) as a :class:`Scan`.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file (detected by content, any extension).
        limits: ceilings checked from the header before inflating.
        label: name for tables; the file name by default.

    Raises:
        ScanReadError: unreadable, truncated or inconsistent file.
        UnsupportedFormatError: NIfTI pair, RGB or complex data.
        InputTooLargeError: the header claims more voxels or bytes than ``limits`` allow.
    """
    name = path.name
    raw = read_bytes(path, limits)
    sha = _sha256_in_background(raw)  # overlaps the inflate below
    gz = raw[:2] == GZIP_MAGIC
    if gz:
        head = inflate_prefix(raw, 540)
        if len(head) < 348:
            inflate(raw[: min(len(raw), 1 << 16)], name, max_out=348)  # raises with the precise reason
            raise ScanReadError(f"{name}: gzip stream too short to hold a NIfTI header")
    else:
        head = raw[:540]
    hdr = _parse_header(head, name)

    try:
        shape = tuple(int(s) for s in hdr.get_data_shape())
        dtype = hdr.get_data_dtype()
    except Exception as err:
        raise ScanReadError(f"{name}: invalid NIfTI header ({err})") from err
    if not shape or any(s <= 0 for s in shape):
        raise ScanReadError(f"{name}: header gives an empty image (dimensions {shape})")
    if dtype.fields is not None:
        raise UnsupportedFormatError(f"{name}: RGB NIfTI images are not supported (save a greyscale volume)")
    if dtype.kind == "c":
        raise UnsupportedFormatError(
            f"{name}: complex-valued NIfTI (raw MR data) is not supported: save the magnitude image"
        )
    shape3 = (*shape, 1, 1, 1)[:3]
    extra = shape[3:]
    pixdim = [float(v) for v in hdr["pixdim"][1:4]]
    for i in range(min(3, len(shape))):
        if shape3[i] > 1 and not (math.isfinite(pixdim[i]) and pixdim[i] > 0):
            shown = ", ".join(f"{v:g}" for v in pixdim)
            raise ScanReadError(
                f"{name}: invalid voxel size in the header (pixdim {shown} mm): the file is damaged or was "
                "written wrongly"
            )
    check_voxels(name, shape3, limits)

    offset = int(hdr.get_data_offset()) or hdr.single_vox_offset
    nvox = math.prod(shape3)
    needed = offset + nvox * dtype.itemsize
    if needed > limits.max_file_bytes:
        raise InputTooLargeError(
            f"{name}: the first volume needs {needed / 2**30:.1f} GiB, above the limit "
            f"of {limits.max_file_bytes / 2**30:.1f} GiB"
        )
    buf = inflate(raw, name, max_out=needed) if gz else raw
    del raw
    if len(buf) < needed:
        raise ScanReadError(
            f"{name}: file ends before the image data does ({len(buf)} of {needed} bytes): "
            "the file is truncated"
        )
    data = np.frombuffer(buf, dtype=dtype, count=nvox, offset=offset).reshape(shape3, order="F")
    if 2 * nvox * dtype.itemsize < len(buf):  # an uncompressed 4D file: keep the first volume, not the file
        data = data.copy(order="F")
    del buf

    warnings: list[str] = []
    if math.prod(extra) > 1:
        if len(shape) == 4:
            warnings.append(f"{name}: 4D NIfTI (t={shape[3]}): scored the first volume")
        else:
            dims = "x".join(str(s) for s in shape)
            warnings.append(f"{name}: {len(shape)}D NIfTI ({dims}): scored the first volume")
    if int(hdr["sform_code"]) == 0 and int(hdr["qform_code"]) == 0:
        warnings.append(
            f"{name}: the header has no orientation (qform and sform codes are 0): "
            "assumed the Analyze convention, left-right may be flipped"
        )
    try:
        affine = np.asarray(hdr.get_best_affine(), dtype=float)
    except Exception as err:
        raise ScanReadError(f"{name}: invalid orientation in the header ({err})") from err
    slope, inter = hdr.get_slope_inter()
    slope = 1.0 if slope is None else float(slope)
    inter = 0.0 if inter is None else float(inter)
    if not (math.isfinite(slope) and math.isfinite(inter)):
        slope, inter = 1.0, 0.0
    try:
        slice_dim = hdr.get_dim_info()[2]
    except Exception:
        slice_dim = None
    metadata: dict[str, object] = {"stored_dtype": dtype.newbyteorder("=").name}
    descrip = bytes(hdr["descrip"].item()).split(b"\x00")[0]
    text = descrip.decode("latin-1", errors="replace").strip()
    if text:
        metadata["description"] = text
    return build_volume_scan(
        data,
        affine,
        path=path,
        files=(path,),
        fmt="nifti",
        sha256=sha(),
        label=label,
        warnings=warnings,
        metadata=metadata,
        slope=slope,
        intercept=inter,
        slice_axis_hint=slice_dim,
    )
