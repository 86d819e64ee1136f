"""Scoring archives: a manifest of scans -> a resumable Parquet dataset, on a Ray cluster or serially.

>>> from mediqa_sdk.distributed import score_manifest
>>> score_manifest("scans.csv", "s3://bucket/results.parquet", address="auto")  # doctest: +SKIP

Needs the ``[ray]`` extra (``pip install "mediqa-sdk[ray]"``: Ray Data, pyarrow, fsspec); importing this
package is cheap, Ray and pyarrow are imported when used. See docs/distributed.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manifest import ScanRequest, read_scan_manifest
    from .pipeline import RunSummary, score_manifest
    from .rows import result_schema

_WHERE = {
    "RunSummary": "pipeline",
    "ScanRequest": "manifest",
    "read_scan_manifest": "manifest",
    "result_schema": "rows",
    "score_manifest": "pipeline",
}

__all__ = ["RunSummary", "ScanRequest", "read_scan_manifest", "result_schema", "score_manifest"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mediqa_sdk.distributed' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
