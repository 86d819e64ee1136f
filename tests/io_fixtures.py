"""Builders of tiny synthetic image files with known geometry, for the loader tests (and the lead's tests).

Every function writes into a path the caller gives (usually under ``tmp_path``) and returns what it wrote.
Geometry conventions: NIfTI affines are voxel -> RAS+ mm; DICOM positions/orientations are in LPS, as the
standard says. ``volume[k, r, c]`` in the DICOM builders is slice ``k`` (along the slice normal
``row_cosine x col_cosine``), row ``r``, column ``c``.
"""

from __future__ import annotations

import gzip
import random
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)

_UID_ROOT = "1.2.826.0.1.3680043.8.498."


def new_uid(seed: int | None = None) -> str:
    """A DICOM UID under the pydicom example root (deterministic when ``seed`` is given)."""
    rng = random.Random(seed)
    return _UID_ROOT + ".".join(str(rng.randint(1, 10**9)) for _ in range(3))


# ---------------------------------------------------------------- NIfTI


def marker_volume(
    shape: Sequence[int], marker: Sequence[int], value: float = 1000.0, dtype: type = np.int16
) -> np.ndarray:
    """Zeros of ``shape`` with one voxel at ``marker`` set to ``value``."""
    vol = np.zeros(tuple(shape), dtype=dtype)
    vol[tuple(marker)] = value
    return vol


def write_nifti(
    path: Path,
    array: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    slope: float | None = None,
    inter: float | None = None,
    nifti2: bool = False,
    slice_dim: int | None = None,
) -> Path:
    """Write ``array`` (voxel order i, j, k[, t]) as NIfTI; gzip when the name ends in ``.gz``.

    Any file name works (the format is not taken from the extension); parent folders are created.
    """
    import nibabel as nib

    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(np.asarray(array), affine)
    img.header.set_data_dtype(np.asarray(array).dtype)
    if slope is not None or inter is not None:
        img.header.set_slope_inter(1.0 if slope is None else slope, 0.0 if inter is None else inter)
    if slice_dim is not None:
        img.header.set_dim_info(slice=slice_dim)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = img.to_bytes()
    path.write_bytes(gzip.compress(raw, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def patch_nifti_pixdim(path: Path, pixdim: Sequence[float]) -> Path:
    """Overwrite ``pixdim[1:1+len]`` of an uncompressed NIfTI-1 file (to make broken headers)."""
    raw = bytearray(Path(path).read_bytes())
    for k, value in enumerate(pixdim):
        struct.pack_into("<f", raw, 80 + 4 * k, float(value))
    Path(path).write_bytes(bytes(raw))
    return Path(path)


def write_nifti_header_only(path: Path, shape: Sequence[int], dtype: type = np.int16) -> Path:
    """A NIfTI-1 header claiming ``shape`` followed by no voxel data at all (header-claims-huge tests)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(tuple(shape))
    hdr.set_data_dtype(dtype)
    hdr.set_zooms((1.0,) * len(shape))
    hdr["vox_offset"] = 352
    hdr.set_sform(np.eye(4), code=1)
    raw = hdr.binaryblock + b"\x00" * 4
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw)
    Path(path).write_bytes(raw)
    return Path(path)


# ---------------------------------------------------------------- DICOM


def _base_dataset(
    modality: str,
    sop_class: str,
    rows: int,
    cols: int,
    *,
    series_uid: str,
    study_uid: str,
    series_number: int,
    description: str,
    photometric: str,
    dtype: np.dtype,
    samples: int = 1,
    bits_stored: int | None = None,
):  # type: ignore[no-untyped-def]
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesNumber = series_number
    if description:
        ds.SeriesDescription = description
    ds.PatientName = "Test^Phantom"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    itemsize = np.dtype(dtype).itemsize
    ds.BitsAllocated = 8 * itemsize
    ds.BitsStored = bits_stored or 8 * itemsize
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if np.dtype(dtype).kind == "i" else 0
    return ds


def _save(ds, path: Path, *, gz: bool = False, preamble: bool = True) -> Path:  # type: ignore[no-untyped-def]
    path = Path(path)
    if not preamble:
        from io import BytesIO

        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=False, implicit_vr=False, little_endian=True)
        data = buf.getvalue()
    else:
        from io import BytesIO

        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_dicom_series(
    directory: Path,
    volume: np.ndarray,
    spacing: Sequence[float] = (2.0, 0.5, 0.5),
    *,
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (-50.0, -60.0, 10.0),
    modality: str = "CT",
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    shuffle_names: bool = True,
    shuffle_instances: bool = False,
    series_uid: str | None = None,
    study_uid: str | None = None,
    series_number: int = 1,
    description: str = "",
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    skip_slices: Sequence[int] = (),
    positions: Sequence[Sequence[float]] | None = None,
    instance_numbers: Sequence[int] | None = None,
    prefix: str = "IM",
    seed: int = 0,
    extra: dict[str, object] | None = None,
    compress: str | None = None,
    gz: bool = False,
) -> list[Path]:
    """Write one DICOM file per slice of ``volume`` (stored values, its dtype) with known geometry.

    Args:
        directory: created if missing.
        volume: ``(n, rows, cols)`` stored pixel values (``int16``/``uint16``/``uint8``).
        spacing: ``(slice, row, col)`` in mm; ``PixelSpacing`` is ``(row, col)``.
        orientation: ImageOrientationPatient (row cosine, column cosine), LPS.
        origin: ImagePositionPatient of slice 0.
        modality: Modality tag.
        slope: RescaleSlope (``None``: tag absent).
        intercept: RescaleIntercept (``None``: tag absent).
        shuffle_names: file names in a random order unrelated to the slice order.
        shuffle_instances: InstanceNumbers in a random order too (sorting must use positions).
        series_uid: SeriesInstanceUID (new one by default).
        study_uid: StudyInstanceUID (new one by default).
        series_number: SeriesNumber.
        description: SeriesDescription.
        photometric: PhotometricInterpretation (``MONOCHROME1`` to test inversion).
        bits_stored: BitsStored (default: all bits).
        skip_slices: slice indices not written (missing-slice tests).
        positions: explicit ImagePositionPatient per slice (overrides ``origin``/``spacing``).
        instance_numbers: explicit InstanceNumber per slice.
        prefix: file name prefix.
        seed: for the shuffles and UIDs.
        extra: more DICOM keywords to set on every file (``{"KVP": 120}``).
        compress: a transfer syntax UID to compress to with pydicom (e.g. RLE Lossless).
        gz: write ``.dcm.gz`` files.

    Returns:
        The written paths, in slice order.
    """
    from pydicom.uid import CTImageStorage, MRImageStorage

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    n, rows, cols = volume.shape[:3]
    row_cos, col_cos = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row_cos, col_cos)
    series_uid = series_uid or new_uid(seed * 7 + 1)
    study_uid = study_uid or new_uid(seed * 7 + 2)
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    names = list(range(n))
    if shuffle_names:
        rng.shuffle(names)
    instances = list(instance_numbers) if instance_numbers is not None else list(range(1, n + 1))
    if shuffle_instances and instance_numbers is None:
        rng.shuffle(instances)
    written: list[Path] = []
    for k in range(n):
        if k in skip_slices:
            continue
        ds = _base_dataset(
            modality,
            sop_class,
            rows,
            cols,
            series_uid=series_uid,
            study_uid=study_uid,
            series_number=series_number,
            description=description,
            photometric=photometric,
            dtype=volume.dtype,
            bits_stored=bits_stored,
        )
        ds.SOPInstanceUID = new_uid(seed * 100_000 + series_number * 1000 + k)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = instances[k]
        pos = positions[k] if positions is not None else np.asarray(origin, float) + k * spacing[0] * normal
        ds.ImagePositionPatient = [f"{float(v):.6g}" for v in pos]
        ds.ImageOrientationPatient = [f"{float(v):.6g}" for v in orientation]
        ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[2]:g}"]
        ds.SliceThickness = f"{spacing[0]:g}"
        if slope is not None:
            ds.RescaleSlope = f"{slope:g}"
        if intercept is not None:
            ds.RescaleIntercept = f"{intercept:g}"
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        ds.PixelData = np.ascontiguousarray(volume[k]).tobytes()
        if compress:
            ds.compress(compress)
        suffix = ".dcm.gz" if gz else ".dcm"
        path = directory / f"{prefix}{names[k]:04d}{suffix}"
        written.append(_save(ds, path, gz=gz))
    return written


def write_dicom_file(
    path: Path,
    image: np.ndarray,
    *,
    modality: str = "CT",
    photometric: str | None = None,
    preamble: bool = True,
    gz: bool = False,
    **kwargs: object,
) -> Path:
    """One single-frame DICOM file: grey ``(rows, cols)`` or RGB ``(rows, cols, 3)`` uint8.

    Extra keyword arguments are DICOM keywords set on the dataset.
    """
    from pydicom.uid import CTImageStorage, MRImageStorage, SecondaryCaptureImageStorage

    color = image.ndim == 3
    sop = SecondaryCaptureImageStorage if color else (CTImageStorage if modality == "CT" else MRImageStorage)
    ds = _base_dataset(
        modality,
        sop,
        image.shape[0],
        image.shape[1],
        series_uid=new_uid(11),
        study_uid=new_uid(12),
        series_number=1,
        description="",
        photometric=photometric or ("RGB" if color else "MONOCHROME2"),
        dtype=image.dtype,
        samples=3 if color else 1,
    )
    ds.SOPInstanceUID = new_uid(13)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for key, value in kwargs.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(image).tobytes()
    return _save(ds, Path(path), gz=gz, preamble=preamble)


def write_dicom_no_pixels(path: Path, modality: str = "SR") -> Path:
    """A DICOM object without pixel data (a structured report)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = new_uid(21)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = new_uid(22)
    ds.StudyInstanceUID = new_uid(23)
    return _save(ds, Path(path))


def write_dicomdir(path: Path) -> Path:
    """A minimal DICOMDIR-like file (Media Storage Directory SOP class in its file meta)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = new_uid(31)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "TEST"
    return _save(ds, Path(path))


def write_enhanced_dicom(
    path: Path,
    frames: np.ndarray,
    positions: Sequence[Sequence[float]],
    *,
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    modality: str = "MR",
) -> Path:
    """An enhanced multi-frame file: frame ``k`` at ``positions[k]``, geometry in functional groups."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    sop = "1.2.840.10008.5.1.4.1.1.4.1" if modality == "MR" else "1.2.840.10008.5.1.4.1.1.2.1"
    n, rows, cols = frames.shape
    ds = _base_dataset(
        modality,
        sop,
        rows,
        cols,
        series_uid=new_uid(41),
        study_uid=new_uid(42),
        series_number=7,
        description="enhanced",
        photometric="MONOCHROME2",
        dtype=frames.dtype,
    )
    ds.SOPInstanceUID = new_uid(43)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.NumberOfFrames = n
    shared = Dataset()
    ori = Dataset()
    ori.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    shared.PlaneOrientationSequence = DicomSequence([ori])
    meas = Dataset()
    meas.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    meas.SliceThickness = "1"
    shared.PixelMeasuresSequence = DicomSequence([meas])
    trans = Dataset()
    trans.RescaleSlope = f"{slope:g}"
    trans.RescaleIntercept = f"{intercept:g}"
    trans.RescaleType = "US"
    shared.PixelValueTransformationSequence = DicomSequence([trans])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for k in range(n):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [f"{float(v):g}" for v in positions[k]]
        item.PlanePositionSequence = DicomSequence([pos])
        content = Dataset()
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = DicomSequence([content])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    return _save(ds, Path(path))


def write_mosaic_dicom(
    path: Path,
    slices: np.ndarray,
    *,
    spacing: Sequence[float] = (3.0, 2.0, 2.0),
    orientation: Sequence[float] = AXIAL,
    centre: Sequence[float] = (0.0, 0.0, 0.0),
) -> Path:
    """A Siemens-style mosaic (ImageType MOSAIC, NumberOfImagesInMosaic in (0019,100A), no CSA header).

    Slice ``k`` goes to tile ``k`` (row-major in a ``ceil(sqrt(n))`` grid); the geometry is what a Siemens
    scanner writes: the position of a virtual image as large as the mosaic.
    """
    n, rows, cols = slices.shape
    grid = int(np.ceil(np.sqrt(n)))
    mosaic = np.zeros((rows * grid, cols * grid), dtype=slices.dtype)
    for k in range(n):
        r, c = divmod(k, grid)
        mosaic[r * rows : (r + 1) * rows, c * cols : (c + 1) * cols] = slices[k]
    from pydicom.uid import MRImageStorage

    ds = _base_dataset(
        "MR",
        MRImageStorage,
        rows * grid,
        cols * grid,
        series_uid=new_uid(51),
        study_uid=new_uid(52),
        series_number=3,
        description="mosaic",
        photometric="MONOCHROME2",
        dtype=slices.dtype,
    )
    ds.SOPInstanceUID = new_uid(53)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.Manufacturer = "SIEMENS"
    ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[2]:g}"]
    ds.SpacingBetweenSlices = f"{spacing[0]:g}"
    ds.SliceThickness = f"{spacing[0]:g}"
    ds.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    row_cos, col_cos = np.array(orientation[:3]), np.array(orientation[3:])
    first_slice = np.asarray(centre, float)  # top-left voxel of tile 0
    virtual = (
        first_slice
        - col_cos * spacing[1] * (rows * grid - rows) / 2
        - row_cos * spacing[2] * (cols * grid - cols) / 2
    )
    ds.ImagePositionPatient = [f"{v:.6g}" for v in virtual]
    ds.add_new((0x0019, 0x0010), "LO", "SIEMENS MR HEADER")
    ds.add_new((0x0019, 0x100A), "US", n)
    ds.PixelData = np.ascontiguousarray(mosaic).tobytes()
    return _save(ds, Path(path))


# ---------------------------------------------------------------- 2D images


def write_png16(path: Path, image: np.ndarray) -> Path:
    """A 16-bit greyscale PNG."""
    import cv2

    ok, buf = cv2.imencode(".png", np.asarray(image, dtype=np.uint16))
    if not ok:
        raise OSError(f"could not encode {path}")
    Path(path).write_bytes(buf.tobytes())
    return Path(path)


def write_png8(path: Path, image: np.ndarray) -> Path:
    """An 8-bit PNG: grey ``(h, w)``, RGB ``(h, w, 3)`` or RGBA ``(h, w, 4)`` (channel order as given)."""
    from PIL import Image

    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path, format="PNG")
    return Path(path)


def write_palette_png(path: Path, indices: np.ndarray, palette: Sequence[tuple[int, int, int]]) -> Path:
    """A palette (mode "P") PNG: pixel values are indices into ``palette`` (RGB triplets)."""
    from PIL import Image

    img = Image.fromarray(np.asarray(indices, dtype=np.uint8), mode="P")
    flat = [v for rgb in palette for v in rgb]
    img.putpalette(flat + [0] * (768 - len(flat)))
    img.save(path, format="PNG")
    return Path(path)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> Path:
    """A JPEG from an RGB (or grey) uint8 array."""
    from PIL import Image

    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path, format="JPEG", quality=quality)
    return Path(path)


def write_tiff(path: Path, pages: np.ndarray | Sequence[np.ndarray]) -> Path:
    """A TIFF: one page for a 2D array (any dtype incl. float32), several for a list of arrays."""
    import tifffile

    if isinstance(pages, np.ndarray):
        tifffile.imwrite(path, pages)
    else:
        with tifffile.TiffWriter(path) as tif:
            for page in pages:
                tif.write(page)
    return Path(path)


def write_png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims ``width`` x ``height`` but holds almost no data (a bomb stand-in)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat_data = zlib.compress(b"\x00" * 16)
    idat = (
        struct.pack(">I", len(idat_data))
        + b"IDAT"
        + idat_data
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data))
    )
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + idat + iend)
    return Path(path)


# ---------------------------------------------------------------- NRRD / MetaImage


def write_nrrd(
    path: Path,
    array: np.ndarray,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    directions: np.ndarray | None = None,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    space: str = "left-posterior-superior",
    encoding: str = "raw",
    detached: bool = False,
) -> Path:
    """An NRRD file of ``array`` (axis 0 fastest, as ITK/Slicer write it); ``.nhdr`` + ``.raw`` if detached.

    ``directions`` columns are the axis directions (unit vectors, in ``space``); identity by default.
    """
    array = np.asarray(array)
    types = {
        "int16": "short",
        "uint16": "ushort",
        "uint8": "uchar",
        "int32": "int",
        "float32": "float",
        "float64": "double",
    }
    dirs = np.eye(array.ndim) if directions is None else np.asarray(directions, float)
    vecs = " ".join(
        "(" + ",".join(f"{v:.10g}" for v in dirs[:, i] * spacing[i]) + ")" for i in range(array.ndim)
    )
    lines = [
        "NRRD0004",
        f"type: {types[array.dtype.name]}",
        f"dimension: {array.ndim}",
        f"space: {space}",
        "sizes: " + " ".join(str(s) for s in array.shape),
        f"space directions: {vecs}",
        "kinds: " + " ".join(["domain"] * array.ndim),
        "endian: little",
        f"encoding: {encoding}",
        "space origin: (" + ",".join(f"{v:g}" for v in origin) + ")",
    ]
    payload = np.asarray(array, dtype=array.dtype.newbyteorder("<")).tobytes(order="F")
    if encoding == "gzip":
        payload = gzip.compress(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if detached:
        data_path = path.with_suffix(".raw" if encoding == "raw" else ".raw.gz")
        data_path.write_bytes(payload)
        lines.append(f"data file: {data_path.name}")
        path.write_bytes(("\n".join(lines) + "\n").encode())
    else:
        path.write_bytes(("\n".join(lines) + "\n\n").encode() + payload)
    return path


def write_mha(
    path: Path,
    array: np.ndarray,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    matrix: np.ndarray | None = None,
    compressed: bool = False,
    detached: bool = False,
) -> Path:
    """A MetaImage (``.mha``, or ``.mhd`` + ``.raw`` when ``detached``) of ``array`` (axis 0 fastest), LPS.

    ``matrix`` columns are the axis directions; written as ITK does (direction of axis ``i`` = values
    ``3*i .. 3*i+2`` of TransformMatrix).
    """
    array = np.asarray(array)
    types = {
        "int16": "MET_SHORT",
        "uint16": "MET_USHORT",
        "uint8": "MET_UCHAR",
        "float32": "MET_FLOAT",
        "int32": "MET_INT",
        "float64": "MET_DOUBLE",
    }
    dirs = np.eye(array.ndim) if matrix is None else np.asarray(matrix, float)
    payload = np.asarray(array, dtype=array.dtype.newbyteorder("<")).tobytes(order="F")
    if compressed:
        payload = zlib.compress(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = path.with_suffix(".raw").name if detached else "LOCAL"
    lines = [
        "ObjectType = Image",
        f"NDims = {array.ndim}",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {'True' if compressed else 'False'}",
        "TransformMatrix = " + " ".join(f"{v:g}" for v in dirs.T.ravel()),
        "Offset = " + " ".join(f"{v:g}" for v in origin),
        "ElementSpacing = " + " ".join(f"{v:g}" for v in spacing),
        "DimSize = " + " ".join(str(s) for s in array.shape),
        f"ElementType = {types[array.dtype.name]}",
        f"ElementDataFile = {data_name}",
    ]
    header = ("\n".join(lines) + "\n").encode()
    if detached:
        path.with_suffix(".raw").write_bytes(payload)
        path.write_bytes(header)
    else:
        path.write_bytes(header + payload)
    return path
