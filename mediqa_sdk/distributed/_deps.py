"""The optional packages of the ``[ray]`` extra, imported only when a function needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError

__all__ = ["EXTRA_HINT", "require"]

EXTRA_HINT = 'pip install "mediqa-sdk[ray]"'


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra that installs it.

    Args:
        module: e.g. ``"ray"``, ``"pyarrow.parquet"``, ``"fsspec"``.
        purpose: what needs it, for the message (``"--engine ray"``, ``"Parquet output"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".", 1)[0]
        raise MissingDependencyError(f"{purpose} needs {top} ({err}): {EXTRA_HINT}") from err
