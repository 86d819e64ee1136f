"""Held-out images of the benchmark suite: real scans of the test split, degraded at fixed levels.

The images are those of :func:`mediqa_sdk.export.heldout.evaluate_heldout` (same sources, slices, levels and
seeds): for every real source of the split and each of its dimensions (3D: the 7 salient slices; 2D: one
slice, or the photo), the clean image and every degradation family of its modality at
:data:`~mediqa_sdk.export.heldout.LEVELS`. Each image is kept once (the clean image is severity 0 of every
family's series).

The salient-slice ablation needs the same volume versions seen through other slices: :func:`uniform_slices`
(7 evenly spaced over the whole volume, background included) and :func:`random_slices` (7 random distinct
slices, seeded per source), rebuilt with the same degradation, parameter and seed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "HeldoutImage",
    "downstream_family",
    "family_label",
    "heldout_images",
    "random_slices",
    "uniform_slices",
    "variant_images",
]

N_SLICES = 7
TYPE_LABELS = {"t1": "T1", "t2": "T2", "flair": "FLAIR", "pd": "PD", "other_mr": "other (EPI/ASL/DWI)"}


@dataclass(frozen=True, eq=False)
class HeldoutImage:
    """One scored image of the held-out set.

    Attributes:
        key: ``source|dim|family|severity`` (family ``clean`` for the clean image).
        family: ``"clean"`` or the degradation family; ``severity`` 0 (clean) .. 4; ``param`` its level.
        physics_name: the physics target the degradation sets (``ct_dose``, ``mr_field_strength``), if any;
            ``physics_true``: its value in physical units (only for those families' degraded images).
        prompts: what a user (or DICOM tags) would give the runtime: modality, region, MR contrast.
        image: the degraded image in physical units (``[7, H, W]``, ``[H, W]`` or ``[H, W, 3]``).
        neighbours: 3D images: ``[7, 2, H, W]`` the degraded slices before and after each one.
    """

    key: str
    source_id: str
    modality: str
    region: str
    type: str
    dim: str
    family: str
    severity: int
    param: float
    pseudo_mos: float
    physics_name: str | None
    physics_true: float | None
    prompts: dict[str, str]
    image: np.ndarray = field(repr=False)
    indices: tuple[int, ...] = ()
    neighbours: np.ndarray | None = field(default=None, repr=False)

    @property
    def runtime_input(self) -> np.ndarray:
        """What the runtime is given: the image, or a 3D image with its degraded neighbours
        (:func:`mediqa_sdk.export.heldout.with_neighbours`), scored on :attr:`runtime_slices`."""
        from mediqa_sdk.export.heldout import with_neighbours

        return self.image if self.neighbours is None else with_neighbours(self.image, self.neighbours)

    @property
    def runtime_slices(self) -> tuple[int, ...] | None:
        """The slices of :attr:`runtime_input` to score (``None``: the salient rule's)."""
        from mediqa_sdk.export.heldout import middle_slices

        return None if self.neighbours is None else middle_slices(len(self.image))

    @property
    def downstream(self) -> str:
        """The downstream family key (see :func:`downstream_family`)."""
        return downstream_family(self.modality, self.region, self.type)


def downstream_family(modality: str, region: str, type_: str) -> str:
    """``ct/<region>`` (scored in the region's windows), ``mr/<region>/<contrast>``, ``fundus``."""
    if modality == "ct":
        return f"ct/{region}"
    if modality == "mr":
        return f"mr/{region}/{type_}"
    return "fundus"


def family_label(key: str) -> str:
    """A reader's name for a family key (``mr/head/t1`` -> ``MR head T1``)."""
    parts = key.split("/")
    if parts[0] == "fundus":
        return "Fundus"
    if parts[0] == "all":
        return "All"
    head = parts[0].upper()
    rest = [TYPE_LABELS.get(p, p.replace("_window", " window").replace("_", " ")) for p in parts[1:]]
    return " ".join([head, *rest])


def uniform_slices(n: int, k: int = N_SLICES) -> tuple[int, ...]:
    """``k`` indices evenly spaced over ``0..n-1``, ends included: ``round(i (n - 1) / (k - 1))``."""
    if n < 1:
        raise ValueError(f"a volume needs at least one slice, got {n}")
    return tuple(int(i) for i in np.rint(np.linspace(0, n - 1, k)).astype(int))


def random_slices(n: int, k: int, rng: np.random.Generator) -> tuple[int, ...]:
    """``k`` random slices of ``0..n-1`` in ascending order, distinct when ``n >= k``."""
    if n < 1:
        raise ValueError(f"a volume needs at least one slice, got {n}")
    picked = rng.choice(n, size=k, replace=n < k)
    return tuple(int(i) for i in np.sort(picked))


def _source_seed(seed: int, source_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, 7, zlib.crc32(source_id.encode())])


def _prompts(modality: str, region: str, type_: str) -> dict[str, str]:
    prompts = {"modality": modality, "region": region}
    if modality == "mr":
        prompts["type"] = type_
    return prompts


def _families(modality: str, dim: str) -> list[str]:
    from mediqa_sdk.export.heldout import LEVELS
    from mediqa_sdk.train.data.degrade.registry import FAMILIES

    return [
        f
        for f, d in FAMILIES.items()
        if d.modality == modality and f in LEVELS and not (d.volume and dim == "2d")
    ]


def heldout_images(
    split: str = "test", seed: int = 0, sources: Iterable[str] | None = None
) -> list[HeldoutImage]:
    """Every held-out image of ``split`` (optionally only ``sources``), clean first per source and dim."""
    from mediqa_sdk.export.heldout import LEVELS
    from mediqa_sdk.train.data.catalogue import real_sources
    from mediqa_sdk.train.data.degrade.registry import FAMILIES
    from mediqa_sdk.train.data.generator import load_real, make_sample, select_slices
    from mediqa_sdk.train.data.splits import load_splits

    wanted = set(sources) if sources is not None else None
    splits = load_splits()
    out: list[HeldoutImage] = []
    for info in real_sources():
        if splits.get(info.source_id) != split or (wanted is not None and info.source_id not in wanted):
            continue
        src = load_real(info.source_id)
        type_ = src.types[0]
        dims = ["2d"] if src.modality == "fundus" or src.dim == "2d" else ["3d", "2d"]
        for dim in dims:
            indices = select_slices(src.valid, dim, np.random.default_rng(seed))
            clean = make_sample(
                src, dim, None, np.random.default_rng(seed), type_=type_, indices=indices, neighbours=True
            )
            versions = [("clean", 0, math.nan, clean)]
            for family in _families(src.modality, dim):
                for k, level in enumerate(LEVELS[family], start=1):
                    rng = np.random.default_rng(seed + k)
                    sample = make_sample(
                        src, dim, family, rng, param=level, type_=type_, indices=indices, neighbours=True
                    )
                    versions.append((family, k, level, sample))
            for family, severity, level, sample in versions:
                phys = FAMILIES[family].physics if family != "clean" else None
                out.append(
                    HeldoutImage(
                        key=f"{src.source_id}|{dim}|{family}|{severity}",
                        source_id=src.source_id,
                        modality=src.modality,
                        region=src.region,
                        type=type_,
                        dim=dim,
                        family=family,
                        severity=severity,
                        param=float(level),
                        pseudo_mos=float(sample.pseudo_mos),
                        physics_name=phys,
                        physics_true=float(level) if phys else None,
                        prompts=_prompts(src.modality, src.region, type_),
                        image=sample.image,
                        indices=tuple(indices),
                        neighbours=sample.neighbours,
                    )
                )
    return out


def variant_images(
    images: Iterable[HeldoutImage], variant: str, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The 3D images again, seen through ``variant`` slices (``"uniform"`` or ``"random"``): key ->
    (slices, their neighbours).

    Each version is rebuilt with the degradation, level and seed of the original; through-plane families
    (slice thickness) act on the whole volume before the slices are taken, as in the original.
    """
    from mediqa_sdk.train.data.generator import load_real, make_sample

    if variant not in ("uniform", "random"):
        raise ValueError(f"variant must be 'uniform' or 'random', got {variant!r}")
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    chosen: dict[str, tuple[int, ...]] = {}
    for img in images:
        if img.dim != "3d":
            continue
        src = load_real(img.source_id)
        n = src.volume.shape[0]
        if img.source_id not in chosen:
            chosen[img.source_id] = (
                uniform_slices(n)
                if variant == "uniform"
                else random_slices(n, N_SLICES, _source_seed(seed, img.source_id))
            )
        family = None if img.family == "clean" else img.family
        rng = np.random.default_rng(seed + img.severity)
        sample = make_sample(
            src,
            "3d",
            family,
            rng,
            param=None if family is None else img.param,
            type_=img.type,
            indices=chosen[img.source_id],
            neighbours=True,
        )
        out[img.key] = (sample.image, sample.neighbours)
    return out
