"""Environment report for ``mediqa info``: versions, execution providers, GPU, optional extras."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from ._version import __version__
from .engine import gpu_info, preload_gpu_libraries
from .registry import load_registry

__all__ = ["ORT_DISTRIBUTIONS", "environment_report", "installed_onnxruntimes", "usable_providers"]

ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-silicon",
    "onnxruntime-qnn",
    "ort-nightly",
    "ort-nightly-gpu",
)
_OPTIONAL = {
    "dicom": ("pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "python-gdcm"),
    "gpu": ("nvidia-cuda-runtime", "nvidia-cudnn-cu13", "tensorrt-cu13-libs"),
    "ray": ("ray", "pyarrow", "fsspec"),
    "sr": ("highdicom",),
    "train": ("torch", "onnx", "scipy", "scikit-image"),
    "triton": ("tritonclient", "grpcio"),
}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed_onnxruntimes() -> dict[str, str]:
    """Every installed onnxruntime distribution; more than one breaks GPU providers."""
    return {d: v for d in ORT_DISTRIBUTIONS if (v := _version(d)) is not None}


def usable_providers() -> dict[str, str]:
    """Try each available provider on the default classifier graph: provider -> "usable" or why not."""
    import onnxruntime as ort

    registry = load_registry()
    record = registry.get(None, "classifier")
    data = record.path.read_bytes()
    gpu = gpu_info()
    report: dict[str, str] = {}
    for provider in ort.get_available_providers():
        if provider != "CPUExecutionProvider" and not gpu.present:
            report[provider] = "not usable: no GPU found by the CUDA driver"
            continue
        if provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            problems = preload_gpu_libraries(tensorrt=provider == "TensorrtExecutionProvider")
            if problems:
                report[provider] = f"not usable: {problems[0][:120]}"
                continue
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        try:
            chain = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
            session = ort.InferenceSession(data, sess_options=opts, providers=chain, enable_fallback=0)
        except Exception as err:  # onnxruntime raises plain RuntimeError/Fail here
            report[provider] = f"not usable: {str(err).splitlines()[0][:120]}"
            continue
        used = session.get_providers()
        report[provider] = (
            "usable" if provider in used else "not usable: fell back to CPU (libraries missing?)"
        )
    return report


def environment_report() -> dict[str, Any]:
    """Everything ``mediqa info`` prints, as data."""
    import onnxruntime as ort

    orts = installed_onnxruntimes()
    gpu = gpu_info()
    registry = load_registry()
    return {
        "mediqa_sdk": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {
            d: _version(d) for d in ("numpy", "pydicom", "nibabel", "opencv-python-headless", "click", "isal")
        },
        "onnxruntime": {
            "imported": ort.__version__,
            "distributions": orts,
            "double_install": len(orts) > 1,
            "device": ort.get_device(),
        },
        "providers": {"available": list(ort.get_available_providers()), "usable": usable_providers()},
        "gpu": {"cuda_driver": gpu.driver_found, "devices": list(gpu.names)},
        "extras": {extra: {d: _version(d) for d in dists} for extra, dists in _OPTIONAL.items()},
        "registry": {
            "path": str(registry.path),
            "defaults": dict(registry.defaults),
            "placeholders": sorted(n for n, r in registry.models.items() if r.placeholder),
        },
    }
