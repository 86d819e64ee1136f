"""ONNX Runtime sessions: provider choice in one place, checked, and graphs verified by sha256 on every load.

``device`` values:

- ``"cpu"``: CPUExecutionProvider only.
- ``"cuda"``: CUDA then CPU (for unsupported nodes); an error if the session does not really use CUDA.
- ``"tensorrt"``: TensorRT (fp16, an explicit shape profile from the model's contract, engine cache keyed by
  model sha256, ORT and TensorRT versions and GPU name), then CUDA, then CPU; an error if TensorRT is not
  really used.
- ``"auto"``: the best of those that are usable here (a GPU is present and the provider is available),
  falling back quietly; the result records what was really used.

onnxruntime silently falls back to CPU when a GPU provider cannot load, so after creating a session the
providers it reports are compared with the request. Before a GPU session is created, the CUDA, cuDNN and
TensorRT libraries of the NVIDIA wheels (the ``[gpu]`` extra) are loaded once per process
(:func:`preload_gpu_libraries`); the CPU path never touches them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeviceUnavailableError, ModelIntegrityError
from .registry import ModelRecord

__all__ = [
    "DEVICES",
    "TRT_MAX_BATCH",
    "TRT_OPT_BATCH",
    "GpuInfo",
    "Session",
    "cache_dir",
    "cuda_options",
    "file_sha256",
    "gpu_info",
    "input_shape_ranges",
    "preload_gpu_libraries",
    "provider_plan",
    "shapes_option",
    "tensorrt_options",
    "verified_model_bytes",
]

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
_CPU, _CUDA, _TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_PROFILE_KEYS = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")

TRT_MAX_BATCH = 64
"""Rows (scorer: scans x types; classifier: slices) one TensorRT run takes at most; longer runs are split."""
TRT_OPT_BATCH = 8
"""The batch TensorRT tunes its kernels for: the default ``batch_size`` of ``Assessor.iter_score``."""

Shape = tuple[int, ...]


@dataclass(frozen=True)
class GpuInfo:
    """What the CUDA driver says: how many GPUs and their names (empty when no driver or no GPU)."""

    driver_found: bool
    names: tuple[str, ...]

    @property
    def present(self) -> bool:
        """True when at least one CUDA GPU answers."""
        return bool(self.names)


@lru_cache(maxsize=1)
def gpu_info() -> GpuInfo:
    """Ask the CUDA driver (libcuda) directly whether a GPU is present; never raises."""
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
        except OSError:
            continue
        try:
            if cuda.cuInit(0) != 0:
                return GpuInfo(True, ())
            count = ctypes.c_int()
            if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return GpuInfo(True, ())
            names = []
            for i in range(count.value):
                dev = ctypes.c_int()
                buf = ctypes.create_string_buffer(256)
                if cuda.cuDeviceGet(ctypes.byref(dev), i) == 0 and cuda.cuDeviceGetName(buf, 256, dev) == 0:
                    names.append(buf.value.decode(errors="replace"))
            return GpuInfo(True, tuple(names))
        except (AttributeError, OSError):
            return GpuInfo(True, ())
    return GpuInfo(False, ())


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verified_model_bytes(record: ModelRecord) -> bytes:
    """The graph file of ``record``, read once and checked against the registry's sha256.

    Raises:
        ModelIntegrityError: the file is missing or its sha256 differs.
    """
    path = record.path
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} for {record.name!r} is missing; reinstall mediqa-sdk")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256:
        raise ModelIntegrityError(
            f"{path}: sha256 {digest[:16]}… does not match the registry's {record.sha256[:16]}… for "
            f"{record.name!r}; the file is corrupt or was replaced — reinstall mediqa-sdk"
        )
    return data


def cache_dir() -> Path:
    """Where TensorRT engines are cached: ``$MEDIQA_CACHE`` or ``~/.cache/mediqa-sdk``."""
    base = os.environ.get("MEDIQA_CACHE") or Path.home() / ".cache" / "mediqa-sdk"
    return Path(base)


def _tensorrt_version() -> str:
    from importlib import metadata

    for dist in ("tensorrt", "tensorrt-cu13-libs", "tensorrt-cu12-libs", "tensorrt-libs", "tensorrt-cu13"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


# ------------------------------------------------------------------------------------ provider options


def input_shape_ranges(
    record: ModelRecord,
    max_batch: int = TRT_MAX_BATCH,
    opt_batch: int = TRT_OPT_BATCH,
    opt_slices: int | None = None,
) -> dict[str, tuple[Shape, Shape, Shape]]:
    """``(min, opt, max)`` shape of every graph input, from the record's ONNX contract (DESIGN.md, v1).

    - classifier ``image`` [N,3,H,W]: N in 1..``max_batch``, tuned for ``opt_batch`` volumes of
      ``n_slices`` slices (capped at ``max_batch``);
    - scorer ``slices`` [B,S,3,H,W] and ``prompt`` [B,P]: B in 1..``max_batch`` (tuned for ``opt_batch``),
      S in 1..``n_slices`` (1 for 2D inputs; tuned for ``opt_slices``, default ``n_slices``), H = W = the
      record's input size, P its prompt length.

    Empty for a task this runtime has no contract for (TensorRT then derives profiles from the inputs).

    Raises:
        ValueError: an opt value outside 1..max.
    """
    size, slices = record.preprocess.size, max(1, record.salient.n_slices)
    opt_s = slices if opt_slices is None else opt_slices
    if not (1 <= opt_batch <= max_batch and 1 <= opt_s <= slices):
        raise ValueError(
            f"TensorRT profile needs 1 <= opt <= max: batch {opt_batch}/{max_batch}, slices {opt_s}/{slices}"
        )
    if record.task == "classifier":
        rows = min(max_batch, opt_batch * slices)
        return {"image": ((1, 3, size, size), (rows, 3, size, size), (max_batch, 3, size, size))}
    if record.task == "scorer":
        p = record.vocabulary.prompt_length
        return {
            "slices": (
                (1, 1, 3, size, size),
                (opt_batch, opt_s, 3, size, size),
                (max_batch, slices, 3, size, size),
            ),
            "prompt": ((1, p), (opt_batch, p), (max_batch, p)),
        }
    return {}


def shapes_option(shapes: Mapping[str, Sequence[int]]) -> str:
    """One TensorRT profile option value in ORT's syntax: ``"slices:1x1x3x224x224,prompt:1x21"``."""
    return ",".join(f"{name}:{'x'.join(str(int(d)) for d in dims)}" for name, dims in shapes.items())


def tensorrt_options(
    record: ModelRecord,
    engine_dir: Path,
    max_batch: int = TRT_MAX_BATCH,
    opt_batch: int = TRT_OPT_BATCH,
    opt_slices: int | None = None,
) -> dict[str, str]:
    """TensorRT execution-provider options: fp16, engine and timing cache in ``engine_dir``, and an
    explicit optimisation profile (:func:`input_shape_ranges`) so one engine serves every batch up to
    ``max_batch`` instead of a rebuild for each new shape range. Values are strings, as ORT receives them."""
    options = {
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(engine_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(engine_dir),
    }
    ranges = input_shape_ranges(record, max_batch, opt_batch, opt_slices)
    if ranges:
        for i, key in enumerate(_PROFILE_KEYS):
            options[key] = shapes_option({name: r[i] for name, r in ranges.items()})
    return options


def cuda_options() -> dict[str, str]:
    """CUDA execution-provider options: ORT's defaults (GPU 0, whose name keys the TensorRT cache; exhaustive
    cuDNN convolution search). No explicit ``device_id``: ORT 1.31 then looks for a plugin EP device first,
    and warns when there is none."""
    return {}


def provider_plan(device: str, record: ModelRecord) -> list[tuple[str, dict[str, Any]]]:
    """The providers (with options) to ask onnxruntime for, most preferred first.

    Raises:
        ValueError: unknown device name.
        DeviceUnavailableError: a GPU device was requested where its provider or a GPU is missing.
    """
    import onnxruntime as ort

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    available = set(ort.get_available_providers())
    gpu = gpu_info()
    cpu: list[tuple[str, dict[str, Any]]] = [(_CPU, {})]
    if device == "cpu":
        return cpu
    cuda_ok = _CUDA in available and gpu.present
    trt_ok = _TRT in available and gpu.present
    if device == "cuda" and not cuda_ok:
        raise DeviceUnavailableError(_why_not(_CUDA, available, gpu))
    if device == "tensorrt" and not trt_ok:
        raise DeviceUnavailableError(_why_not(_TRT, available, gpu))
    plan: list[tuple[str, dict[str, Any]]] = []
    if device == "tensorrt" or (device == "auto" and trt_ok):
        key = "-".join((record.sha256[:16], ort.__version__, _tensorrt_version(), gpu.names[0]))
        key = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
        plan.append((_TRT, tensorrt_options(record, cache_dir() / "tensorrt" / key)))
    if cuda_ok:
        plan.append((_CUDA, cuda_options()))
    return plan + cpu


def _why_not(provider: str, available: set[str], gpu: GpuInfo) -> str:
    if provider not in available:
        return (
            f"{provider} is not available in this onnxruntime build (available: "
            f'{", ".join(sorted(available))}); install onnxruntime-gpu and pip install "mediqa-sdk[gpu]"'
        )
    if not gpu.driver_found:
        return f"{provider} needs an NVIDIA GPU but no CUDA driver (libcuda) was found on this machine"
    return f"{provider} needs an NVIDIA GPU but the CUDA driver reports none"


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _without_profiles(plan: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, {k: v for k, v in opts.items() if k not in _PROFILE_KEYS}) for name, opts in plan]


def _fallback_plans(
    plan: list[tuple[str, dict[str, Any]]], device: str
) -> list[list[tuple[str, dict[str, Any]]]]:
    """The plans to try in turn: ``plan``, then without the TensorRT profile; for ``auto`` also without
    TensorRT, then CPU only. A requested GPU device never falls back to another provider."""
    candidates = [plan, _without_profiles(plan)]
    if device == "auto":
        candidates += [[(n, o) for n, o in plan if n != _TRT], [(_CPU, {})]]
    plans: list[list[tuple[str, dict[str, Any]]]] = []
    for candidate in candidates:
        if candidate not in plans:
            plans.append(candidate)
    return plans


# ------------------------------------------------------------------------------------ GPU libraries


@dataclass
class _LibraryLoads:
    """What loading each kind of GPU library gave in this process (``kind -> problems``), under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    problems: dict[str, tuple[str, ...]] = field(default_factory=dict)


_LOADS = _LibraryLoads()


def preload_gpu_libraries(tensorrt: bool = False) -> tuple[str, ...]:
    """Load the CUDA and cuDNN (and with ``tensorrt``, TensorRT) libraries of the NVIDIA wheels, once per
    process, so that onnxruntime's GPU providers find them; returns the problems met (empty: all loaded).

    The providers' shared libraries carry no search path to ``site-packages/nvidia``. onnxruntime >= 1.21
    has ``onnxruntime.preload_dlls()``, which loads CUDA and cuDNN from the wheels (else from the system's
    search path) by full path, after which the providers find them by soname; importing ``tensorrt_libs``
    (the TensorRT wheel) loads TensorRT the same way. What ``preload_dlls`` prints is captured (``sys.stdout``
    is swapped, process-wide, for that one call), so stdout stays clean for ``--format json``. Never raises;
    thread-safe.
    """
    kinds = ("cuda", "tensorrt") if tensorrt else ("cuda",)
    with _LOADS.lock:
        for kind in kinds:
            if kind not in _LOADS.problems:
                _LOADS.problems[kind] = _load_cuda() if kind == "cuda" else _load_tensorrt()
        return tuple(p for kind in kinds for p in _LOADS.problems[kind])


def _load_cuda() -> tuple[str, ...]:
    import contextlib
    import io
    import re

    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return (
            f"onnxruntime {ort.__version__} has no preload_dlls() (1.21 and later have it): CUDA and cuDNN "
            "are found only on the system's library search path",
        )
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            preload()
    except Exception as err:  # RuntimeError for a bad directory; anything else must not stop scoring
        return (f"onnxruntime.preload_dlls() failed: {err}",)
    text = re.sub(r"\x1b\[[0-9;]*m", "", captured.getvalue())
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return tuple(line for line in lines if line and not line.startswith("Please follow"))


def _load_tensorrt() -> tuple[str, ...]:
    import importlib

    try:  # the TensorRT wheel's package loads its libraries (libnvinfer, the ONNX parser) on import
        importlib.import_module("tensorrt_libs")
    except ImportError:
        return ("the TensorRT libraries (tensorrt_libs, from the [gpu] extra) are not installed",)
    except OSError as err:
        return (f"loading the TensorRT libraries failed: {err}",)
    return ()


# ------------------------------------------------------------------------------------ sessions


class Session:
    """One verified ``InferenceSession`` for one registry record, created lazily, reused, thread-safe."""

    def __init__(self, record: ModelRecord, device: str = "auto", threads: int | None = None) -> None:
        self.record = record
        self.device = device
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        self._max_rows: int | None = None  # TensorRT profile's batch limit: longer runs are split
        self.providers: tuple[str, ...] = ()
        self.library_problems: tuple[str, ...] = ()

    def _create(self) -> Any:
        import onnxruntime as ort

        data = verified_model_bytes(self.record)
        plan = provider_plan(self.device, self.record)
        gpu_providers = {name for name, _ in plan} - {_CPU}
        if gpu_providers:
            self.library_problems = preload_gpu_libraries(tensorrt=_TRT in gpu_providers)
        for _name, options in plan:
            if "trt_engine_cache_path" in options:
                Path(options["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only, on stderr; never touches the global logger
        # idle intra-op threads sleep instead of spinning: the reader thread and image preprocessing run
        # alongside inference, and on a shared 2-core machine spinning halved 2D throughput (bench/perf.py)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        session, plan = self._new_session(ort, data, opts, plan)
        used = tuple(session.get_providers())
        wanted = {"cuda": _CUDA, "tensorrt": _TRT}.get(self.device)
        if wanted is not None and wanted not in used:
            raise DeviceUnavailableError(
                f"device={self.device!r} was requested but onnxruntime created the session with "
                f"{', '.join(used)} (the GPU provider failed to load{self._problems_text()}; check "
                'CUDA/cuDNN/TensorRT libraries: pip install "mediqa-sdk[gpu]")'
            )
        profiled = any(k in opts_ for name, opts_ in plan if name == _TRT for k in _PROFILE_KEYS)
        self._max_rows = TRT_MAX_BATCH if used[:1] == (_TRT,) and profiled else None
        self.providers = used
        return session

    def _new_session(
        self, ort: Any, data: bytes, opts: Any, plan: list[tuple[str, dict[str, Any]]]
    ) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
        """Create the session; returns it with the plan that worked.

        onnxruntime's own fallback is off: it prints to stdout and drops every provider option. Instead, if
        TensorRT rejects the explicit shape profile (e.g. the graph is split so that a TensorRT part has other
        dynamic inputs), the same plan runs without it (engines then built per input shape range), with a
        warning; ``auto`` then tries CUDA and CPU. A requested GPU device whose session cannot be created is a
        ``DeviceUnavailableError``.
        """
        attempts = _fallback_plans(plan, self.device)
        errors: list[Exception] = []
        for attempt in attempts:
            try:
                session = ort.InferenceSession(data, sess_options=opts, providers=attempt, enable_fallback=0)
            except Exception as err:
                if attempt == attempts[-1] and self.device in ("auto", "cpu"):
                    raise
                errors.append(err)
                continue
            if errors and attempt == _without_profiles(plan):
                warnings.warn(
                    f"{self.record.name}: TensorRT rejected the explicit shape profile "
                    f"({_first_line(errors[0])}); engines are built per input shape range instead",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return session, attempt
        raise DeviceUnavailableError(
            f"device={self.device!r}: onnxruntime could not create the {self.record.name!r} session "
            f"({_first_line(errors[0])}{self._problems_text()})"
        ) from errors[0]

    def _problems_text(self) -> str:
        return "; " + "; ".join(self.library_problems) if self.library_problems else ""

    def ensure(self) -> None:
        """Create the session now if it does not exist yet (thread-safe; raises what creation raises)."""
        self._get()

    def _get(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create()
        return self._session

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph; returns every output by name. Under a TensorRT shape profile, inputs with more rows
        than it covers run in chunks of ``TRT_MAX_BATCH`` rows (rows are independent in both contracts)."""
        session = self._get()
        names = [o.name for o in session.get_outputs()]
        rows = len(next(iter(feeds.values()))) if feeds else 0
        step = self._max_rows
        if step is None or rows <= step:
            return dict(zip(names, session.run(names, feeds), strict=True))
        parts = [
            session.run(names, {k: v[lo : lo + step] for k, v in feeds.items()})
            for lo in range(0, rows, step)
        ]
        return {name: np.concatenate([part[i] for part in parts]) for i, name in enumerate(names)}
