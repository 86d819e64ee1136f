"""What a result was scored on, as pictures: the salient slices in their scoring window, seen by the scorer.

The scorer's input for one window is ``x = (image - mean) / std`` with shape ``[S, 3, 224, 224]``; for grey
images every channel whose recipe is ``"scored"`` holds the slice in the scoring window. The picture is that
channel mapped back, ``clip(x * std + mean, 0, 1) * 255`` (colour images: all three channels), so a report
shows exactly the pixels that were judged, padding and resizing included.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ScanReadError
from ..preprocess import scorer_input, scoring_window
from ..registry import Preprocess
from ..result import QualityResult
from ..scan import Scan

__all__ = ["SliceViews", "ViewCache", "network_pictures", "view_key", "views_from_scan"]


@dataclass(frozen=True)
class SliceViews:
    """The salient slices of one result as uint8 pictures, one stack per scored window.

    Attributes:
        windows: ``(type, images)`` per scored window/type, in the result's order; ``images`` is
            ``[S, H, W]`` (grey) or ``[S, H, W, 3]`` (RGB) uint8, one per entry of ``result.slice_indices``.
        files: the files the scan was read from (a DICOM series: all of them, in slice order).
        instance_uids: SOPInstanceUID of each salient slice (DICOM only; empty otherwise).
    """

    windows: tuple[tuple[str, np.ndarray], ...]
    files: tuple[Path, ...] = ()
    instance_uids: tuple[str, ...] = field(default=())

    @property
    def nbytes(self) -> int:
        """Memory held by the pictures."""
        return sum(images.nbytes for _, images in self.windows)


def network_pictures(x: np.ndarray, pre: Preprocess, *, is_color: bool) -> np.ndarray:
    """Scorer input ``[S, 3, H, W]`` -> uint8 pictures ``[S, H, W]`` (grey) or ``[S, H, W, 3]`` (RGB).

    ``picture = round(255 * clip(x * std + mean, 0, 1))`` of the first ``"scored"`` channel (grey) or of all
    channels (colour).
    """
    mean = np.asarray(pre.mean, dtype=np.float32)[None, :, None, None]
    std = np.asarray(pre.std, dtype=np.float32)[None, :, None, None]
    if is_color:
        unit = np.moveaxis(x * std + mean, 1, -1)
    else:
        channel = pre.gray_channels.index("scored") if "scored" in pre.gray_channels else 0
        unit = x[:, channel] * std[:, channel] + mean[:, channel]
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def view_key(result: QualityResult) -> tuple[object, ...]:
    """What identifies the pictures of a result: input bytes, slices, windows and scorer."""
    return (
        result.provenance.input_sha256,
        result.slice_indices,
        tuple(w.type for w in result.windows),
        result.provenance.scorer.name,
        result.provenance.scorer.sha256,
    )


def views_from_scan(scan: Scan, result: QualityResult, pre: Preprocess) -> SliceViews:
    """Rebuild the pictures of ``result`` from its scan (no inference: slices, windows and prompts are known).

    Raises:
        ScanReadError: the scan is not the one that was scored (its sha256 differs).
    """
    if result.provenance.input_sha256 and scan.sha256 != result.provenance.input_sha256:
        raise ScanReadError(
            f"{result.label}: the input changed since it was scored (sha256 differs); score it again"
        )
    chosen = np.stack([np.asarray(scan.slices[i], dtype=np.float32) for i in result.slice_indices])
    modality = result.prompts["modality"].value
    windows = []
    for w in result.windows:
        window = scoring_window(pre, modality, w.type, scan.format != "image")
        x = scorer_input(chosen, pre, is_color=scan.is_color, window=window)
        windows.append((w.type, network_pictures(x, pre, is_color=scan.is_color)))
    return SliceViews(tuple(windows), scan.files, salient_instance_uids(scan, result.slice_indices))


def salient_instance_uids(scan: Scan, indices: tuple[int, ...]) -> tuple[str, ...]:
    """SOPInstanceUID of each salient slice of a DICOM scan (empty when the loader did not record them)."""
    uids = scan.metadata.get("sop_instance_uids") or ()
    if len(uids) != scan.n_slices:
        return ()
    return tuple(str(uids[i]) for i in indices)


class ViewCache:
    """The pictures of the most recent results, so a report right after scoring needs no second read.

    Thread-safe; holds at most ``capacity`` entries (least recently stored dropped first). A chest CT's two
    windows of 7 slices at 224 px take about 0.7 MB.
    """

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[object, ...], SliceViews] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, n: int) -> None:
        """Keep at least ``n`` entries (a batch run keeps a whole batch until it is reported)."""
        with self._lock:
            self.capacity = max(self.capacity, n)

    def put(self, result: QualityResult, views: SliceViews) -> None:
        with self._lock:
            key = view_key(result)
            self._items[key] = views
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, result: QualityResult) -> SliceViews | None:
        with self._lock:
            return self._items.get(view_key(result))
