"""Generate the bad-input corpus: odd, damaged and hostile files, one folder per case.

Every case is a folder ``<root>/<case>/`` holding what one builder below writes; ``expected.csv`` (next
to this script) says, per case, what ``mediqa score`` must do with its target: ``error`` (a one-line message
holding ``detail``), ``scored-with-warning`` (a result whose warnings hold ``detail``) or ``scored``. The
corpus is generated at test time into a temporary folder; only this script and the table are committed.

    python -m tests.badinputs.make_corpus OUT_DIR          # write every case
    python -m tests.badinputs.make_corpus OUT_DIR --list   # the table

Cases that need the operating system's help (a FIFO, permissions) are skipped where it cannot give it; the
permission case is still written, and the test makes the read fail when it runs as root (root reads any file).
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.io_fixtures import (
    AXIAL,
    SAGITTAL,
    new_uid,
    patch_nifti_pixdim,
    write_dicom_file,
    write_dicom_no_pixels,
    write_dicom_series,
    write_dicomdir,
    write_mha,
    write_nifti,
    write_nifti_header_only,
    write_nrrd,
    write_palette_png,
    write_png8,
    write_tiff,
)
from tests.synthetic import ct_volume, fundus_photo, mr_slice

__all__ = ["BUILDERS", "EXPECTED_CSV", "Expectation", "build_corpus", "load_expectations"]

EXPECTED_CSV = Path(__file__).with_name("expected.csv")
BOMB_BYTES = 1 << 30  # what the gzip bombs inflate to (1 GiB of zeros, about 1 MB on disk)


@dataclass(frozen=True)
class Expectation:
    """One row of ``expected.csv``.

    Attributes:
        case: folder name under the corpus root.
        target: what is passed to ``mediqa score``, relative to the case folder (``.`` = the folder).
        expect: ``error``, ``scored-with-warning`` or ``scored``.
        detail: substring of the error message or of one warning.
        outcomes: how many outcomes the target gives (a folder with two series gives two).
        api: what ``Assessor.score(target)`` does: ``same`` as the batch, ``multiple-series``
            (a :class:`MultipleSeriesError`) or ``skip`` (not a single-scan input, e.g. a folder of files).
        why: what the case is.
    """

    case: str
    target: str
    expect: str
    detail: str
    outcomes: int
    api: str
    why: str


def load_expectations(path: Path = EXPECTED_CSV) -> list[Expectation]:
    """The expectations table, in file order."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Expectation(r["case"], r["target"], r["expect"], r["detail"], int(r["outcomes"]), r["api"], r["why"])
        for r in rows
    ]


# ---------------------------------------------------------------- helpers


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_bytes(path: Path, seed: int, n: int = 4096) -> None:
    path.write_bytes(_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


def _ct_stored(n: int = 12, size: int = 48, seed: int = 0) -> np.ndarray:
    """A small CT (stored values, intercept -1024)."""
    return (ct_volume(n_slices=n, size=size, seed=seed) + 1024).clip(0, 4095).astype(np.int16)


def _ct_nifti(path: Path, n: int = 12, size: int = 48) -> Path:
    return write_nifti(path, np.ascontiguousarray(ct_volume(n_slices=n, size=size).transpose(2, 1, 0)))


@functools.lru_cache(maxsize=2)
def _gzip_zeros_member(n: int) -> bytes:
    """A gzip member holding ``n`` zero bytes (about n/1000 bytes compressed)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    out = [comp.compress(block) for _ in range(n >> 20)]
    out.append(comp.compress(bytes(n & ((1 << 20) - 1))))
    out.append(comp.flush())
    return b"".join(out)


def _gzip_bomb_tail(total: int) -> bytes:
    """Concatenated gzip members inflating to ``total`` zero bytes (64 MiB each, compressed once)."""
    member_size = 64 << 20
    member = _gzip_zeros_member(member_size)
    return member * (total // member_size)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ---------------------------------------------------------------- builders (one per case)

Builder = Callable[[Path], None]
BUILDERS: dict[str, Builder] = {}


def case(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


@case("c01-empty-nii-gz")
def _(d: Path) -> None:
    (d / "scan.nii.gz").write_bytes(b"")


@case("c02-empty-dcm")
def _(d: Path) -> None:
    (d / "image.dcm").write_bytes(b"")


@case("c03-truncated-nii-gz")
def _(d: Path) -> None:
    path = _ct_nifti(d / "scan.nii.gz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


@case("c04-truncated-dcm-pixels")
def _(d: Path) -> None:
    path = write_dicom_file(d / "slice.dcm", _ct_stored(1, 64)[0], RescaleIntercept="-1024", RescaleSlope="1")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 3000])


@case("c05-truncated-dcm-header")
def _(d: Path) -> None:
    path = write_dicom_file(d / "slice.dcm", _ct_stored(1, 64)[0])
    path.write_bytes(path.read_bytes()[:200])


_RANDOM_EXTENSIONS = {
    "c06-random-nii": ".nii",
    "c07-random-nii-gz": ".nii.gz",
    "c08-random-dcm": ".dcm",
    "c09-random-dcm-gz": ".dcm.gz",
    "c10-random-png": ".png",
    "c11-random-jpg": ".jpg",
    "c12-random-tif": ".tif",
    "c13-random-nrrd": ".nrrd",
    "c14-random-mha": ".mha",
    "c15-random-mhd": ".mhd",
}
for _seed, (_name, _ext) in enumerate(_RANDOM_EXTENSIONS.items()):

    def _random_case(d: Path, ext: str = _ext, seed: int = _seed) -> None:
        _random_bytes(d / f"noise{ext}", seed)

    BUILDERS[_name] = _random_case


@case("c16-text-named-dcm")
def _(d: Path) -> None:
    (d / "report.dcm").write_text("Patient: none\nFindings: this is a text file, not DICOM.\n" * 20)


@case("c17-dicom-sr")
def _(d: Path) -> None:
    write_dicom_no_pixels(d / "report.dcm", modality="SR")


@case("c18-dicom-presentation-state")
def _(d: Path) -> None:
    import pydicom

    path = write_dicom_no_pixels(d / "pstate.dcm", modality="PR")
    ds = pydicom.dcmread(path)
    gsps = "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = gsps
    ds.save_as(path, enforce_file_format=True)


@case("c19-dicomdir-file")
def _(d: Path) -> None:
    write_dicomdir(d / "DICOMDIR")


@case("c20-dicomdir-with-series")
def _(d: Path) -> None:
    write_dicomdir(d / "DICOMDIR")
    write_dicom_series(d / "IMAGES", _ct_stored(), seed=20)


@case("c21-two-series")
def _(d: Path) -> None:
    write_dicom_series(d, _ct_stored(seed=1), series_number=1, prefix="A", seed=21)
    write_dicom_series(d, _ct_stored(seed=2), series_number=2, prefix="B", seed=22)


@case("c22-missing-slice")
def _(d: Path) -> None:
    write_dicom_series(d, _ct_stored(14), skip_slices=(6,), seed=23)


@case("c23-duplicate-file")
def _(d: Path) -> None:
    paths = write_dicom_series(d, _ct_stored(), seed=24, shuffle_names=False)
    shutil.copy(paths[5], d / "copy_of_slice_5.dcm")


@case("c24-repeated-position")
def _(d: Path) -> None:
    z = [2.0 * k for k in range(12)]
    z[7] = z[6]  # two different images at one position
    write_dicom_series(d, _ct_stored(), positions=[(-50.0, -60.0, v) for v in z], seed=25)


@case("c25-mixed-orientations")
def _(d: Path) -> None:
    uid = new_uid(26)
    write_dicom_series(d, _ct_stored(10), orientation=AXIAL, series_uid=uid, prefix="AX", seed=26)
    write_dicom_series(d, _ct_stored(10), orientation=SAGITTAL, series_uid=uid, prefix="SAG", seed=27)


@case("c26-mixed-sizes")
def _(d: Path) -> None:
    uid = new_uid(28)
    write_dicom_series(d, _ct_stored(10, 48), series_uid=uid, prefix="BIG", seed=28)
    write_dicom_series(
        d, _ct_stored(10, 40), series_uid=uid, prefix="SMALL", seed=29, origin=(-50.0, -60.0, 100.0)
    )


@case("c27-non-uniform-spacing")
def _(d: Path) -> None:
    steps = [2.0, 2.0, 2.0, 3.1, 2.0, 2.0, 2.7, 2.0, 2.0, 2.0, 2.0]
    z = np.concatenate([[0.0], np.cumsum(steps)])
    write_dicom_series(d, _ct_stored(12), positions=[(-50.0, -60.0, float(v)) for v in z], seed=30)


@case("c28-4d-nifti")
def _(d: Path) -> None:
    vol = ct_volume(n_slices=12, size=48).transpose(2, 1, 0)
    write_nifti(d / "fmri.nii.gz", np.ascontiguousarray(np.stack([vol, vol + 5, vol - 5], axis=-1)))


@case("c29-single-slice-nifti")
def _(d: Path) -> None:
    write_nifti(d / "one_slice.nii.gz", np.ascontiguousarray(ct_volume(8, 64)[4].T[:, :, None]))


@case("c30-single-file-series")
def _(d: Path) -> None:
    write_dicom_series(d, _ct_stored(12)[5:6], seed=31)


@case("c31-constant-nifti")
def _(d: Path) -> None:
    write_nifti(d / "constant.nii.gz", np.full((48, 48, 12), 300, np.int16))


@case("c32-all-background-ct")
def _(d: Path) -> None:
    air = -1000 + _rng(32).normal(0, 5, (12, 48, 48))
    write_dicom_series(d, (air + 1024).astype(np.int16), seed=32)


@case("c33-all-nan-nifti")
def _(d: Path) -> None:
    write_nifti(d / "nan.nii.gz", np.full((16, 16, 8), np.nan, np.float32))


@case("c34-all-inf-nifti")
def _(d: Path) -> None:
    vol = np.full((16, 16, 8), np.inf, np.float32)
    vol[::2] = -np.inf
    write_nifti(d / "inf.nii.gz", vol)


@case("c35-some-nan-nifti")
def _(d: Path) -> None:
    vol = ct_volume(12, 48).transpose(2, 1, 0).copy()
    vol[:5, :5, :] = np.nan
    write_nifti(d / "holes.nii.gz", vol)


@case("c36-negative-pixdim-nifti")
def _(d: Path) -> None:
    patch_nifti_pixdim(_ct_nifti(d / "scan.nii"), (0.8, -0.8, 2.0))


@case("c37-zero-pixdim-nifti")
def _(d: Path) -> None:
    patch_nifti_pixdim(_ct_nifti(d / "scan.nii"), (0.8, 0.8, 0.0))


@case("c38-negative-pixel-spacing-dicom")
def _(d: Path) -> None:
    paths = write_dicom_series(d, _ct_stored(12), seed=38)
    _set_tags(paths, PixelSpacing=["-0.5", "-0.5"])


@case("c39-zero-pixel-spacing-dicom")
def _(d: Path) -> None:
    paths = write_dicom_series(d, _ct_stored(12), seed=39)
    _set_tags(paths, PixelSpacing=["0", "0"])


def _set_tags(paths: list[Path], **tags: object) -> None:
    import pydicom

    for path in paths:
        ds = pydicom.dcmread(path)
        for key, value in tags.items():
            setattr(ds, key, value)
        ds.save_as(path, enforce_file_format=True)


@case("c40-huge-matrix-nifti")
def _(d: Path) -> None:
    write_nifti_header_only(d / "huge.nii.gz", (4000, 4000, 4000))


@case("c41-huge-matrix-dicom")
def _(d: Path) -> None:
    path = write_dicom_file(d / "huge.dcm", np.zeros((8, 8), np.uint16))
    _set_tags([path], Rows=65535, Columns=65535, NumberOfFrames=200)


@case("c42-huge-frame-count-dicom")
def _(d: Path) -> None:
    path = write_dicom_file(d / "frames.dcm", np.zeros((16, 16), np.uint16))
    _set_tags([path], NumberOfFrames=2_000_000_000)


@case("c43-huge-matrix-mha")
def _(d: Path) -> None:
    path = write_mha(d / "huge.mha", np.zeros((4, 4, 4), np.int16))
    path.write_bytes(path.read_bytes().replace(b"DimSize = 4 4 4", b"DimSize = 100000 100000 100000"))


@case("c44-huge-matrix-nrrd")
def _(d: Path) -> None:
    path = write_nrrd(d / "huge.nrrd", np.zeros((4, 4, 4), np.int16))
    path.write_bytes(path.read_bytes().replace(b"sizes: 4 4 4", b"sizes: 100000 100000 100000"))


@case("c45-gzip-bomb-nifti")
def _(d: Path) -> None:
    # a valid constant 48x48x12 NIfTI whose gzip stream goes on with 1 GiB of zeros
    vol = np.full((48, 48, 12), 20, np.int16)
    path = write_nifti(d / "bomb.nii.gz", vol)
    path.write_bytes(path.read_bytes() + _gzip_bomb_tail(BOMB_BYTES))


@case("c46-gzip-bomb-dcm-gz")
def _(d: Path) -> None:
    path = write_dicom_file(d / "bomb.dcm.gz", _ct_stored(1, 64)[0], gz=True)
    path.write_bytes(path.read_bytes() + _gzip_bomb_tail(BOMB_BYTES))


@case("c47-gzip-of-zeros")
def _(d: Path) -> None:
    (d / "zeros.nii.gz").write_bytes(_gzip_bomb_tail(BOMB_BYTES))


@case("c48-png-bomb")
def _(d: Path) -> None:
    # a real 1-bit 20000 x 20000 PNG (400 M pixels, about 50 kB on disk)
    width = height = 20_000
    row = bytes(1 + width // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row * 1000) for _ in range(height // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    (d / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


@case("c49-tiff-bomb")
def _(d: Path) -> None:
    # a deflate TIFF whose header claims 60000 x 60000 pixels in one strip of a few kilobytes
    size = 60_000
    strip = zlib.compress(bytes(1 << 22), 9)
    entries = [
        (256, 4, 1, size),  # ImageWidth
        (257, 4, 1, size),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 8),  # Compression: deflate
        (262, 3, 1, 1),  # PhotometricInterpretation: min-is-black
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, size),  # RowsPerStrip
        (279, 4, 1, len(strip)),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_at = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_at if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    (d / "bomb.tif").write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + strip)


@case("c50-tiff-16bit")
def _(d: Path) -> None:
    write_tiff(d / "slice16.tif", (mr_slice(96) * 50).astype(np.uint16))


@case("c51-tiff-float")
def _(d: Path) -> None:
    write_tiff(d / "slicef.tif", mr_slice(96).astype(np.float32))


@case("c52-palette-png")
def _(d: Path) -> None:
    idx = np.zeros((96, 96), np.uint8)
    idx[20:76, 20:76] = 1
    idx[40:56, 40:56] = 2
    write_palette_png(d / "palette.png", idx, [(0, 0, 0), (200, 90, 40), (250, 220, 160)])


@case("c53-symlink-loop")
def _(d: Path) -> None:
    _ct_nifti(d / "scan.nii.gz")
    (d / "sub").mkdir()
    (d / "sub" / "back_to_top").symlink_to(d, target_is_directory=True)
    (d / "sub" / "self").symlink_to(d / "sub", target_is_directory=True)


@case("c54-unreadable-file")
def _(d: Path) -> None:
    path = _ct_nifti(d / "locked.nii.gz")
    path.chmod(0)  # root still reads it: the test fakes the refusal then


@case("c55-unicode-and-spaces")
def _(d: Path) -> None:
    _ct_nifti(d / "Ünïcödé 日本 scan (1).nii.gz")


@case("c56-unicode-bad-file")
def _(d: Path) -> None:
    _random_bytes(d / "bäd ßcän #2.dcm", 56)


@case("c57-compressed-without-codec")
def _(d: Path) -> None:
    from pydicom.uid import RLELossless

    write_dicom_series(d, _ct_stored(8, 32).astype(np.uint16), compress=RLELossless, seed=57)


@case("c58-fifo")
def _(d: Path) -> None:
    if hasattr(os, "mkfifo"):
        os.mkfifo(d / "pipe.nii.gz")


@case("c59-broken-symlink")
def _(d: Path) -> None:
    (d / "gone.nii.gz").symlink_to(d / "does-not-exist.nii.gz")


@case("c60-folder-without-images")
def _(d: Path) -> None:
    write_dicom_no_pixels(d / "report.dcm")
    (d / "README.txt").write_text("nothing to score here\n")


@case("c61-analyze-pair")
def _(d: Path) -> None:
    import nibabel as nib

    img = nib.AnalyzeImage(np.zeros((8, 8, 8), np.int16), np.eye(4))
    nib.save(img, d / "old.hdr")


@case("c62-truncated-png")
def _(d: Path) -> None:
    path = d / "cut.png"
    write_png8(path, (fundus_photo(96)).astype(np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


@case("c63-truncated-jpeg")
def _(d: Path) -> None:
    from tests.io_fixtures import write_jpeg

    path = write_jpeg(d / "cut.jpg", fundus_photo(128).astype(np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


@case("c64-nan-affine-nifti")
def _(d: Path) -> None:
    path = _ct_nifti(d / "nan_affine.nii")
    raw = bytearray(path.read_bytes())
    struct.pack_into("<hh", raw, 252, 0, 1)  # qform_code 0, sform_code 1
    struct.pack_into("<4f", raw, 280, np.nan, 0.0, 0.0, 0.0)  # srow_x
    (d / "nan_affine.nii.gz").write_bytes(gzip.compress(bytes(raw), mtime=0))
    path.unlink()


@case("c65-truncated-nrrd")
def _(d: Path) -> None:
    path = write_nrrd(d / "cut.nrrd", ct_volume(12, 48).astype(np.int16))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


@case("c66-mhd-without-raw")
def _(d: Path) -> None:
    path = write_mha(d / "lonely.mhd", ct_volume(12, 48).astype(np.int16), detached=True)
    path.with_suffix(".raw").unlink()


@case("c67-dicom-zero-rows")
def _(d: Path) -> None:
    path = write_dicom_file(d / "zero.dcm", np.zeros((8, 8), np.uint16))
    _set_tags([path], Rows=0)


@case("c68-dicom-short-pixel-data")
def _(d: Path) -> None:
    import pydicom

    path = write_dicom_file(d / "short.dcm", np.zeros((64, 64), np.uint16))
    ds = pydicom.dcmread(path)
    ds.PixelData = bytes(100)
    ds.save_as(path, enforce_file_format=True)


@case("c69-rgb-nifti")
def _(d: Path) -> None:
    import nibabel as nib

    rgb = np.zeros((8, 8, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    img = nib.Nifti1Image(rgb, np.eye(4))
    nib.save(img, d / "rgb.nii.gz")


@case("c70-good-nifti")
def _(d: Path) -> None:
    _ct_nifti(d / "good.nii.gz", n=16, size=64)


@case("c71-good-series")
def _(d: Path) -> None:
    write_dicom_series(d, _ct_stored(16, 64), seed=71)


@case("c72-good-photo")
def _(d: Path) -> None:
    write_png8(d / "fundus.png", fundus_photo(128).astype(np.uint8))


@case("c73-truncated-tiff")
def _(d: Path) -> None:
    import tifffile

    path = d / "cut.tif"
    tifffile.imwrite(path, (mr_slice(64) * 50).astype(np.uint16), compression="zlib")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] + raw[-300:])  # strips cut short, the directory kept


@case("c74-dicom-transfer-syntax-lies")
def _(d: Path) -> None:
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    for path in write_dicom_series(d, _ct_stored(12), seed=74):
        raw = path.read_bytes()
        ds = pydicom.dcmread(path)
        body = DicomBytesIO()
        body.is_little_endian, body.is_implicit_VR = True, True
        write_dataset(body, ds)  # the data set in implicit VR, the file meta still claiming explicit VR
        meta_end = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
        path.write_bytes(raw[:meta_end] + body.getvalue())


@case("c75-png-chunk-claims-4gb")
def _(d: Path) -> None:
    # found by atheris: libpng allocated what the IDAT length field claimed (4 GB) for a 1 kB file
    path = d / "liar.png"
    write_png8(path, np.clip(mr_slice(32) / 3, 0, 255))
    raw = bytearray(path.read_bytes())
    at = raw.index(b"IDAT") - 4
    raw[at : at + 4] = struct.pack(">I", 0xFFFFFFDF)
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------- driver


def build_corpus(root: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the cases (all, or ``names``) under ``root``; returns ``case -> target path``.

    Cases whose builder wrote nothing (a FIFO where the OS has none) are left out.
    """
    root.mkdir(parents=True, exist_ok=True)
    targets: dict[str, Path] = {}
    for exp in load_expectations():
        if names is not None and exp.case not in names:
            continue
        folder = root / exp.case
        folder.mkdir()
        BUILDERS[exp.case](folder)
        target = folder / exp.target if exp.target != "." else folder
        if target.exists() or target.is_symlink():
            targets[exp.case] = target
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the corpus into (must not exist)")
    parser.add_argument("--list", action="store_true", help="print the expectations table and exit")
    args = parser.parse_args(argv)
    expectations = load_expectations()
    if args.list:
        for e in expectations:
            print(f"{e.case:36s} {e.expect:20s} {e.detail}")
        return 0
    if args.out.exists():
        print(f"{args.out} exists; choose a new folder", file=sys.stderr)
        return 2
    targets = build_corpus(args.out)
    print(f"wrote {len(targets)} cases under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
