"""``simulate``: what would this scan look like at a lower dose, a lower field, or a worse fundus photo?

The output keeps the input's format, geometry and header: NIfTI -> same affine and header (nibabel);
DICOM file or series directory -> new files with new SOP/Series Instance UIDs, the same geometry, pixel data
replaced and stored uncompressed (Explicit VR Little Endian); a 2D image -> the same image format.

CT: ``dose`` is a fraction of the source dose (the header's Exposure in mAs, else 200 mAs); only the noise
that separates the two doses is added (see :func:`.degrade.ct.ct_dose`). Slices other than 256 x 256 are
padded square and area-resampled to 256 for the noise computation and the noise image is interpolated back,
so its grain is that of a 256 matrix over the same field of view.
MR: ``field_strength`` is the target B0 in tesla; the source's is the header's MagneticFieldStrength, else
3 T; the added noise follows ``SNR ∝ B0`` from the source's measured noise (:func:`.degrade.mr`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np

from .degrade import fundus as fd
from .degrade.ct import ct_dose
from .degrade.mr import estimate_noise_sigma, mr_field_strength, signal_level
from .labels import REAL_CT_DEFAULT_DOSE_MAS, REAL_MR_DEFAULT_FIELD_T

__all__ = ["simulate"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _ct_noise(
    slices: np.ndarray,
    target: float,
    source: float,
    pixel_mm: float,
    thickness: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``[S, H, W]`` HU -> same at ``target`` mAs; noise made on a 256 grid and interpolated back."""
    out = np.empty_like(slices, dtype=np.float32)
    h, w = slices.shape[1:]
    n = max(h, w)
    for i, sl in enumerate(slices):
        sq = np.full((n, n), -1024.0, dtype=np.float32)
        y0, x0 = (n - h) // 2, (n - w) // 2
        sq[y0 : y0 + h, x0 : x0 + w] = np.maximum(sl, -1024.0)
        small = cv2.resize(sq, (256, 256), interpolation=cv2.INTER_AREA) if n != 256 else sq
        noise = (
            ct_dose(
                small,
                target,
                rng,
                source_dose_mas=source,
                pixel_mm=pixel_mm * n / 256,
                thickness_mm=thickness,
            )
            - small
        )
        if n != 256:
            noise = cv2.resize(noise, (n, n), interpolation=cv2.INTER_CUBIC)
        out[i] = sl + noise[y0 : y0 + h, x0 : x0 + w]
    return out


def _degrade_grey(
    slices: np.ndarray,
    *,
    modality: str,
    dose: float | None,
    field_strength: float | None,
    meta: dict[str, Any],
    pixel_mm: float,
    rng: np.random.Generator,
) -> np.ndarray:
    if modality == "ct":
        if dose is None or not 0 < dose <= 1:
            raise ValueError(f"dose must be a fraction of the source dose in (0, 1]; got {dose}")
        src = float(meta.get("exposure_mas") or REAL_CT_DEFAULT_DOSE_MAS)
        return _ct_noise(slices, src * dose, src, pixel_mm, float(meta.get("thickness_mm") or 5.0), rng)
    if field_strength is None or field_strength <= 0:
        raise ValueError(f"field_strength must be a positive B0 in tesla; got {field_strength}")
    b_src = float(meta.get("field_strength_t") or REAL_MR_DEFAULT_FIELD_T)
    if field_strength > b_src:
        raise ValueError(
            f"cannot raise the field from {b_src} T to {field_strength} T (noise cannot be removed)"
        )
    sigma, signal = estimate_noise_sigma(slices), signal_level(slices)
    out = mr_field_strength(
        np.clip(slices, 0, None), field_strength, rng, source_field_t=b_src, source_sigma=sigma, signal=signal
    )
    return out.astype(np.float32)


def _fundus(img: np.ndarray, options: dict[str, float | None], rng: np.random.Generator) -> np.ndarray:
    steps = (
        ("defocus", fd.fundus_defocus),
        ("motion_blur", fd.fundus_motion_blur),
        ("illumination", fd.fundus_illumination),
        ("exposure", fd.fundus_exposure),
        ("haze", fd.fundus_haze),
        ("noise", fd.fundus_noise),
        ("jpeg_quality", fd.fundus_jpeg),
    )
    out = img.astype(np.float32)
    for key, func in steps:
        value = options.get(key)
        if value is not None:
            out = func(out, float(value), rng)
    return out


def simulate(
    input_path: str | Path,
    output_path: str | Path,
    *,
    dose: float | None = None,
    field_strength: float | None = None,
    defocus: float | None = None,
    motion_blur: float | None = None,
    illumination: float | None = None,
    exposure: float | None = None,
    haze: float | None = None,
    jpeg_quality: float | None = None,
    noise: float | None = None,
    seed: int = 0,
) -> Path:
    """Write ``input_path`` as it would look under other acquisition conditions; returns the output path.

    Args:
        input_path: NIfTI file, DICOM file or series directory, or a 2D image (fundus photo).
        output_path: file (NIfTI, image, single DICOM) or directory (DICOM series) to write.
        dose: CT only: fraction of the source dose (0.25 = a quarter of the dose).
        field_strength: MR only: target B0 in tesla.
        defocus, motion_blur, illumination, exposure, haze, jpeg_quality, noise: fundus options in the units
            of :mod:`.degrade.fundus` (pixels at a 256-pixel field, fraction, EV, fraction, quality,
            grey levels).
        seed: random seed (the same seed gives the same output).
    """
    src, dst = Path(input_path), Path(output_path)
    rng = np.random.default_rng(seed)
    fundus_opts = {
        "defocus": defocus,
        "motion_blur": motion_blur,
        "illumination": illumination,
        "exposure": exposure,
        "haze": haze,
        "jpeg_quality": jpeg_quality,
        "noise": noise,
    }
    name = src.name.lower()
    if name.endswith(_IMAGE_SUFFIXES):
        bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {src}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
        scale = max(rgb.shape[:2]) / 256.0  # options are given for a 256-pixel field
        opts = {
            k: (v * scale if k in ("defocus", "motion_blur") and v is not None else v)
            for k, v in fundus_opts.items()
        }
        out = np.clip(np.rint(_fundus(rgb, opts, rng)), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(dst), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"cannot write image {dst}")
        return dst
    modality = "ct" if dose is not None else "mr" if field_strength is not None else None
    if modality is None:
        raise ValueError(
            "give dose= (CT) or field_strength= (MR) for a volume; fundus options need a 2D image"
        )
    if name.endswith((".nii", ".nii.gz")):
        return _simulate_nifti(src, dst, modality, dose, field_strength, rng)
    return _simulate_dicom(src, dst, modality, dose, field_strength, rng)


def _simulate_nifti(
    src: Path, dst: Path, modality: str, dose: float | None, field: float | None, rng: np.random.Generator
) -> Path:
    img: Any = nib.load(str(src))
    data = np.asarray(img.dataobj, dtype=np.float32)
    shape = data.shape
    if data.ndim < 3:
        raise ValueError(f"{src} is not a volume (shape {shape})")
    vol = data.reshape(*shape[:3], -1)
    zooms = img.header.get_zooms()
    pixel_mm = float(zooms[0])
    meta = {"thickness_mm": float(zooms[2]) if len(zooms) > 2 else 5.0}
    out = np.empty_like(vol)
    for t in range(vol.shape[3]):
        slices = np.moveaxis(vol[..., t], 2, 0)  # [k, i, j]
        res = _degrade_grey(
            slices, modality=modality, dose=dose, field_strength=field, meta=meta, pixel_mm=pixel_mm, rng=rng
        )
        out[..., t] = np.moveaxis(res, 0, 2)
    out = out.reshape(shape)
    header = img.header.copy()
    dtype = header.get_data_dtype()
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        slope, inter = header.get_slope_inter()
        slope = 1.0 if slope is None or not math.isfinite(slope) else slope
        inter = 0.0 if inter is None or not math.isfinite(inter) else inter
        stored = np.clip(np.rint((out - inter) / slope), info.min, info.max).astype(dtype)
        new = nib.Nifti1Image(stored, img.affine, header)
        new.header.set_slope_inter(slope, inter)
    else:
        new = nib.Nifti1Image(out.astype(dtype), img.affine, header)
    nib.save(new, str(dst))
    return dst


def _simulate_dicom(
    src: Path, dst: Path, modality: str, dose: float | None, field: float | None, rng: np.random.Generator
) -> Path:
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    files = sorted(p for p in src.iterdir() if p.is_file()) if src.is_dir() else [src]
    datasets = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f))
        except pydicom.errors.InvalidDicomError:
            continue
        if "PixelData" in ds:
            datasets.append((f, ds))
    if not datasets:
        raise ValueError(f"no DICOM images in {src}")
    series_uid = generate_uid()
    ds0 = datasets[0][1]
    meta = {
        "exposure_mas": float(getattr(ds0, "Exposure", 0) or 0) or None,
        "field_strength_t": float(getattr(ds0, "MagneticFieldStrength", 0) or 0) or None,
        "thickness_mm": float(getattr(ds0, "SliceThickness", 0) or 0) or 5.0,
    }
    pixel_mm = float(getattr(ds0, "PixelSpacing", [1.0])[0])
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    for f, ds in datasets:
        raw = ds.pixel_array
        slope, inter = (
            float(getattr(ds, "RescaleSlope", 1) or 1),
            float(getattr(ds, "RescaleIntercept", 0) or 0),
        )
        frames = raw.astype(np.float32) * slope + inter
        stack = frames if frames.ndim == 3 else frames[None]
        res = _degrade_grey(
            stack, modality=modality, dose=dose, field_strength=field, meta=meta, pixel_mm=pixel_mm, rng=rng
        )
        res = res if frames.ndim == 3 else res[0]
        info = np.iinfo(np.int16 if ds.PixelRepresentation == 1 else np.uint16)
        stored = np.clip(np.rint((res - inter) / slope), info.min, info.max).astype(info.dtype)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID = series_uid
        what = f"dose x{dose:g}" if modality == "ct" else f"{field:g} T"
        ds.SeriesDescription = f"{getattr(ds, 'SeriesDescription', '')} (simulated {what})".strip()[:64]
        ds.DerivationDescription = f"mediqa-sdk simulate: {what}"[:1024]
        target = dst / f.name if src.is_dir() else dst
        ds.save_as(str(target), enforce_file_format=True)
    return dst
