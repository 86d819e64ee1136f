"""mediqa-sdk: offline quality scores for CT, MR and fundus images (the MedIQA method, ONNX only).

>>> from mediqa_sdk import Assessor
>>> result = Assessor().score("scan.nii.gz")  # doctest: +SKIP
>>> result.score, result.grade, result.slice_indices  # doctest: +SKIP

Public names are imported on first use, so ``import mediqa_sdk`` (and ``mediqa --help``) stays instant.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .assessor import Assessor, ScoreOutcome
    from .errors import (
        DeviceUnavailableError,
        InputTooLargeError,
        MediqaError,
        MissingDependencyError,
        ModelIntegrityError,
        MultipleSeriesError,
        PromptError,
        RegistryError,
        ScanReadError,
        UnknownModelError,
        UnsupportedFormatError,
    )
    from .registry import load_registry
    from .result import PhysicsEstimate, Provenance, QualityResult, WindowScore

_WHERE = {
    "Assessor": "assessor",
    "ScoreOutcome": "assessor",
    "load_registry": "registry",
    "PhysicsEstimate": "result",
    "Provenance": "result",
    "QualityResult": "result",
    "WindowScore": "result",
    **dict.fromkeys(
        (
            "DeviceUnavailableError",
            "InputTooLargeError",
            "MediqaError",
            "MissingDependencyError",
            "ModelIntegrityError",
            "MultipleSeriesError",
            "PromptError",
            "RegistryError",
            "ScanReadError",
            "UnknownModelError",
            "UnsupportedFormatError",
        ),
        "errors",
    ),
}

__all__ = [
    "Assessor",
    "DeviceUnavailableError",
    "InputTooLargeError",
    "MediqaError",
    "MissingDependencyError",
    "ModelIntegrityError",
    "MultipleSeriesError",
    "PhysicsEstimate",
    "PromptError",
    "Provenance",
    "QualityResult",
    "RegistryError",
    "ScanReadError",
    "ScoreOutcome",
    "UnknownModelError",
    "UnsupportedFormatError",
    "WindowScore",
    "__version__",
    "load_registry",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mediqa_sdk' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
