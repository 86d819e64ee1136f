"""Batches for training: streamed from the data engine, or read from a user's manifest.

Each batch holds one slice count (2D batches have S = 1, 3D batches S = 7), so the scorer sees both paths
of the runtime. Batches are built in a worker process (``torch.utils.data.DataLoader(num_workers=1)``), so
sample generation overlaps with the optimiser step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mediqa_sdk.registry import ModelRecord

from .data import Sample, iter_samples
from .data.generator import NOISE_FLOOR_HU
from .manifests import ManifestEntry
from .model.maniqa import orient
from .tensors import classifier_arrays, scorer_arrays

if TYPE_CHECKING:
    from mediqa_sdk import Assessor

__all__ = [
    "EngineBatches",
    "ManifestBatches",
    "collate_classifier",
    "collate_scorer",
    "dihedral",
    "fixed_batches",
    "heldout_batches",
]

Batch = dict[str, torch.Tensor]


def collate_scorer(
    samples: list[Sample], record: ModelRecord, scores: list[float] | None = None, by_content: bool = False
) -> Batch:
    """Stack scorer arrays of samples with one slice count into tensors.

    ``group`` (the ranking loss's pairs) is the source, or with ``by_content`` the source and its slices
    (paired streams, where versions of one content share a block); ``rank`` (what it ranks by) is the
    pseudo-MOS, with ``by_content`` less ``CLEAN_MARGIN`` for every degraded version.
    """
    key = content_key if by_content else (lambda s: s.source_id)
    margin = CLEAN_MARGIN if by_content else 0.0  # the unpaired recipe ranks by the pseudo-MOS alone
    arrays = [scorer_arrays(s, record, None if scores is None else scores[i]) for i, s in enumerate(samples)]
    return {
        "slices": torch.from_numpy(np.stack([a.slices for a in arrays])),
        "prompt": torch.from_numpy(np.stack([a.prompt for a in arrays])),
        "score": torch.tensor([a.score for a in arrays], dtype=torch.float32),
        "physics": torch.from_numpy(np.stack([a.physics for a in arrays])),
        "physics_mask": torch.from_numpy(np.stack([a.physics_mask for a in arrays])),
        "group": torch.tensor([group_id(key(s)) for s in samples], dtype=torch.int64),
        "rank": torch.tensor(
            [a.score - margin * bool(s.degradations) for a, s in zip(arrays, samples, strict=True)],
            dtype=torch.float32,
        ),
    }


def dihedral(slices: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Each example of ``slices [B, S, C, H, W]`` turned by a random multiple of 90 degrees and mirrored
    with probability 1/2 (one of the 8 symmetries of the square; all slices of an example alike).

    Label-preserving for every degradation of the engine (none depends on the orientation the network sees),
    so the few real scans are not seen in one pose only and cannot simply be recognised.
    """
    out = [orient(x, int(rng.integers(4)), bool(rng.random() < 0.5)) for x in slices]
    return torch.stack(out).contiguous()


#: the clean version outranks every degraded version of its content by at least this much (ranking only:
#: a degradation below the just-noticeable difference has pseudo-MOS 1.0, yet it is never better than clean)
CLEAN_MARGIN = 0.03


def content_key(sample: Sample) -> str:
    """Samples with one key show the same content: one source, the same slices."""
    return f"{sample.source_id}:{','.join(map(str, sample.slice_indices))}"


def group_id(key: str) -> int:
    """A stable integer for a key (samples with one key form a ranking group)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def collate_classifier(samples: list[Sample], record: ModelRecord, rng: np.random.Generator) -> Batch:
    """Stack classifier arrays (one slice per sample) into tensors."""
    arrays = [classifier_arrays(s, record, rng) for s in samples]
    return {
        "image": torch.from_numpy(np.concatenate([a.image for a in arrays])),
        "modality": torch.tensor([a.modality for a in arrays]),
        "region": torch.tensor([a.region for a in arrays]),
        "type": torch.tensor([a.type for a in arrays]),
        "type_valid": torch.tensor([a.type_valid for a in arrays]),
    }


@dataclass(frozen=True)
class StreamSpec:
    """What a stream draws: split, task, sizes, share of 3D batches and the engine's options
    (``paired_fraction``: share of blocks of versions of one content; ``series_fraction``: share of those
    that are one family at several severities; ``ct_noise_floor``: share of CT phantoms given a routine dose's
    noise first, ``ct_noise_floor_hu`` the range of that noise; ``ct_resolution``: CT also gets in-plane
    blur; ``phantom_weights``: ``(kind, weight)`` pairs for drawing phantom kinds; ``family_weights``:
    ``(family, weight)`` pairs for drawing degradation families; see :func:`iter_samples`)."""

    task: str
    split: str
    batch_size: int = 16
    batch_3d: int = 2
    p3d: float = 0.3
    seed: int = 0
    families: tuple[str, ...] | None = None
    modalities: tuple[str, ...] | None = None
    clean_fraction: float = 0.1
    paired_fraction: float = 0.0
    series_fraction: float = 0.0
    augment: bool = False
    ct_noise_floor: float = 0.0
    ct_noise_floor_hu: tuple[float, float] = NOISE_FLOOR_HU
    ct_resolution: bool = False
    phantom_weights: tuple[tuple[str, float], ...] = ()
    family_weights: tuple[tuple[str, float], ...] = ()


class EngineBatches(IterableDataset):  # type: ignore[type-arg]
    """An endless stream of batches from the data engine (each worker draws its own seeded stream)."""

    def __init__(self, spec: StreamSpec, record: ModelRecord) -> None:
        super().__init__()
        self.spec = spec
        self.record = record

    def __iter__(self) -> Iterator[Batch]:
        spec = self.spec
        info = get_worker_info()
        seed = spec.seed * 1009 + (info.id if info is not None else 0)
        rng = np.random.default_rng(seed)
        kw = _engine_options(spec) | {"neighbours": self.record.preprocess.needs_neighbours}
        paired = spec.paired_fraction > 0
        gen2d = iter_samples(spec.split, "2d", seed=seed, **kw)  # type: ignore[arg-type]
        use3d = spec.task != "classifier" and spec.p3d > 0
        gen3d = iter_samples(spec.split, "3d", seed=seed + 7, **kw) if use3d else None  # type: ignore[arg-type]
        while True:
            if gen3d is not None and rng.random() < spec.p3d:
                batch = collate_scorer(
                    [next(gen3d) for _ in range(spec.batch_3d)], self.record, by_content=paired
                )
            elif spec.task == "classifier":
                yield collate_classifier([next(gen2d) for _ in range(spec.batch_size)], self.record, rng)
                continue
            else:
                batch = collate_scorer(
                    [next(gen2d) for _ in range(spec.batch_size)], self.record, by_content=paired
                )
            if spec.augment:
                batch["slices"] = dihedral(batch["slices"], rng)
            yield batch


def _engine_options(spec: StreamSpec) -> dict[str, object]:
    return {
        "families": spec.families,
        "modalities": spec.modalities,
        "clean_fraction": spec.clean_fraction,
        "paired_fraction": spec.paired_fraction,
        "series_fraction": spec.series_fraction,
        "ct_noise_floor": spec.ct_noise_floor,
        "ct_noise_floor_hu": spec.ct_noise_floor_hu,
        "ct_resolution": spec.ct_resolution,
        "phantom_weights": dict(spec.phantom_weights) or None,
        "family_weights": dict(spec.family_weights) or None,
    }


def fixed_batches(spec: StreamSpec, record: ModelRecord, n_2d: int, n_3d: int) -> list[Batch]:
    """A fixed, seeded validation set: ``n_2d`` 2D samples and ``n_3d`` 3D samples, in batches."""
    rng = np.random.default_rng(spec.seed)
    kw = _engine_options(spec) | {"neighbours": record.preprocess.needs_neighbours}
    batches: list[Batch] = []
    two = list(iter_samples(spec.split, "2d", seed=spec.seed, n=n_2d, **kw))  # type: ignore[arg-type]
    for i in range(0, len(two), spec.batch_size):
        chunk = two[i : i + spec.batch_size]
        if spec.task == "classifier":
            batches.append(collate_classifier(chunk, record, rng))
        else:
            batches.append(collate_scorer(chunk, record, by_content=spec.paired_fraction > 0))
    if spec.task != "classifier" and n_3d:
        three = list(iter_samples(spec.split, "3d", seed=spec.seed + 7, n=n_3d, **kw))  # type: ignore[arg-type]
        for i in range(0, len(three), spec.batch_3d):
            batches.append(
                collate_scorer(three[i : i + spec.batch_3d], record, by_content=spec.paired_fraction > 0)
            )
    return batches


def heldout_batches(
    split: str,
    record: ModelRecord,
    batch_2d: int = 16,
    batch_3d: int = 2,
    modalities: tuple[str, ...] | None = None,
) -> list[Batch]:
    """The held-out level series of the real scans of ``split`` as validation batches.

    The versions are :func:`mediqa_sdk.export.heldout.heldout_series`'s (the ``mediqa heldout`` benchmark,
    computed in torch instead of through ONNX); ``score`` is ``1 - severity / 4`` (clean 1), ``group`` the
    series and ``family`` its reporting group (CT, MR, fundus), so the within-group SRCC of
    :func:`~mediqa_sdk.train.loop.evaluate_batches` is the benchmark's level SRCC averaged per reporting
    group and then over groups. A source's clean image is repeated in each of its series.
    """
    from ..export.heldout import LEVELS, heldout_series

    buckets: dict[str, list[tuple[Sample, float, str, str]]] = {"2d": [], "3d": []}
    for v in heldout_series(split, modalities=modalities):
        label = 1.0 - v.severity / len(LEVELS[v.family])
        buckets[v.dim].append((v.sample, label, f"{v.source_id}:{v.dim}:{v.family}", v.group))
    batches: list[Batch] = []
    for dim, size in (("2d", batch_2d), ("3d", batch_3d)):
        items = buckets[dim]
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            batch = collate_scorer([c[0] for c in chunk], record, scores=[c[1] for c in chunk])
            batch["group"] = torch.tensor([group_id(c[2]) for c in chunk], dtype=torch.int64)
            batch["family"] = torch.tensor([group_id(c[3]) for c in chunk], dtype=torch.int64)
            batches.append(batch)
    return batches


class ManifestBatches(IterableDataset):  # type: ignore[type-arg]
    """Batches from a user's manifest: each entry goes through the runtime exactly as scoring would.

    Entries are loaded with :meth:`mediqa_sdk.Assessor.network_inputs` (salient slices, prompts from the
    manifest, DICOM tags or the shipped classifier, preprocessing from the record); an entry scored in
    several CT windows contributes one example per window. Inputs are grouped by slice count.
    """

    def __init__(
        self,
        entries: list[ManifestEntry],
        batch_size: int,
        seed: int,
        loop: bool = True,
        record: ModelRecord | None = None,
    ) -> None:
        super().__init__()
        self.entries = entries
        self.batch_size = batch_size
        self.seed = seed
        self.loop = loop
        self.record = record  # the trained model's record (its grey channels); None: the default scorer's

    def _assessor(self) -> Assessor:
        """The runtime that loads the entries, with the preprocessing of the model being trained."""
        from mediqa_sdk import Assessor
        from mediqa_sdk.registry import load_registry

        if self.record is None:
            return Assessor(device="cpu")
        registry = load_registry()
        registry = replace(registry, models={**registry.models, self.record.name: self.record})
        return Assessor(self.record.name, registry=registry, device="cpu")

    def __iter__(self) -> Iterator[Batch]:
        assessor = self._assessor()
        rng = np.random.default_rng(self.seed)
        pending: dict[int, list[tuple[np.ndarray, np.ndarray, float, int]]] = {}
        while True:
            order = rng.permutation(len(self.entries)) if self.loop else np.arange(len(self.entries))
            for k in order:
                entry = self.entries[int(k)]
                _, feeds = assessor.network_inputs(
                    entry.path, modality=entry.modality, region=entry.region, type=entry.type
                )
                for _, x, vec in feeds:
                    bucket = pending.setdefault(x.shape[0], [])
                    bucket.append((x, vec, entry.score, group_id(entry.group)))
                    if len(bucket) >= self.batch_size:
                        yield _manifest_batch(bucket)
                        bucket.clear()
            if not self.loop:
                for bucket in pending.values():
                    if bucket:
                        yield _manifest_batch(bucket)
                return


def _manifest_batch(items: list[tuple[np.ndarray, np.ndarray, float, int]]) -> Batch:
    n = len(items)
    return {
        "slices": torch.from_numpy(np.stack([x for x, _, _, _ in items])),
        "prompt": torch.from_numpy(np.stack([v for _, v, _, _ in items])),
        "score": torch.tensor([s for _, _, s, _ in items], dtype=torch.float32),
        "physics": torch.zeros((n, 2)),
        "physics_mask": torch.zeros((n, 2), dtype=torch.bool),
        "group": torch.tensor([g for _, _, _, g in items], dtype=torch.int64),
    }


def stable_fraction(key: str) -> float:
    """A deterministic number in [0, 1) from a string (for splitting by group)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / float(16**12)
