"""Fuzzing the readers: every input either scores or raises a mediqa-sdk error, never another exception,
never a hang.

Three kinds of input, as hypothesis strategies (used by ``tests/test_fuzz_loaders.py`` in CI with few
examples, and by this module for long runs):

- **bytes of valid small files, damaged**: truncated, bits flipped, bytes overwritten, inserted or deleted
  (NIfTI, gzip NIfTI re-compressed after the damage, DICOM classic / enhanced / mosaic / ``.dcm.gz``, PNG,
  JPEG, TIFF, NRRD, MetaImage);
- **NIfTI headers with random field values** (dim, datatype, bitpix, pixdim, vox_offset, scaling, qform and
  sform codes and rows, dim_info);
- **DICOM data sets with random tag values**, written byte by byte (implicit VR little endian, so a value
  that is not even valid for its VR reaches the reader): image size, bits, photometric interpretation,
  frames, geometry, spacing, rescale, Siemens mosaic count, pixel data of any length, any transfer syntax.

The property runs the whole pipeline (:meth:`Assessor.score` with the tiny placeholder graphs, so reading,
slice selection, preprocessing, prompts and inference) under small read limits and a per-input alarm.

Long runs::

    python -m tests.fuzz_loaders --minutes 10            # hypothesis: the 3 strategies, new seeds each round
    python -m tests.fuzz_loaders --atheris --minutes 10  # coverage-guided (pip install atheris)
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import signal
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from mediqa_sdk import Assessor
from mediqa_sdk.errors import MediqaError
from mediqa_sdk.io import ReadLimits, discover_inputs

__all__ = [
    "FUZZ_LIMITS",
    "FuzzHangError",
    "check_bytes",
    "damaged_files",
    "dicom_datasets",
    "nifti_headers",
    "seed_files",
]

#: small ceilings, so a mutated header cannot make the fuzzer allocate gigabytes
FUZZ_LIMITS = ReadLimits(max_voxels=4_000_000, max_pixels_2d=4_000_000, max_file_bytes=64 * 2**20)
ALARM_S = 30.0


class FuzzHangError(Exception):
    """One input took longer than :data:`ALARM_S` seconds: a hang."""


# ---------------------------------------------------------------- the property


@functools.lru_cache(maxsize=1)
def _assessor() -> Assessor:
    return Assessor(
        "mediqa-scorer-placeholder",
        classifier="mediqa-classifier-placeholder",
        device="cpu",
        limits=FUZZ_LIMITS,
    )


@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mediqa-fuzz-"))


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`FuzzHangError` after ``seconds`` (POSIX main thread; elsewhere no guard)."""
    usable = hasattr(signal, "setitimer") and __import__("threading").current_thread().name == "MainThread"
    if not usable:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise FuzzHangError(f"no answer after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_bytes(data: bytes, name: str) -> str:
    """Write ``data`` as ``name`` and score it: returns ``"scored"`` or ``"refused"`` (a :class:`MediqaError`
    with a one-line message naming the file); any other exception, a multi-line message or a hang propagates.
    """
    path = _workdir() / name
    path.write_bytes(data)
    try:
        with _alarm(ALARM_S):
            _, failures = discover_inputs([path])  # never raises by contract
            for _, error in failures:
                _check_message(error, path)
            try:
                _assessor().score(path)
            except MediqaError as err:
                _check_message(err, path)
                return "refused"
            return "scored"
    finally:
        path.unlink(missing_ok=True)


def _check_message(error: BaseException, path: Path) -> None:
    text = str(error)
    if "\n" in text or not text.startswith(path.name):
        raise AssertionError(f"not a one-line message naming {path.name}: {text!r}")


# ---------------------------------------------------------------- seed files


@functools.lru_cache(maxsize=1)
def seed_files() -> dict[str, bytes]:
    """Small valid files of every supported kind: ``name -> bytes``."""
    from tests.io_fixtures import (
        write_dicom_file,
        write_enhanced_dicom,
        write_jpeg,
        write_mha,
        write_mosaic_dicom,
        write_nifti,
        write_nrrd,
        write_png8,
        write_png16,
        write_tiff,
    )
    from tests.synthetic import ct_volume, fundus_photo, mr_slice

    folder = Path(tempfile.mkdtemp(prefix="mediqa-fuzz-seeds-"))
    ct = ct_volume(n_slices=8, size=16, seed=0)
    ct_i16 = np.ascontiguousarray(ct.astype(np.int16).transpose(2, 1, 0))
    stored = (ct + 1024).clip(0, 4095).astype(np.int16)
    mr = mr_slice(24)
    paths = [
        write_nifti(folder / "seed.nii", ct_i16),
        write_nifti(folder / "seedf.nii", np.ascontiguousarray(ct.transpose(2, 1, 0))),
        write_dicom_file(
            folder / "seed.dcm",
            stored[4],
            RescaleSlope="1",
            RescaleIntercept="-1024",
            ImagePositionPatient=["0", "0", "0"],
            ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
            PixelSpacing=["0.5", "0.5"],
        ),
        write_enhanced_dicom(
            folder / "enh.dcm", stored[:4].astype(np.uint16), [(0.0, 0.0, 2.0 * k) for k in range(4)]
        ),
        write_mosaic_dicom(folder / "mosaic.dcm", stored[:4].astype(np.uint16)),
        write_png8(folder / "seed.png", np.clip(mr / 3, 0, 255)),
        write_png16(folder / "seed16.png", mr * 50),
        write_jpeg(folder / "seed.jpg", fundus_photo(24)),
        write_tiff(folder / "seed.tif", (mr * 50).astype(np.uint16)),
        write_tiff(folder / "seedf.tif", mr.astype(np.float32)),
        write_nrrd(folder / "seed.nrrd", ct.astype(np.int16)),
        write_nrrd(folder / "seedgz.nrrd", ct.astype(np.int16), encoding="gzip"),
        write_mha(folder / "seed.mha", ct.astype(np.int16), compressed=True),
    ]
    seeds = {p.name: p.read_bytes() for p in paths}
    seeds["seed.dcm.gz"] = gzip.compress(seeds["seed.dcm"], mtime=0)
    seeds["seed.nii.gz"] = gzip.compress(seeds["seed.nii"], mtime=0)
    return seeds


# ---------------------------------------------------------------- strategy 1: damaged bytes of valid files


def _apply(data: bytearray, op: tuple[Any, ...]) -> bytearray:
    kind, where = op[0], op[1] % (len(data) + 1)
    if kind == "truncate":
        return data[:where]
    if kind == "insert":
        return data[:where] + op[2] + data[where:]
    if not data:
        return data
    where %= len(data)
    if kind == "flip":
        data[where] ^= 1 << op[2]
    elif kind == "set":
        data[where : where + len(op[2])] = op[2]
    elif kind == "delete":
        del data[where : where + op[2]]
    return data


_position = st.one_of(st.integers(0, 600), st.integers(0, 1 << 20))  # headers are where the decisions are
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), _position, st.integers(0, 7)),
        st.tuples(st.just("set"), _position, st.binary(min_size=1, max_size=8)),
        st.tuples(
            st.just("set"), _position, st.sampled_from([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xff"])
        ),
        st.tuples(st.just("truncate"), _position),
        st.tuples(st.just("insert"), _position, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), _position, st.integers(1, 64)),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, ops: list[tuple[Any, ...]], name: str) -> bytes:
    """Damage ``data``; a ``.gz`` seed is damaged inside and compressed again (so the damage reaches the
    reader), unless an op asks to damage the compressed stream itself (``name`` ends in ``.gz`` and the
    first op is a truncation)."""
    if name.endswith(".gz") and ops[0][0] != "truncate":
        inner = bytearray(gzip.decompress(data))
        for op in ops:
            inner = _apply(inner, op)
        return gzip.compress(bytes(inner), mtime=0)
    out = bytearray(data)
    for op in ops:
        out = _apply(out, op)
    return bytes(out)


@st.composite
def damaged_files(draw: Callable[..., Any]) -> tuple[bytes, str]:
    """``(bytes, file name)``: a seed file after a few random mutations."""
    seeds = seed_files()
    name = draw(st.sampled_from(sorted(seeds)))
    return mutate(seeds[name], draw(_OPS), name), name


# ---------------------------------------------------------------- strategy 2: NIfTI header fields

_NIFTI_FIELDS: dict[str, tuple[int, str]] = {
    "dim_info": (39, "b"),
    "dim": (40, "8h"),
    "datatype": (70, "h"),
    "bitpix": (72, "h"),
    "slice_end": (74, "h"),
    "pixdim": (76, "8f"),
    "vox_offset": (108, "f"),
    "scl_slope": (112, "f"),
    "scl_inter": (116, "f"),
    "qform_code": (252, "h"),
    "sform_code": (254, "h"),
    "quatern": (256, "6f"),
    "srow": (280, "12f"),
}
_NIFTI_DTYPES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304]
_f32 = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, 1.0, 1e-30, 1e30, 352.0, 348.0]),
)
_i16 = st.one_of(st.integers(-32768, 32767), st.integers(-2, 12))


@st.composite
def nifti_headers(draw: Callable[..., Any]) -> tuple[bytes, str]:
    """``(bytes, name)``: the seed NIfTI with a few header fields set to random values (plain or gzip)."""
    seed = bytearray(seed_files()["seed.nii"])
    for field in draw(st.lists(st.sampled_from(sorted(_NIFTI_FIELDS)), min_size=1, max_size=4, unique=True)):
        offset, fmt = _NIFTI_FIELDS[field]
        count, code = (int(fmt[:-1]) if len(fmt) > 1 else 1), fmt[-1]
        if field == "datatype":
            values: list[Any] = [draw(st.one_of(st.sampled_from(_NIFTI_DTYPES), _i16))]
        elif code == "f":
            values = draw(st.lists(_f32, min_size=count, max_size=count))
        elif code == "b":
            values = [draw(st.integers(-128, 127))]
        else:
            values = draw(st.lists(_i16, min_size=count, max_size=count))
        struct.pack_into("<" + str(count) + code, seed, offset, *values)
    gz = draw(st.booleans())
    return (gzip.compress(bytes(seed), mtime=0), "hdr.nii.gz") if gz else (bytes(seed), "hdr.nii")


# ---------------------------------------------------------------- strategy 3: DICOM tag values

_DS_TEXT = st.text(alphabet="0123456789.-+eE \\naif", max_size=24)
_IMPLICIT_LE = "1.2.840.10008.1.2"
_SYNTAXES = [
    _IMPLICIT_LE,
    "1.2.840.10008.1.2.1",  # explicit VR little endian (a lie: the body is implicit)
    "1.2.840.10008.1.2.2",  # explicit VR big endian
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.3.4",  # unknown
    "",
]


def _us(value: int) -> bytes:
    return struct.pack("<H", value & 0xFFFF)


def _text(value: str) -> bytes:
    raw = value.encode("latin-1", errors="replace")
    return raw + b" " if len(raw) % 2 else raw


def _ds_values(n: int) -> st.SearchStrategy[str]:
    sane = st.lists(st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: f"{v:.6g}"), min_size=n, max_size=n)
    return st.one_of(sane.map("\\".join), _DS_TEXT)


@st.composite
def dicom_datasets(draw: Callable[..., Any]) -> tuple[bytes, str]:
    """``(bytes, name)``: a DICOM file whose image attributes hold random values (implicit VR body)."""
    rows = draw(st.one_of(st.integers(1, 24), st.sampled_from([0, 1, 65535])))
    cols = draw(st.one_of(st.integers(1, 24), st.sampled_from([0, 1, 65535])))
    bits = draw(st.sampled_from([8, 16, 16, 32, 1, 12, 0, 7, 64]))
    samples = draw(st.sampled_from([1, 1, 1, 3, 0, 2, 4]))
    frames = draw(st.one_of(st.none(), st.integers(-2, 6).map(str), _DS_TEXT))
    n_frames = int(frames) if frames and frames.lstrip("-").isdigit() and int(frames) > 0 else 1
    native = max(0, rows * cols * n_frames * samples * bits // 8)
    pixel_len = draw(
        st.one_of(
            st.just(min(native, 1 << 20)), st.integers(0, 4096), st.just(max(0, min(native, 1 << 20) - 1))
        )
    )
    elements: dict[tuple[int, int], bytes] = {
        (0x0008, 0x0016): _text("1.2.840.10008.5.1.4.1.1.2"),
        (0x0008, 0x0018): _text("1.2.3.4.5"),
        (0x0008, 0x0060): _text(draw(st.sampled_from(["CT", "MR", "OT", "SR", ""]))),
        (0x0020, 0x000E): _text("1.2.3.4.6"),
        (0x0028, 0x0002): _us(samples),
        (0x0028, 0x0004): _text(
            draw(st.sampled_from(["MONOCHROME2", "MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "", "X"]))
        ),
        (0x0028, 0x0010): _us(rows),
        (0x0028, 0x0011): _us(cols),
        (0x0028, 0x0100): _us(bits),
        (0x0028, 0x0101): _us(draw(st.sampled_from([bits, bits - 4, 0, 12, 99]))),
        (0x0028, 0x0102): _us(draw(st.sampled_from([bits - 1, 11, 0, 200]))),
        (0x0028, 0x0103): _us(draw(st.sampled_from([0, 1, 2]))),
        (0x7FE0, 0x0010): draw(st.binary(min_size=pixel_len, max_size=pixel_len))
        if pixel_len < 64
        else bytes(range(256)) * (pixel_len // 256) + bytes(pixel_len % 256),
    }
    optional: dict[tuple[int, int], st.SearchStrategy[bytes]] = {
        (0x0008, 0x0008): st.sampled_from(["ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC", "DERIVED", ""]).map(_text),
        (0x0018, 0x0050): _ds_values(1).map(_text),
        (0x0018, 0x0088): _ds_values(1).map(_text),
        (0x0019, 0x0010): st.just(_text("SIEMENS MR HEADER")),
        (0x0019, 0x100A): st.integers(0, 70000).map(_us),
        (0x0020, 0x0013): st.one_of(st.integers(-5, 5).map(str), _DS_TEXT).map(_text),
        (0x0020, 0x0032): _ds_values(3).map(_text),
        (0x0020, 0x0037): st.one_of(st.just("1\\0\\0\\0\\1\\0"), _ds_values(6)).map(_text),
        (0x0028, 0x0006): st.integers(0, 3).map(_us),
        (0x0028, 0x0008): st.just(_text(frames or "1")),
        (0x0028, 0x0030): _ds_values(2).map(_text),
        (0x0028, 0x1052): _ds_values(1).map(_text),
        (0x0028, 0x1053): _ds_values(1).map(_text),
    }
    for tag in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=len(optional))):
        elements[tag] = draw(optional[tag])
    body = b"".join(
        struct.pack("<HHI", group, elem, len(value)) + value
        for (group, elem), value in sorted(elements.items())
    )
    syntax = draw(st.sampled_from(_SYNTAXES[:1] * 4 + _SYNTAXES))
    meta_items = [
        (0x0001, b"OB", b"\x00\x01"),
        (0x0002, b"UI", _text("1.2.840.10008.5.1.4.1.1.2")),
        (0x0003, b"UI", _text("1.2.3.4.5")),
        (0x0010, b"UI", _text(syntax)),
    ]
    meta = b""
    for elem, vr, value in meta_items:
        if vr == b"OB":
            meta += struct.pack("<HH", 2, elem) + vr + b"\x00\x00" + struct.pack("<I", len(value)) + value
        else:
            meta += struct.pack("<HH", 2, elem) + vr + struct.pack("<H", len(value)) + value
    group_length = struct.pack("<HH", 2, 0) + b"UL" + struct.pack("<HI", 4, len(meta))
    data = b"\x00" * 128 + b"DICM" + group_length + meta + body
    gz = draw(st.integers(0, 9)) == 0
    return (gzip.compress(data, mtime=0), "tags.dcm.gz") if gz else (data, "tags.dcm")


STRATEGIES: dict[str, st.SearchStrategy[tuple[bytes, str]]] = {
    "damaged": damaged_files(),
    "nifti-header": nifti_headers(),
    "dicom-tags": dicom_datasets(),
}


# ---------------------------------------------------------------- long runs


def _property(
    name: str, strategy: st.SearchStrategy[tuple[bytes, str]], counts: dict[str, int], examples: int
) -> Callable[[], None]:
    from hypothesis import HealthCheck, given, settings

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def prop(case: tuple[bytes, str]) -> None:
        try:
            counts[check_bytes(*case)] += 1
        except BaseException as err:
            _save_crash(case, err)
            raise

    return prop  # type: ignore[no-any-return]


def _save_crash(case: tuple[bytes, str], err: BaseException) -> Path:
    """Keep the input that crashed as ``<workdir>/crashes/<error>-<sha256[:10]>-<name>`` (reproduce it with
    ``mediqa score --verbose FILE``)."""
    import hashlib

    data, name = case
    folder = _workdir() / "crashes"
    folder.mkdir(exist_ok=True)
    path = folder / f"{type(err).__name__}-{hashlib.sha256(data).hexdigest()[:10]}-{name}"
    path.write_bytes(data)
    return path


def _run_hypothesis(minutes: float, examples_per_round: int) -> int:
    deadline = time.monotonic() + 60 * minutes
    counts = {name: {"scored": 0, "refused": 0} for name in STRATEGIES}
    crashes: list[str] = []
    rounds = 0
    while time.monotonic() < deadline:
        for name, strategy in STRATEGIES.items():
            prop = _property(name, strategy, counts[name], examples_per_round)
            try:
                prop()
            except Exception:  # a crash: keep the falsifying example (hypothesis printed it) and go on
                crashes.append(f"{name}: {traceback.format_exc(limit=3)}")
                print(crashes[-1], file=sys.stderr)
            if time.monotonic() >= deadline:
                break
        rounds += 1
        total = sum(sum(c.values()) for c in counts.values())
        print(f"round {rounds}: {total} executions {counts}", file=sys.stderr)
    total = sum(sum(c.values()) for c in counts.values())
    print(f"hypothesis: {total} executions in {minutes:g} min, {len(crashes)} crashes; {counts}")
    if crashes:
        print(f"inputs that crashed (with every shrinking step): {_workdir() / 'crashes'}")
    return 1 if crashes else 0


def atheris_case(data: bytes) -> tuple[bytes, str]:
    """Map libFuzzer's bytes to ``(file bytes, name)``: a seed file and up to 6 mutations, or raw bytes under
    a seed's name (reproduce a saved unit: ``check_bytes(*atheris_case(Path(unit).read_bytes()))``)."""
    import atheris

    seeds = seed_files()
    names = sorted(seeds)
    fdp = atheris.FuzzedDataProvider(data)
    name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
    ops: list[tuple[Any, ...]] = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        kind = ["flip", "set", "truncate", "insert", "delete"][fdp.ConsumeIntInRange(0, 4)]
        where = fdp.ConsumeIntInRange(0, 1 << 16)
        if kind == "flip":
            ops.append((kind, where, fdp.ConsumeIntInRange(0, 7)))
        elif kind in ("set", "insert"):
            ops.append((kind, where, fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16)) or b"\x00"))
        elif kind == "delete":
            ops.append((kind, where, fdp.ConsumeIntInRange(1, 64)))
        else:
            ops.append((kind, where))
    return (mutate(seeds[name], ops, name) if ops else fdp.ConsumeBytes(fdp.remaining_bytes())), name


def _run_atheris(minutes: float) -> int:
    import atheris

    counts = {"scored": 0, "refused": 0}

    def one(data: bytes) -> None:
        counts[check_bytes(*atheris_case(data))] += 1

    seconds = max(1, int(60 * minutes))
    corpus = _workdir() / "atheris-corpus"
    corpus.mkdir(exist_ok=True)
    argv = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={_workdir()}/",
        str(corpus),
    ]
    atheris.instrument_all()
    atheris.Setup(argv, one)
    atheris.Fuzz()  # libFuzzer ends the process at the end of the time budget (or on a crash)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the mediqa-sdk readers for a while.")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument(
        "--examples", type=int, default=200, help="hypothesis examples per strategy per round"
    )
    parser.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing with atheris")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    if args.atheris:
        return _run_atheris(args.minutes)
    return _run_hypothesis(args.minutes, args.examples)


if __name__ == "__main__":
    sys.exit(main())
