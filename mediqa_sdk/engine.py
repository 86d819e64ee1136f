"""ONNX Runtime sessions: provider choice in one place, checked, and graphs verified by sha256 on every load.

``device`` values:

- ``"cpu"``: CPUExecutionProvider only.
- ``"cuda"``: CUDA then CPU (for unsupported nodes); an error if the session does not really use CUDA.
- ``"tensorrt"``: TensorRT (fp16, engine cache keyed by model sha256, ORT and TensorRT versions and GPU
  name), then CUDA, then CPU; an error if TensorRT is not really used.
- ``"auto"``: the best of those that are usable here (a GPU is present and the provider is available),
  falling back quietly; the result records what was really used.

onnxruntime silently falls back to CPU when a GPU provider cannot load, so after creating a session the
providers it reports are compared with the request.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeviceUnavailableError, ModelIntegrityError
from .registry import ModelRecord

__all__ = ["DEVICES", "GpuInfo", "Session", "cache_dir", "file_sha256", "gpu_info", "provider_plan"]

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
_CPU, _CUDA, _TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


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


def cache_dir() -> Path:
    """Where TensorRT engines are cached: ``$MEDIQA_CACHE`` or ``~/.cache/mediqa-sdk``."""
    base = os.environ.get("MEDIQA_CACHE") or Path.home() / ".cache" / "mediqa-sdk"
    return Path(base)


def _tensorrt_version() -> str:
    from importlib import metadata

    for dist in ("tensorrt", "tensorrt-cu12-libs", "tensorrt-libs", "tensorrt-cu12"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


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
        engine_dir = cache_dir() / "tensorrt" / key
        plan.append(
            (
                _TRT,
                {
                    "trt_fp16_enable": True,
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(engine_dir),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(engine_dir),
                },
            )
        )
    if cuda_ok:
        plan.append((_CUDA, {}))
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


class Session:
    """One verified ``InferenceSession`` for one registry record, created lazily, reused, thread-safe."""

    def __init__(self, record: ModelRecord, device: str = "auto", threads: int | None = None) -> None:
        self.record = record
        self.device = device
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        self.providers: tuple[str, ...] = ()

    def _create(self) -> Any:
        import onnxruntime as ort

        path = self.record.path
        if not path.is_file():
            raise ModelIntegrityError(
                f"model file {path} for {self.record.name!r} is missing; reinstall mediqa-sdk"
            )
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.record.sha256:
            raise ModelIntegrityError(
                f"{path}: sha256 {digest[:16]}… does not match the registry's {self.record.sha256[:16]}… for "
                f"{self.record.name!r}; the file is corrupt or was replaced — reinstall mediqa-sdk"
            )
        plan = provider_plan(self.device, self.record)
        for _name, options in plan:
            if "trt_engine_cache_path" in options:
                Path(options["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only, on stderr; never touches the global logger
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        session = ort.InferenceSession(data, sess_options=opts, providers=plan)
        used = tuple(session.get_providers())
        wanted = {"cuda": _CUDA, "tensorrt": _TRT}.get(self.device)
        if wanted is not None and wanted not in used:
            raise DeviceUnavailableError(
                f"device={self.device!r} was requested but onnxruntime created the session with "
                f"{', '.join(used)} (the GPU provider failed to load; check CUDA/cuDNN/TensorRT libraries: "
                'pip install "mediqa-sdk[gpu]")'
            )
        self.providers = used
        return session

    def _get(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create()
        return self._session

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph; returns every output by name."""
        session = self._get()
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))
