"""DICOM: single files, series of files, enhanced multi-frame objects and Siemens/UIH mosaics.

How a series becomes a :class:`Scan`:

1. **Headers first.** Every file's header is read with its pixel data deferred (read from the file only
   when decoded), once: the header that discovery parsed is reused while the file is unchanged
   (:mod:`._header_cache`); a ``.dcm.gz`` file is inflated in memory. Each file yields frames: one for a
   classic image, one per frame of a multi-frame object (position, orientation, spacing and rescale from
   the per-frame or shared functional groups), one per tile of a mosaic (Siemens:
   ``NumberOfImagesInMosaic`` from (0019,100A) or the CSA header, slice normal from the CSA header; UIH:
   the ``VFRAME`` private per-slice positions).
2. **Geometry.** Frames are grouped by orientation and size (the largest group is kept, with a warning if
   there were others) and sorted by their position along the slice normal ``n = row_cosine x col_cosine``,
   i.e. by ``ImagePositionPatient . n``, never by InstanceNumber. Frames sharing a position: if every position
   holds the same number ``k`` of frames the series is 4D (diffusion directions, time points, echoes) and the
   first volume (lowest instance / frame number at each position) is kept; otherwise repeated positions are
   dropped. Either way a warning says so. The slice spacing is the median step between sorted positions;
   steps that are a whole multiple of it are reported as missing slices, other deviations above 10 % as
   non-uniform spacing, and a stack whose positions drift off the normal (gantry tilt) is reported too.
3. **Pixels lazily.** Nothing is decoded until a slice is indexed; then the one file/frame is decoded with
   pydicom, rescaled (``RescaleSlope``/``RescaleIntercept``, so CT is in HU; a Modality LUT Sequence is
   applied with :func:`pydicom.pixels.apply_modality_lut`), MONOCHROME1 inverted over the stored range, and
   returned as float32. A missing codec for a compressed transfer syntax is detected before any decoding.

Display orientation is the stored row/column order, which is what DICOM viewers show. Colour images (RGB,
YBR, palette) become 2D colour scans (first frame only, with a warning for multi-frame colour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MediqaError, MissingDependencyError, ScanReadError, UnsupportedFormatError
from ..scan import Scan
from . import _header_cache
from ._dicom_frames import Frame, Source, as_float, frames_of, stored_range
from ._dicom_meta import (
    check_image_header,
    deferred_element,
    find_value,
    pixel_data_shortfall,
    read_header,
    series_metadata,
)
from ._files import sha256_of_files
from ._limits import DEFAULT_LIMITS, ReadLimits, check_file_size, check_pixels_2d, check_voxels
from ._stack import LazyStack
from ._volume import axis_name

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["load_dicom"]

_POSITION_TOL_MM = 0.01
_ORIENTATION_TOL = 0.01
_TILT_WARN_DEG = 1.0
_CODEC_HINT = 'pip install "mediqa-sdk[dicom]"'
_NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})  # implicit / explicit VR
_PIXEL_DATA_TAG = 0x7FE00010


def _largest_group(frames: list[Frame], name: str, warnings: list[str]) -> list[Frame]:
    """Keep the frames of the most common (orientation, size); say so when others were left out."""
    groups: list[tuple[tuple[int, int], np.ndarray | None, list[Frame]]] = []
    for f in frames:
        for size, ori, members in groups:
            same_ori = (ori is None and f.orientation is None) or (
                ori is not None
                and f.orientation is not None
                and float(np.max(np.abs(ori - f.orientation))) < _ORIENTATION_TOL
            )
            if size == (f.rows, f.cols) and same_ori:
                members.append(f)
                break
        else:
            groups.append(((f.rows, f.cols), f.orientation, [f]))
    if len(groups) == 1:
        return frames
    groups.sort(key=lambda g: -len(g[2]))
    kept = groups[0][2]
    warnings.append(
        f"{name}: the series mixes {len(groups)} image orientations or sizes (e.g. a localizer): scored the "
        f"{len(kept)} slices of the largest group ({kept[0].rows}x{kept[0].cols}), "
        f"ignored {len(frames) - len(kept)}"
    )
    return kept


def _arrange(
    frames: list[Frame], name: str, warnings: list[str], headers: Sequence[Dataset]
) -> tuple[list[Frame], float, str]:
    """Sort frames along the slice normal, resolve repeated positions, and measure the slice spacing.

    Returns:
        The kept frames in slice order, the slice spacing (mm, ``nan`` if unknown) and the axis name.
    """
    # the same instance twice (copies of one file, one image in several transfer syntaxes)
    seen: set[tuple[str, int | None, int | None]] = set()
    unique = []
    for f in sorted(frames, key=lambda f: (f.order, f.source)):
        key = (f.sop_uid, f.frame, f.tile)
        if f.sop_uid and key in seen:
            continue
        seen.add(key)
        unique.append(f)
    if len(unique) < len(frames):
        dup_files = len({f.source for f in frames}) - len({f.source for f in unique})
        warnings.append(f"{name}: {dup_files} duplicate files (same SOP Instance UID) ignored")
    frames = _largest_group(unique, name, warnings)

    thickness = as_float(headers[frames[0].source].get("SpacingBetweenSlices"), math.nan)
    if not math.isfinite(thickness):
        thickness = as_float(find_value(headers[frames[0].source], "SliceThickness"), math.nan)

    ori = frames[0].orientation
    normal = np.cross(ori[:3], ori[3:]) if ori is not None else np.zeros(3)
    if ori is None or np.linalg.norm(normal) < 1e-6 or any(f.position is None for f in frames):
        frames = sorted(frames, key=lambda f: f.order)
        if len(frames) > 1:
            warnings.append(f"{name}: no slice positions in the header: slices kept in instance/frame order")
        return frames, thickness, axis_name(normal) if ori is not None else "none"

    normal /= np.linalg.norm(normal)
    dist = np.array([f.position for f in frames], dtype=float) @ normal
    order = sorted(range(len(frames)), key=lambda i: (dist[i], frames[i].order))
    clusters: list[list[int]] = []
    for i in order:
        if clusters and dist[i] - dist[clusters[-1][0]] <= _POSITION_TOL_MM:
            clusters[-1].append(i)
        else:
            clusters.append([i])
    counts = [len(c) for c in clusters]
    kept = [min(c, key=lambda i: frames[i].order) for c in clusters]
    if max(counts) > 1:
        if min(counts) == max(counts):
            warnings.append(
                f"{name}: the series holds {counts[0]} volumes at the same {len(clusters)} slice positions "
                "(4D: e.g. diffusion directions, time points or echoes): scored the first volume"
            )
        else:
            warnings.append(
                f"{name}: {len(frames) - len(clusters)} slices at repeated positions dropped (kept the first "
                "at each position)"
            )
    out = [frames[i] for i in kept]
    d = np.array([dist[i] for i in kept])
    axis = axis_name(normal)
    if len(out) == 1:
        return out, thickness, axis

    steps = np.diff(d)
    median = float(np.median(steps))
    missing = [
        (k, s) for k, s in enumerate(steps) if s > 1.5 * median and abs(s / median - round(s / median)) < 0.15
    ]
    missing_at = {k for k, _ in missing}
    irregular = [s for k, s in enumerate(steps) if k not in missing_at and abs(s - median) > 0.1 * median]
    if missing:
        n_missing = sum(round(s / median) - 1 for _, s in missing)
        k, s = missing[0]
        more = f" (and {len(missing) - 1} more gaps)" if len(missing) > 1 else ""
        warnings.append(
            f"{name}: {n_missing} missing slice(s): gap of {s:.2f} mm between slices {k} and {k + 1} "
            f"where the spacing is {median:.2f} mm{more}"
        )
    if irregular:
        warnings.append(
            f"{name}: non-uniform slice spacing ({steps.min():.2f} to {steps.max():.2f} mm): "
            f"spacing reported as the median, {median:.2f} mm"
        )
    first, last = out[0].position, out[-1].position
    if first is None or last is None:  # excluded above; keeps the type checker informed
        return out, median, axis
    span = last - first
    length = float(np.linalg.norm(span))
    tilt = math.degrees(math.acos(min(1.0, abs(float(np.dot(span, normal))) / length))) if length > 0 else 0.0
    tag_tilt = abs(as_float(headers[out[0].source].get("GantryDetectorTilt"), 0.0))
    if tilt > _TILT_WARN_DEG or tag_tilt > _TILT_WARN_DEG:
        angle = max(tilt, tag_tilt)
        warnings.append(
            f"{name}: gantry tilt of {angle:.1f} degrees (slices are sheared): slices used as acquired, "
            "not resampled"
        )
    return out, median, axis


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _check_codecs(sources: Sequence[Source], used: set[int], name: str) -> None:
    """Refuse early when a compressed transfer syntax has no installed decoder."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    for ts in sorted({sources[i].transfer_syntax for i in used}):
        if not ts:
            continue
        uid = UID(ts)
        try:
            decoder = get_decoder(uid)
        except NotImplementedError as err:
            raise UnsupportedFormatError(
                f"{name}: DICOM transfer syntax {uid.name} ({ts}) cannot be decoded"
            ) from err
        if uid.is_compressed and not decoder.is_available:
            raise MissingDependencyError(
                f"{name}: compressed DICOM ({uid.name}) needs a codec: {_CODEC_HINT}"
            )


class _Decoder:
    """Decodes one frame to float32 in physical units (rescaled, MONOCHROME1 inverted)."""

    def __init__(self, sources: list[Source], frames: list[Frame], color: bool) -> None:
        self._sources = sources
        self._frames = frames
        self._color = color
        self._mosaic: tuple[int, np.ndarray] | None = None

    def _pixels(self, source: int, frame: int | None) -> np.ndarray:
        from pydicom.pixels import pixel_array

        src = self._sources[source]
        try:
            if src.multi_frame and src.transfer_syntax:
                # the dataset parsed at load time (its pixel data deferred): functional groups parsed once
                return pixel_array(src.header, index=frame)
            try:
                return pixel_array(src.open(), index=frame if src.multi_frame else None)
            except (ValueError, AttributeError, KeyError, EOFError):
                # reading the file again trusts its transfer syntax; the data set parsed at load time was read
                # as pydicom found it encoded (e.g. an implicit VR body under an explicit VR file meta)
                return pixel_array(src.header, index=frame if src.multi_frame else None)
        except MediqaError:
            raise
        except RuntimeError as err:
            if "missing dependencies" in str(err):
                from pydicom.uid import UID

                ts = UID(src.transfer_syntax).name if src.transfer_syntax else "unknown transfer syntax"
                raise MissingDependencyError(
                    f"{src.path.name}: compressed DICOM ({ts}) needs a codec: {_CODEC_HINT}"
                ) from err
            raise ScanReadError(f"{src.path.name}: pixel data could not be decoded ({err})") from err
        except Exception as err:
            raise ScanReadError(f"{src.path.name}: pixel data could not be decoded ({err})") from err

    def __call__(self, i: int) -> np.ndarray:
        f = self._frames[i]
        src = self._sources[f.source]
        if f.tile is not None and src.mosaic_grid is not None:
            if self._mosaic is None or self._mosaic[0] != f.source:
                self._mosaic = (f.source, self._pixels(f.source, None))
            tile_rows, tile_cols, per_row = src.mosaic_grid
            r0, c0 = (f.tile // per_row) * tile_rows, (f.tile % per_row) * tile_cols
            arr = self._mosaic[1][r0 : r0 + tile_rows, c0 : c0 + tile_cols]
        else:
            arr = self._pixels(f.source, f.frame)
        if self._color:
            if src.photometric == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                arr = apply_color_lut(arr, src.header)
            return np.asarray(arr, dtype=np.float32)
        if arr.ndim == 3:  # a grey series whose file holds 3 samples: keep the first
            arr = arr[..., 0]
        header = src.header
        if header.get("ModalityLUTSequence") and f.frame is None:
            from pydicom.pixels import apply_modality_lut

            out = np.asarray(apply_modality_lut(arr, header), dtype=np.float32)
            if src.photometric == "MONOCHROME1":
                depth = int(header.ModalityLUTSequence[0].LUTDescriptor[2])
                out = np.float32(2**depth - 1) - out
            return out
        return self._rescaled(arr, i)

    def preview(self, i: int, step: int) -> np.ndarray | None:
        """``self(i)[::step, ::step]`` read straight from the pixel bytes of a native (uncompressed, little
        endian) single-frame grey image, without decoding the whole slice; ``None`` for any other image.

        The values are identical to the full decode: pydicom's unused-bits correction (shift left, then back
        right) and the same rescale are applied to the subsampled pixels.
        """
        f = self._frames[i]
        src = self._sources[f.source]
        if self._color or f.tile is not None or src.multi_frame or src.samples != 1:
            return None
        if src.transfer_syntax not in _NATIVE_LITTLE_ENDIAN:
            return None
        header = src.header
        # the deferred (not yet read) element knows where its value starts in the file
        raw = deferred_element(header, _PIXEL_DATA_TAG)
        value = getattr(raw, "value", None)
        held_bytes = value if isinstance(value, (bytes, bytearray)) else None  # small images are not deferred
        offset = getattr(raw, "value_tell", None)
        if held_bytes is None and (value is not None or not isinstance(offset, int)):
            return None
        if header.get("ModalityLUTSequence"):
            return None
        bits = int(as_float(header.get("BitsAllocated"), 0))
        stored = int(as_float(header.get("BitsStored"), bits))
        if bits not in (8, 16) or not 1 <= stored <= bits:
            return None
        signed = int(as_float(header.get("PixelRepresentation"), 0)) == 1
        dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
        nbytes = f.rows * f.cols * dtype.itemsize
        held = len(held_bytes) if held_bytes is not None else int(getattr(raw, "length", 0) or 0)
        if held < nbytes:
            return None
        buf: bytes | memoryview
        if held_bytes is not None:
            buf = memoryview(held_bytes)[:nbytes]
        elif not isinstance(offset, int):
            return None
        elif src.data is not None:
            buf = memoryview(src.data)[offset : offset + nbytes]
        else:
            try:
                with src.path.open("rb") as fh:
                    fh.seek(offset)
                    buf = fh.read(nbytes)
            except OSError:
                return None
        if len(buf) < nbytes:
            return None
        arr = np.frombuffer(buf, dtype=dtype, count=f.rows * f.cols).reshape(f.rows, f.cols)[::step, ::step]
        if stored < bits:
            arr = arr.copy()
            np.left_shift(arr, bits - stored, out=arr)
            np.right_shift(arr, bits - stored, out=arr)
        return self._rescaled(arr, i)

    def _rescaled(self, arr: np.ndarray, i: int) -> np.ndarray:
        """Stored grey values of frame ``i`` to float32 physical units (MONOCHROME1 inverted, rescaled)."""
        f = self._frames[i]
        src = self._sources[f.source]
        out = arr.astype(np.float32)
        if src.photometric == "MONOCHROME1":
            lo, hi = src.stored_range
            out = np.float32(lo + hi) - out
        if f.slope != 1.0:
            out *= np.float32(f.slope)
        if f.intercept != 0.0:
            out += np.float32(f.intercept)
        return out


def load_dicom(
    files: Sequence[Path],
    *,
    source: Path | None = None,
    label: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Scan:
    """Load one DICOM file or the files of one series as a :class:`Scan` (pixels decoded lazily).

    Args:
        files: the file(s); a single file may be multi-frame, a mosaic or a ``.dcm.gz``.
        source: what the scan came from (the series directory or the file); the first file by default.
        label: name for tables and messages; the file or directory name by default.
        limits: ceilings checked from the headers before decoding.

    Raises:
        ScanReadError: unreadable file, no pixel data, inconsistent geometry.
        MissingDependencyError: a compressed transfer syntax without an installed codec.
        UnsupportedFormatError: a transfer syntax pydicom cannot decode at all.
        InputTooLargeError: more voxels or bytes than ``limits`` allow.
    """
    if not files:
        raise ScanReadError(f"{label or source}: no DICOM files given")
    paths = [Path(p) for p in files]
    origin = source or (paths[0] if len(paths) == 1 else paths[0].parent)
    name = label or origin.name

    sources: list[Source] = []
    frames: list[Frame] = []
    headers: list[Dataset] = []
    no_pixels: list[tuple[Path, str]] = []
    for path in paths:
        cached = _header_cache.take(path)  # parsed by discovery: each header is parsed once
        size: int | None
        if cached is not None:
            ds, data, size = cached[0], None, cached[1]
            check_file_size(path, cached[1], limits)
        else:
            ds, data = read_header(path, limits)
            size = len(data) if data is not None else _file_size(path)
        if len(ds) == 0:
            raise ScanReadError(
                f"{path.name}: no DICOM data set after the file meta header: the file is truncated or damaged"
            )
        if not ds.get("Rows") or not ds.get("Columns"):
            no_pixels.append((path, str(ds.get("Modality", "") or "unknown")))
            continue
        check_image_header(path.name, ds, limits)  # before making one record per claimed frame
        short = pixel_data_shortfall(ds, size)
        if short is not None:
            raise ScanReadError(
                f"{path.name}: the pixel data hold {short[0]} bytes where the header's image needs "
                f"{short[1]}: the file is truncated or damaged"
            )
        meta = getattr(ds, "file_meta", None)
        ts = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
        src = Source(
            path=path,
            header=ds,
            data=data,
            transfer_syntax=ts,
            photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
            .strip()
            .upper(),
            samples=int(ds.get("SamplesPerPixel", 1) or 1),
            stored_range=stored_range(ds),
            multi_frame=int(as_float(ds.get("NumberOfFrames", 1), 1) or 1) > 1,
        )
        sources.append(src)
        headers.append(ds)
        frames.extend(frames_of(len(sources) - 1, src, ds, path.name))
    if not sources:
        path, modality = no_pixels[0]
        who = path.name if len(paths) == 1 else name
        raise ScanReadError(f"{who}: DICOM without pixel data (Modality {modality}): nothing to score")
    warnings: list[str] = []
    if no_pixels:
        warnings.append(f"{name}: {len(no_pixels)} DICOM objects without pixel data ignored")

    color = sources[frames[0].source].samples == 3 or sources[frames[0].source].photometric == "PALETTE COLOR"
    if color:
        frames = sorted(frames, key=lambda f: (f.order, f.source))
        if len(frames) > 1:
            warnings.append(f"{name}: colour DICOM with {len(frames)} frames: scored the first frame")
        kept, slice_spacing, axis = frames[:1], math.nan, "none"
    else:
        kept, slice_spacing, axis = _arrange(frames, name, warnings, headers)

    first = kept[0]
    rows, cols = first.rows, first.cols
    if color:
        check_pixels_2d(name, cols, rows, limits)
    else:
        check_voxels(name, (len(kept), rows, cols), limits)
    used_sources = [f.source for f in kept]
    _check_codecs(sources, set(used_sources), name)

    used_files = tuple(dict.fromkeys(sources[i].path for i in used_sources))
    sha = sha256_of_files(used_files)
    decoder = _Decoder(sources, kept, color)
    shape = (len(kept), rows, cols, 3) if color else (len(kept), rows, cols)
    stack = LazyStack(shape, decoder, preview=decoder.preview)
    pixel_spacing = first.pixel_spacing or (math.nan, math.nan)
    stated = headers[first.source].get("PixelSpacing")
    if first.pixel_spacing is None and stated is not None:
        values = stated if isinstance(stated, Sequence) and not isinstance(stated, (str, bytes)) else [stated]
        shown = ", ".join(str(v) for v in values)
        warnings.append(f"{name}: invalid PixelSpacing ({shown}) in the header: the pixel size is unknown")

    header = headers[first.source]
    metadata = series_metadata(header)
    bits = int(header.get("BitsAllocated", 16) or 16)
    signed = int(header.get("PixelRepresentation", 0) or 0) == 1
    metadata["stored_dtype"] = (
        f"{'int' if signed else 'uint'}{bits}" if bits in (8, 16, 32) else f"{bits}-bit"
    )
    metadata["sop_instance_uids"] = tuple(f.sop_uid for f in kept)
    if len(kept) == 1 and not math.isfinite(slice_spacing):
        slice_spacing = as_float(first.extra.get("thickness"), math.nan)
    is_file = len(paths) == 1
    return Scan(
        slices=stack,
        spacing=(float(slice_spacing), float(pixel_spacing[0]), float(pixel_spacing[1])),
        dim="3d" if len(kept) > 1 else "2d",
        axis=axis,
        source=origin,
        files=used_files,
        format="dicom",
        metadata=metadata,
        warnings=tuple(warnings),
        sha256=sha,
        label=label or (paths[0].name if is_file else origin.name),
    )
