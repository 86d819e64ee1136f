"""The exception family of mediqa-sdk.

Every error the library raises on purpose is a :class:`MediqaError`. Each subclass also inherits the builtin
exception a caller would naturally catch (``ValueError`` for bad input, ``KeyError`` for an unknown
name, ...), so ``except ValueError`` keeps working. Messages name the file or value at fault and what to
do about it.
"""

from __future__ import annotations

__all__ = [
    "DeviceUnavailableError",
    "InferenceServerError",
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
]


class MediqaError(Exception):
    """Base class of every error raised by mediqa-sdk on purpose."""


class ScanReadError(MediqaError, ValueError):
    """A scan could not be read or is not usable (corrupt, empty, inconsistent geometry, ...)."""


class UnsupportedFormatError(ScanReadError):
    """The file is not in a format mediqa-sdk reads."""


class InputTooLargeError(ScanReadError):
    """The header claims more voxels or bytes than the configured ceiling allows."""


class MultipleSeriesError(ScanReadError):
    """A DICOM directory holds several series and the caller asked for one scan.

    Attributes:
        series: ``(series_instance_uid, description, n_files)`` for each series found.
    """

    def __init__(self, message: str, series: tuple[tuple[str, str, int], ...] = ()) -> None:
        super().__init__(message)
        self.series = series

    def __reduce__(self) -> tuple[type[MultipleSeriesError], tuple[str, tuple[tuple[str, str, int], ...]]]:
        return type(self), (str(self), self.series)  # keeps the listing across the isolated reader's pipe


class MissingDependencyError(MediqaError, ImportError):
    """An optional dependency is needed; the message says which ``pip install "mediqa-sdk[...]"`` to run."""


class UnknownModelError(MediqaError, KeyError):
    """A model name is not in the registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class RegistryError(MediqaError, ValueError):
    """``models.json`` is malformed or asks for a contract this SDK does not know."""


class ModelIntegrityError(MediqaError, RuntimeError):
    """A model file is missing or its sha256 does not match the registry."""


class DeviceUnavailableError(MediqaError, RuntimeError):
    """The requested execution device (CUDA, TensorRT) is not usable on this machine."""


class InferenceServerError(DeviceUnavailableError):
    """A remote inference engine (a Triton server) is unreachable, not ready, or failed a request."""


class PromptError(MediqaError, ValueError):
    """A prompt override names a value outside the model's vocabulary or one that contradicts another."""
