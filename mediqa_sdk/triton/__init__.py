"""Serve the graphs from a Triton Inference Server.

- :func:`write_repository` (``mediqa export triton OUT/``) writes the registry's classifier and scorer as a
  Triton model repository: ``config.pbtxt`` (tensors from the graphs, dynamic batching, instance groups,
  TensorRT accelerator, the registry sha256 as a parameter) and ``1/model.onnx`` each, plus ``mediqa.json``.
- :class:`TritonSession` (``Assessor(engine="triton://HOST:PORT")``) runs the graphs on such a server while
  reading, slice selection, preprocessing and prompts stay in the client; it needs
  ``pip install "mediqa-sdk[triton]"`` (tritonclient, imported on first use only).
"""

from __future__ import annotations

from .config import TritonOptions
from .engine import TritonSession, parse_triton_url
from .repository import ExportedModel, RepositoryExport, write_repository

__all__ = [
    "ExportedModel",
    "RepositoryExport",
    "TritonOptions",
    "TritonSession",
    "parse_triton_url",
    "write_repository",
]
