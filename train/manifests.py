"""Manifests of expert-scored images for fine-tuning: the readers live in :mod:`mediqa_sdk.manifests`.

They are shared with ``mediqa evaluate`` (no torch needed to read them) and re-exported here so training code
and user scripts keep importing ``mediqa_sdk.train.manifests``.
"""

from __future__ import annotations

from mediqa_sdk.manifests import Manifest, ManifestEntry, ManifestError, read_manifest, split_entries

__all__ = ["Manifest", "ManifestEntry", "ManifestError", "read_manifest", "split_entries"]
