"""Realistic benchmark inputs, generated with numpy and OpenCV (no torch, no scipy): they compress like scans.

Contents are smooth anatomy in physical units plus acquisition-like noise, so gzip, JPEG and the slice rule
see what they see on real data (a 512x512x300 chest CT .nii.gz comes out near 2.5:1, like real ones):

- :func:`ct_volume`: chest-to-upper-abdomen CT in HU, ``[slices, rows, cols]`` int16, display orientation
  (rows anterior -> posterior, columns patient right -> left): reconstruction circle (-1024 outside), body
  with fat layer and muscle, lungs with lobular texture, heart, aorta, spine, liver, table; correlated
  Gaussian noise (3x3 blurred white noise, std ``noise_hu``).
- :func:`mr_volume`: T1-like brain MR, ``[slices, rows, cols]`` int16: scalp, skull, CSF, grey and white
  matter, ventricles, a smooth bias field and Rician magnitude noise; the head covers about 80 % of slices.
- :func:`fundus_image`: RGB colour fundus photo, uint8: illuminated disc with vignetting, optic disc, macula,
  vessel trees, sensor noise.

Writers store them as NIfTI (via nibabel headers, gzip level 6 like ``gzip``/``pigz`` defaults), DICOM
(CT Image Storage, explicit VR little endian, one file per slice, ``RescaleIntercept`` -1024), JPEG and
PNG. :func:`ensure_inputs` builds the whole set once into a cache folder and reuses it.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CT_SPACING",
    "INPUTS_VERSION",
    "MR_SPACING",
    "BenchInputs",
    "ct_volume",
    "default_cache",
    "ensure_inputs",
    "fundus_image",
    "mr_volume",
    "write_dicom_series",
    "write_dicom_slice",
    "write_jpeg",
    "write_mixed_folder",
    "write_nifti",
]

INPUTS_VERSION = 2
CT_SPACING = (1.25, 0.74, 0.74)  # (slice, row, col) mm: 375 mm body field of view
MR_SPACING = (1.0, 1.0, 1.0)
_UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's example root


def default_cache() -> Path:
    """``$MEDIQA_BENCH_CACHE`` or ``~/.cache/mediqa-sdk/bench`` (never inside the repository)."""
    base = os.environ.get("MEDIQA_BENCH_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "mediqa-sdk" / "bench"


# ------------------------------------------------------------------------------------------- drawing


def _ellipse(canvas: np.ndarray, cx: float, cy: float, ax: float, ay: float, value: float, angle=0.0) -> None:
    """Fill an ellipse (pixel units, centre ``cx, cy``) with ``value`` in place."""
    if ax < 1 or ay < 1:
        return
    cv2.ellipse(
        canvas, (round(cx * 16), round(cy * 16)), (round(ax * 16), round(ay * 16)), angle, 0, 360,
        float(value), -1, cv2.LINE_8, 4,
    )  # fmt: skip


def _smooth_field(shape: tuple[int, int, int], cells: tuple[int, int, int], rng: np.random.Generator):
    """Per-slice accessor of a smooth random field in [-1, 1]: a coarse grid, cubic in-plane, linear in z."""
    coarse = rng.uniform(-1.0, 1.0, cells).astype(np.float32)
    d, h, w = shape

    def at(k: int) -> np.ndarray:
        z = k / max(1, d - 1) * (cells[0] - 1)
        k0 = min(int(z), cells[0] - 2) if cells[0] > 1 else 0
        f = z - k0
        plane = coarse[k0] * (1 - f) + coarse[min(k0 + 1, cells[0] - 1)] * f
        return cv2.resize(plane, (w, h), interpolation=cv2.INTER_CUBIC)

    return at


def _noise(rng: np.random.Generator, shape: tuple[int, int], std: float, blur: float) -> np.ndarray:
    """Spatially correlated Gaussian noise with standard deviation ``std`` (blurred white noise)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    if blur <= 0:
        return white * np.float32(std)
    smooth = cv2.GaussianBlur(white, (0, 0), blur)
    gain = 1.0 / (2.0 * math.sqrt(math.pi) * blur)  # std of unit white noise after a 2D Gaussian blur
    return smooth * np.float32(std / gain)


def _bump(t: float, lo: float, hi: float) -> float:
    """0 outside ``[lo, hi]``, a half-sine bump inside: how much of an organ a slice at ``t`` cuts."""
    if t <= lo or t >= hi:
        return 0.0
    return math.sin(math.pi * (t - lo) / (hi - lo)) ** 0.6


# ------------------------------------------------------------------------------------------- CT


def ct_volume(n_slices: int = 300, size: int = 512, seed: int = 0, noise_hu: float = 10.0) -> np.ndarray:
    """A chest-to-upper-abdomen CT volume in HU, ``[n_slices, size, size]`` int16 (see the module doc)."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2
    s = size / 512  # geometry below is written for 512 px at 0.74 mm
    tex = _smooth_field((n_slices, size, size), (max(2, n_slices // 12), 24, 24), rng)
    lung_tex = _smooth_field((n_slices, size, size), (max(2, n_slices // 4), 64, 64), rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    fov = (xx - c) ** 2 + (yy - c) ** 2 > (size / 2) ** 2
    vol = np.empty((n_slices, size, size), dtype=np.int16)
    for k in range(n_slices):
        t = k / max(1, n_slices - 1)  # 0 = upper abdomen, 1 = lung apex
        img = np.full((size, size), -1000.0, dtype=np.float32)
        bx = (205 - 25 * t + 10 * math.sin(6 * t)) * s  # body half-width: wider at the shoulders
        by = (140 + 8 * math.cos(5 * t)) * s
        cy = c + 10 * s
        _ellipse(img, c, c + 185 * s, 230 * s, 22 * s, 150.0)  # table
        _ellipse(img, c, c + 185 * s, 226 * s, 18 * s, -1000.0)
        _ellipse(img, c, cy, bx, by, -100.0)  # subcutaneous fat
        _ellipse(img, c, cy, bx - 14 * s, by - 12 * s, 45.0)  # muscle wall
        _ellipse(img, c, cy, bx - 30 * s, by - 26 * s, -60.0)  # cavity fat
        lung = _bump(t, 0.22, 1.02)
        organ = np.zeros_like(img)
        if lung > 0:
            for side in (-1, 1):
                _ellipse(organ, c + side * 0.48 * bx, cy - 5 * s, 0.4 * bx * lung, 0.8 * by * lung, 1.0)
            img[organ > 0] = -860.0
        heart = _bump(t, 0.3, 0.7)
        _ellipse(img, c - 0.12 * bx, cy - 0.3 * by, 0.36 * bx * heart, 0.55 * by * heart, 40.0, 25)
        liver = _bump(t, -0.3, 0.42)
        _ellipse(img, c - 0.3 * bx, cy + 0.05 * by, 0.55 * bx * liver, 0.7 * by * liver, 62.0, -15)
        _ellipse(img, c + 0.45 * bx, cy - 0.1 * by, 0.2 * bx * liver, 0.3 * by * liver, 35.0)  # stomach
        _ellipse(img, c + 20 * s, cy + 0.45 * by, 14 * s, 14 * s, 48.0)  # aorta
        _ellipse(img, c, cy + 0.62 * by, 30 * s, 26 * s, 720.0)  # vertebral body: cortex
        _ellipse(img, c, cy + 0.62 * by, 25 * s, 21 * s, 260.0)  # and spongiosa
        _ellipse(img, c, cy + 0.9 * by, 10 * s, 18 * s, 650.0)  # spinous process
        if lung > 0.2:
            _ellipse(img, c, cy - 0.35 * by, 8 * s, 7 * s, -1000.0)  # trachea
        field = tex(k)
        soft = (img > -200) & (img < 200)
        img += np.where(soft, 8.0 * field, 0.0)
        if lung > 0:
            lt = lung_tex(k)
            img += np.where((organ > 0) & (img < -800), 35.0 * lt + 40.0 * np.maximum(lt, 0) ** 4, 0.0)
        img = cv2.GaussianBlur(img, (0, 0), 0.7)  # partial volume at edges
        img += _noise(rng, img.shape, noise_hu, 0.9)
        img[fov] = -1024.0
        vol[k] = np.clip(np.rint(img), -1024, 3071).astype(np.int16)
    return vol


# ------------------------------------------------------------------------------------------- MR


def mr_volume(n_slices: int = 180, size: int = 256, seed: int = 1, sigma: float = 12.0) -> np.ndarray:
    """A T1-like brain MR volume, ``[n_slices, size, size]`` int16, Rician noise of ``sigma`` (see module)."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2
    s = size / 256
    bias = _smooth_field((n_slices, size, size), (4, 3, 3), rng)
    tex = _smooth_field((n_slices, size, size), (max(2, n_slices // 6), 32, 32), rng)
    vol = np.empty((n_slices, size, size), dtype=np.int16)
    for k in range(n_slices):
        t = k / max(1, n_slices - 1)
        head = _bump(t, 0.05, 0.98)
        img = np.zeros((size, size), dtype=np.float32)
        if head > 0:
            ax, ay = 78 * s * head, 98 * s * head
            _ellipse(img, c, c, ax, ay, 700.0)  # scalp fat
            _ellipse(img, c, c, ax - 5 * s, ay - 5 * s, 60.0)  # skull
            brain = _bump(t, 0.12, 0.94)
            _ellipse(img, c, c, (ax - 11 * s) * brain, (ay - 11 * s) * brain, 180.0)  # CSF
            _ellipse(img, c, c, (ax - 14 * s) * brain, (ay - 14 * s) * brain, 460.0)  # grey matter
            _ellipse(img, c, c, (ax - 26 * s) * brain, (ay - 28 * s) * brain, 640.0)  # white matter
            vent = _bump(t, 0.45, 0.75)
            for side in (-1, 1):
                _ellipse(img, c + side * 9 * s, c - 5 * s, 6 * s * vent, 26 * s * vent, 180.0, side * 12)
            img += np.where(img > 100, 25.0 * tex(k), 0.0)
            img = cv2.GaussianBlur(img, (0, 0), 0.8)
        img *= 1.0 + 0.25 * bias(k)
        real = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)
        imag = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)
        vol[k] = np.clip(np.rint(np.hypot(real, imag)), 0, 32767).astype(np.int16)
    return vol


# ------------------------------------------------------------------------------------------- fundus


def fundus_image(size: int = 2000, seed: int = 2) -> np.ndarray:
    """A colour fundus photograph, ``[size, size, 3]`` uint8 RGB (see the module doc)."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2
    r = 0.46 * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    rho = np.sqrt((xx - c) ** 2 + (yy - c) ** 2) / r
    base = np.array([205.0, 95.0, 40.0], dtype=np.float32)  # orange-red retina
    vignette = np.clip(1.0 - 0.45 * rho**2, 0, 1)
    low = cv2.resize(rng.uniform(-1, 1, (12, 12)).astype(np.float32), (size, size), cv2.INTER_CUBIC)
    img = base[None, None, :] * (vignette * (1 + 0.08 * low))[..., None]
    mac = np.exp(-(((xx - c - 0.05 * size) ** 2 + (yy - c) ** 2) / (2 * (0.06 * size) ** 2)))
    img *= (1 - 0.35 * mac)[..., None]
    dx, dy = c - 0.22 * size, c - 0.01 * size
    disc = np.exp(-((((xx - dx) / (0.045 * size)) ** 2 + ((yy - dy) / (0.05 * size)) ** 2) ** 2))
    img += disc[..., None] * np.array([50.0, 120.0, 110.0], dtype=np.float32)
    vessels = np.zeros((size, size), dtype=np.float32)
    for k in range(14):
        angle = 2 * math.pi * k / 14 + rng.normal(0, 0.2)
        x, y, width = dx, dy, 0.011 * size * rng.uniform(0.6, 1.0)
        for _ in range(60):
            angle += rng.normal(0, 0.12)
            step = 0.012 * size
            nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
            cv2.line(vessels, (round(x), round(y)), (round(nx), round(ny)), 1.0, max(1, round(width)))
            x, y, width = nx, ny, width * 0.975
            if (x - c) ** 2 + (y - c) ** 2 > r**2:
                break
    vessels = cv2.GaussianBlur(vessels, (0, 0), 0.002 * size)
    img *= (1 - 0.45 * vessels)[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(2.5)
    img[rho > 1] = 0.0
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- writers


def _uid(rng: np.random.Generator) -> str:
    return _UID_ROOT + ".".join(str(int(v)) for v in rng.integers(1, 10**9, 3))


def write_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, float, float], level: int = 6) -> Path:
    """Write ``[slices, rows, cols]`` (display orientation) as RAS NIfTI, gzip ``level`` for ``.gz``."""
    import nibabel as nib

    dz, dy, dx = spacing
    n, rows, cols = volume.shape
    # RAS+: voxel (i, j, k) = column cols-1-i (columns run patient right -> left, +x is right),
    # row rows-1-j (rows run anterior -> posterior, +y is anterior), slice k (+z superior)
    data = np.asfortranarray(volume.transpose(2, 1, 0)[::-1, ::-1, :])
    affine = np.diag([dx, dy, dz, 1.0])
    affine[:3, 3] = [-dx * (cols - 1) / 2, -dy * (rows - 1) / 2, -dz * (n - 1) / 2]
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(volume.dtype)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    raw = img.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        comp = zlib.compressobj(level, zlib.DEFLATED, 31)
        path.write_bytes(comp.compress(raw) + comp.flush())
    else:
        path.write_bytes(raw)
    return path


def _ct_dataset(rows: int, cols: int, spacing: tuple[float, float, float], rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The shared part of a CT image header (patient, study, equipment, pixel description)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.PatientName = "Bench^Phantom"
    ds.PatientID = "BENCH0001"
    ds.StudyInstanceUID = _uid(rng)
    ds.StudyDescription = "CT CHEST ABDOMEN"
    ds.SeriesDescription = "Chest 1.25mm STANDARD"
    ds.BodyPartExamined = "CHEST"
    ds.Manufacturer = "Bench"
    ds.KVP = 120
    ds.XRayTubeCurrent = 250
    ds.Exposure = 180
    ds.CTDIvol = 9.5
    ds.ConvolutionKernel = "STANDARD"
    ds.SliceThickness = spacing[0]
    ds.PixelSpacing = [spacing[1], spacing[2]]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = _uid(rng)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    return ds


def _save_dicom(ds, path: Path) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    ds.SOPInstanceUID = generate_uid(prefix=_UID_ROOT)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def write_dicom_series(
    folder: Path, volume_hu: np.ndarray, spacing: tuple[float, float, float], seed: int = 0
) -> list[Path]:
    """One CT DICOM file per slice (stored = HU + 1024, int16), positions along +z, shuffled file names."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, cols = volume_hu.shape
    ds = _ct_dataset(rows, cols, spacing, rng)
    ds.SeriesInstanceUID = _uid(rng)
    ds.SeriesNumber = 2
    names = rng.permutation(n)
    paths = []
    for k in range(n):
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-spacing[2] * (cols - 1) / 2, -spacing[1] * (rows - 1) / 2, k * spacing[0]]
        ds.SliceLocation = k * spacing[0]
        ds.PixelData = (volume_hu[k].astype(np.int32) + 1024).astype("<i2").tobytes()
        path = folder / f"IM{names[k]:05d}.dcm"
        _save_dicom(ds, path)
        paths.append(path)
    return paths


def write_dicom_slice(path: Path, slice_hu: np.ndarray, spacing: tuple[float, float], seed: int = 0) -> Path:
    """One 2D CT DICOM file (its own series) from a ``[rows, cols]`` HU slice."""
    rng = np.random.default_rng(seed)
    rows, cols = slice_hu.shape
    ds = _ct_dataset(rows, cols, (1.25, *spacing), rng)
    ds.SeriesInstanceUID = _uid(rng)
    ds.SeriesNumber = 100 + seed
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.PixelData = (slice_hu.astype(np.int32) + 1024).astype("<i2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_dicom(ds, path)
    return path


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 92) -> Path:
    """RGB uint8 -> baseline JPEG (OpenCV, 4:2:0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    path.write_bytes(buf.tobytes())
    return path


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(buf.tobytes())


def write_mixed_folder(
    folder: Path, ct: np.ndarray, mr: np.ndarray, n: int = 500, fundus_size: int = 1024, seed: int = 3
) -> dict[str, int]:
    """``n`` 2D images: 30 % CT slices as 8-bit PNG (soft-tissue window), 20 % MR slices as 16-bit PNG,
    10 % CT slices as 2D DICOM (one series each), 40 % fundus JPEGs (``fundus_size``, each re-noised and
    re-lit from four base photos). Returns the count per kind."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {"ct_png8": int(0.3 * n), "mr_png16": int(0.2 * n), "ct_dicom": int(0.1 * n)}
    kinds["fundus_jpeg"] = n - sum(kinds.values())
    for i in range(kinds["ct_png8"]):
        hu = ct[int(rng.integers(0, ct.shape[0]))].astype(np.float32)
        _write_png(folder / f"ct_{i:04d}.png", np.clip((hu + 160) / 400 * 255, 0, 255).astype(np.uint8))
    for i in range(kinds["mr_png16"]):
        sl = mr[int(rng.integers(mr.shape[0] // 4, 3 * mr.shape[0] // 4))]
        _write_png(folder / f"mr_{i:04d}.png", np.clip(sl.astype(np.int32) * 20, 0, 65535).astype(np.uint16))
    for i in range(kinds["ct_dicom"]):
        hu = ct[int(rng.integers(0, ct.shape[0]))]
        write_dicom_slice(folder / f"ct_{i:04d}.dcm", hu, CT_SPACING[1:], seed=1000 + i)
    bases = [fundus_image(fundus_size, seed=10 + b) for b in range(4)]
    for i in range(kinds["fundus_jpeg"]):
        img = bases[i % 4].astype(np.float32) * np.float32(rng.uniform(0.8, 1.15))
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(2.0)
        img = np.clip(img, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        write_jpeg(
            folder / f"fundus_{i:04d}.jpg", np.ascontiguousarray(img), quality=int(rng.integers(85, 96))
        )
    return kinds


# ------------------------------------------------------------------------------------------- the set


@dataclass(frozen=True)
class BenchInputs:
    """Paths of the generated inputs (see :func:`ensure_inputs`)."""

    root: Path
    ct_nifti: Path
    ct_dicom: Path
    mr_nifti: Path
    dicom_2d: Path
    fundus_jpeg: Path
    folder_2d: Path
    png_2d: Path

    def as_dict(self) -> dict[str, str]:
        """Input name -> path, for the report."""
        return {k: str(v) for k, v in self.__dict__.items() if k != "root"}


def ensure_inputs(cache: Path | None = None, log: Callable[[str], None] = print) -> BenchInputs:
    """Build the benchmark inputs into ``cache`` (default :func:`default_cache`) unless already there.

    A ``manifest.json`` written last marks a complete set of this :data:`INPUTS_VERSION`.
    """
    root = (cache or default_cache()) / f"inputs-v{INPUTS_VERSION}"
    paths = BenchInputs(
        root=root,
        ct_nifti=root / "chest_ct_512x512x300.nii.gz",
        ct_dicom=root / "chest_ct_dicom",
        mr_nifti=root / "brain_mr_256x256x180.nii.gz",
        dicom_2d=root / "ct_slice_512.dcm",
        fundus_jpeg=root / "fundus_2000.jpg",
        folder_2d=root / "mixed_2d_500",
        png_2d=root / "mixed_2d_500" / "ct_0000.png",
    )
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text()).get("version") == INPUTS_VERSION:
                return paths
        except (OSError, ValueError):
            pass
    root.mkdir(parents=True, exist_ok=True)
    log(f"generating benchmark inputs in {root} (once; about a minute) ...")
    ct = ct_volume()
    write_nifti(paths.ct_nifti, ct, CT_SPACING)
    write_dicom_series(paths.ct_dicom, ct, CT_SPACING)
    write_dicom_slice(paths.dicom_2d, ct[150], CT_SPACING[1:])
    mr = mr_volume()
    write_nifti(paths.mr_nifti, mr, MR_SPACING)
    write_jpeg(paths.fundus_jpeg, fundus_image())
    kinds = write_mixed_folder(paths.folder_2d, ct, mr)
    sizes = {k: _size(Path(v)) for k, v in paths.as_dict().items()}
    manifest.write_text(
        json.dumps({"version": INPUTS_VERSION, "folder_kinds": kinds, "bytes": sizes}, indent=1)
    )
    return paths


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size
