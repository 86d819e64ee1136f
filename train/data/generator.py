"""The sample stream for the trainer: clean source -> slices -> one degradation -> labels, all seeded.

Samples come in blocks of ``samples_per_source`` that share one clean source (a real scan of the split or
a phantom whose seed lies in the split's range), so a phantom volume is built once per block. Sample ``k``
of block ``b`` uses ``np.random.default_rng([seed, split, b, k])``: the stream is reproducible and
independent of how far a consumer reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import labels
from .catalogue import PHANTOMS, RealSource, data_root, real_sources
from .degrade.mr import estimate_noise_sigma, signal_level
from .degrade.registry import FAMILIES, Context, apply_degradation, sample_param
from .phantoms import PHANTOM_KINDS
from .splits import PHANTOM_SEEDS, SPLITS, load_splits

__all__ = [
    "NOISE_FLOOR_HU",
    "CleanSource",
    "Sample",
    "check_family_weights",
    "check_phantom_weights",
    "iter_samples",
    "load_real",
    "make_phantom",
    "select_slices",
    "with_noise_floor",
]

SIZE = 256
MAX_SLICES = 64
#: CT windows a region is scored in (first is the most common)
REGION_WINDOWS = {
    "chest": ("lung_window", "soft_window"),
    "abdomen": ("soft_window",),
    "head": ("brain_window", "brain_window", "bone_window"),
    "other": ("soft_window",),
}
MODALITY_WEIGHTS = {"ct": 0.4, "mr": 0.4, "fundus": 0.2}
#: Noise (HU std inside the body, drawn log-uniformly) of the floor given to CT phantoms on request: the range
#: of the training split's real CTs with soft-tissue kernels (1.1-6.9 HU by ``bench/ct_noise_levels.py``).
NOISE_FLOOR_HU = (1.0, 8.0)
#: Dose of the reference noise draw that :func:`with_noise_floor` scales.
NOISE_FLOOR_REF_MAS = 100.0


@dataclass(frozen=True, eq=False)
class CleanSource:
    """A clean volume ``[D, 256, 256]`` (``[1, 256, 256, 3]`` for fundus) with what labels need."""

    source_id: str
    split: str
    modality: str
    region: str
    types: tuple[str, ...]
    volume: np.ndarray
    pixel_mm: float
    spacing_z_mm: float
    thickness_mm: float
    physics: dict[str, float]
    noise_free: bool
    real: bool
    dim: str
    valid: np.ndarray
    noise_sigma: float = 0.0
    signal: float = 1.0
    licence: str = ""

    def context(self) -> Context:
        """The degradation context of this source."""
        return Context(
            pixel_mm=self.pixel_mm,
            source_dose_mas=math.inf if self.noise_free else self.physics.get("ct_dose", math.inf),
            source_field_t=math.inf if self.noise_free else self.physics.get("mr_field_strength", math.inf),
            source_sigma=self.noise_sigma,
            signal=self.signal,
            spacing_z_mm=self.spacing_z_mm,
            thickness_mm=self.thickness_mm,
        )


@dataclass(frozen=True, eq=False)
class Sample:
    """One labelled training sample.

    Attributes:
        image: degraded image(s) in physical units: 2D ``[H, W]`` / ``[H, W, 3]``; 3D ``[7, H, W]``.
        clean: the clean reference, same shape.
        dim, modality, region, type: prompt labels.
        physics: normalised physics labels (0..1) by target name; ``physics_raw``: physical units.
        physics_valid: which physics targets apply to this sample (its modality's).
        pseudo_mos: full-reference fidelity label in 0..1 (1.0 = clean).
        source_id, split: where the anatomy came from.
        degradation, param, unit: what was done (``"clean"``, nan, "" when nothing); with two
            degradations ``degradation`` is ``"a+b"`` (in the order applied) and ``param``/``unit`` are a's.
        pixel_mm: in-plane pixel size; slice_indices: slices of the source volume used.
        degradations: every ``(family, param, unit)`` applied, in order (empty when clean).
        neighbours: 3D samples made with ``neighbours=True``: ``[7, 2, H, W]`` the slices before and after
            each one along the volume's axis, degraded with the same draw (``None`` otherwise).
    """

    image: np.ndarray
    clean: np.ndarray
    dim: str
    modality: str
    region: str
    type: str
    physics: dict[str, float]
    physics_raw: dict[str, float]
    physics_valid: dict[str, bool]
    pseudo_mos: float
    source_id: str
    split: str
    degradation: str
    param: float
    unit: str
    pixel_mm: float
    slice_indices: tuple[int, ...] = field(default=())
    degradations: tuple[tuple[str, float, str], ...] = field(default=())
    neighbours: np.ndarray | None = field(default=None, repr=False)

    def _what(self) -> str:
        if not self.degradations:
            return self.degradation
        return "+".join(f"{n}={p:.3g}{u and ' ' + u}" for n, p, u in self.degradations)

    def __repr__(self) -> str:
        return (
            f"Sample({self.source_id}, {self.dim} {self.modality}/{self.region}/{self.type}, "
            f"{self._what()}, mos={self.pseudo_mos:.3f})"
        )


def _square(img: np.ndarray, fill: float) -> np.ndarray:
    h, w = img.shape[:2]
    n = max(h, w)
    out = np.full((n, n, *img.shape[2:]), fill, dtype=np.float32)
    y0, x0 = (n - h) // 2, (n - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = img
    return out


def _resize(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    inter = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=inter)


def _valid_mask(volume: np.ndarray, modality: str) -> np.ndarray:
    try:
        from mediqa_sdk.registry import SalientSpec
        from mediqa_sdk.slices import foreground_fractions

        fractions = foreground_fractions(volume[:, ::4, ::4], SalientSpec(), is_ct=modality == "ct")
    except ImportError:  # runtime without the slices module: same rule, inline
        vol = volume[:, ::4, ::4]
        thr = -500.0 if modality == "ct" else float(vol.min() + 0.1 * (np.percentile(vol, 99) - vol.min()))
        fractions = (vol > thr).mean(axis=(1, 2))
    return np.asarray(fractions >= 0.05)


def select_slices(valid: np.ndarray, dim: str, rng: np.random.Generator) -> tuple[int, ...]:
    """3D: the 7 salient slices of the runtime rule (:func:`mediqa_sdk.slices.select_from_valid`);
    2D: one random slice with foreground (the central 80 % of them, to avoid edge slices)."""
    if dim == "3d":
        try:
            from mediqa_sdk.slices import select_from_valid

            return tuple(select_from_valid(valid, 7)[0])
        except ImportError:
            idx = np.flatnonzero(valid) if valid.any() else np.arange(valid.size)
            return (
                tuple(int(r[len(r) // 2]) for r in np.array_split(idx, 7))
                if idx.size >= 7
                else tuple(int(idx[p]) for p in np.rint(np.linspace(0, idx.size - 1, 7)).astype(int))
            )
    idx = np.flatnonzero(valid) if valid.any() else np.arange(valid.size)
    lo, hi = int(0.1 * idx.size), max(int(0.9 * idx.size), int(0.1 * idx.size) + 1)
    return (int(idx[rng.integers(lo, hi)]),)


@lru_cache(maxsize=64)
def load_real(source_id: str, root: str | None = None) -> CleanSource:
    """Read and prepare a catalogued real source: in-plane square pad + resize to 256, at most 64 slices."""
    from ._reader import read_volume

    src = next(s for s in real_sources(include_unused=True) if s.source_id == source_id)
    base = Path(root) if root else data_root()
    path = base / src.path
    meta: dict[str, Any]
    if src.source_id == "skimage-retina" and not path.exists():
        from skimage import data as skdata

        vol, spacing, meta = skdata.retina().astype(np.float32)[None], (math.nan, 1.0, 1.0), {}
    else:
        vol, spacing, meta = read_volume(path)
    return prepare_real(src, vol, spacing, meta)


def prepare_real(
    src: RealSource, vol: np.ndarray, spacing: tuple[float, float, float], meta: dict[str, Any]
) -> CleanSource:
    """Resample a real volume to the working grid and attach its physics labels."""
    split = load_splits().get(src.source_id, "unused")
    if src.modality == "fundus":
        img = vol[0]
        lum = img.mean(axis=2)
        ys, xs = np.nonzero(lum > 15)
        img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] if ys.size else img
        prepared = np.clip(_resize(_square(img, 0.0)), 0, 255)[None]
        return CleanSource(
            src.source_id,
            split,
            "fundus",
            "eye",
            ("color",),
            prepared.astype(np.float32),
            math.nan,
            math.nan,
            math.nan,
            {},
            False,
            True,
            "2d",
            np.ones(1, bool),
            licence=src.licence,
        )
    if vol.shape[0] > MAX_SLICES:
        keep = np.rint(np.linspace(0, vol.shape[0] - 1, MAX_SLICES)).astype(int)
        spacing = (spacing[0] * (vol.shape[0] - 1) / (MAX_SLICES - 1), spacing[1], spacing[2])
        vol = vol[keep]
    fill = -1024.0 if src.modality == "ct" else 0.0
    if src.modality == "ct":
        vol = np.maximum(vol, -1024.0)
    n = max(vol.shape[1:3])
    prepared = np.stack([_resize(_square(s, fill)) for s in vol]).astype(np.float32)
    pixel_mm = float(spacing[2] if math.isfinite(spacing[2]) else 1.0) * n / SIZE
    dz = float(spacing[0]) if math.isfinite(spacing[0]) and spacing[0] > 0 else 5.0
    thick = float(meta.get("slice_thickness") or meta.get("slice_thickness_mm") or dz)
    physics: dict[str, float] = {}
    sigma, signal = 0.0, 1.0
    if src.modality == "ct":
        physics["ct_dose"] = float(
            meta.get("exposure_mas") or src.dose_mas or labels.REAL_CT_DEFAULT_DOSE_MAS
        )
    else:
        physics["mr_field_strength"] = float(
            meta.get("field_strength_t") or src.field_t or labels.REAL_MR_DEFAULT_FIELD_T
        )
        sigma, signal = estimate_noise_sigma(prepared), signal_level(prepared)
    types = REGION_WINDOWS.get(src.region, (src.type,)) if src.modality == "ct" else (src.type,)
    return CleanSource(
        src.source_id,
        split,
        src.modality,
        src.region,
        types,
        prepared,
        pixel_mm,
        dz,
        thick,
        physics,
        False,
        True,
        src.dim if prepared.shape[0] > 1 else "2d",
        _valid_mask(prepared, src.modality),
        sigma,
        signal,
        src.licence,
    )


def make_phantom(kind: str, seed: int, n_slices: int = 24) -> CleanSource:
    """Build a phantom source (noise-free: CT labelled 500 mAs, MR labelled 7 T)."""
    ph = PHANTOM_KINDS[kind](seed, n_slices)
    physics: dict[str, float] = {}
    if ph.modality == "ct":
        physics["ct_dose"] = labels.PHANTOM_CT_DOSE_MAS
    elif ph.modality == "mr":
        physics["mr_field_strength"] = labels.PHANTOM_MR_FIELD_T
    split = next(name for name, (lo, hi) in PHANTOM_SEEDS.items() if lo <= seed < hi)
    types = REGION_WINDOWS[ph.region] if ph.modality == "ct" else ph.types
    vol = ph.volume
    signal = signal_level(vol) if ph.modality == "mr" else 1.0
    dim = "3d" if vol.shape[0] > 1 else "2d"
    return CleanSource(
        f"phantom:{kind}:{seed}",
        split,
        ph.modality,
        ph.region,
        types,
        vol,
        ph.spacing[1],
        ph.spacing[0],
        ph.spacing[0],
        physics,
        True,
        False,
        dim,
        _valid_mask(vol, ph.modality) if ph.modality != "fundus" else np.ones(1, bool),
        0.0,
        signal,
        "procedural (mediqa-sdk)",
    )


def with_noise_floor(src: CleanSource, noise_hu: float, rng: np.random.Generator) -> CleanSource:
    """A noise-free CT phantom as if scanned at the dose that gives ``noise_hu`` of image noise in its body.

    The engine's dose model draws the noise ``n_ref`` of :data:`NOISE_FLOOR_REF_MAS`; since noise std goes as
    ``d^-1/2``, ``volume + k n_ref`` with ``k = noise_hu / std(n_ref)`` is the phantom at ``d = d_ref / k^2``
    (labelled so; above 500 mAs the normalised label is 1). It is then a noisy source like a real scan: a
    later dose fault adds only the variance between the two doses (``1/d_tgt - 1/d``), and clean versions
    carry the noise of a routine scan, so smoothing that removes it is not mistaken for a cleaner image.
    """
    if src.modality != "ct" or not src.noise_free:
        raise ValueError(f"{src.source_id}: a noise floor is for noise-free CT phantoms")
    ref = apply_degradation("ct_dose", src.volume, NOISE_FLOOR_REF_MAS, rng, src.context()) - src.volume
    k = noise_hu / float(np.std(ref[src.volume > -500]))
    vol = (src.volume + k * ref).astype(np.float32)
    return replace(src, volume=vol, physics={"ct_dose": NOISE_FLOOR_REF_MAS / k**2}, noise_free=False)


def _labels(src: CleanSource, applied: list[tuple[str, float]]) -> tuple[dict, dict, dict]:
    raw = dict(src.physics)
    for family, param in applied:
        spec = FAMILIES[family]
        if spec.physics:
            raw[spec.physics] = param
    norm = {name: labels.normalise(name, raw[name]) if name in raw else 0.0 for name in labels.PHYSICS}
    valid = {name: name in raw for name in labels.PHYSICS}
    return norm, {k: raw.get(k, math.nan) for k in labels.PHYSICS}, valid


def make_sample(
    src: CleanSource,
    dim: str,
    family: str | None,
    rng: np.random.Generator,
    *,
    param: float | None = None,
    type_: str | None = None,
    indices: tuple[int, ...] | None = None,
    second: str | None = None,
    second_param: float | None = None,
    neighbours: bool = False,
) -> Sample:
    """Degrade slices of ``src`` with ``family`` (``None`` = clean), optionally also ``second``, and label.

    Two families are applied in the order of their ``stage`` (volume, object, noise, reconstruction); a
    physics family among them sets the physics label. The pseudo-MOS is computed on the combined image
    with the two families' calibrations mixed by each one's share of the distortion
    (``w_first = d(first only) / d(both)``). With ``neighbours`` (3D only) the slices before and after each
    chosen one are degraded in the same call, interleaved ``(i - 1, i, i + 1)``, and kept in
    :attr:`Sample.neighbours` (labels still come from the chosen slices alone).
    """
    type_ = type_ or str(rng.choice(src.types))
    idx = indices or select_slices(src.valid, dim, rng)
    ctx = src.context()
    with_context = neighbours and dim == "3d" and src.volume.shape[0] > 1
    if with_context:
        n = src.volume.shape[0]
        rows = [j for i in idx for j in (max(i - 1, 0), i, min(i + 1, n - 1))]
        centre = slice(1, None, 3)
    else:
        rows, centre = list(idx), slice(None)
    clean = src.volume[list(idx)]
    todo: list[tuple[str, float | None]] = []
    if family is not None:
        todo.append((family, param))
        if second is not None and second != family:
            todo.append((second, second_param))
    todo.sort(key=lambda fp: FAMILIES[fp[0]].stage)
    applied: list[tuple[str, float]] = []
    work = src.volume[rows].copy()  # the chosen slices, with their neighbours when asked for
    first_loss = 0.0
    for k, (name, value) in enumerate(todo):
        spec = FAMILIES[name]
        val = float(value) if value is not None else sample_param(spec, rng, ctx)
        if spec.volume:  # through-plane: on the whole volume (always the first, stage 0)
            work = apply_degradation(name, src.volume, val, rng, ctx)[rows]
        else:
            work = apply_degradation(name, work, val, rng, ctx)
        if name == "ct_slice_thickness":
            ctx = replace(ctx, thickness_mm=val)
        applied.append((name, val))
        if k == 0 and len(todo) > 1:
            first_loss = labels.fidelity_loss(work[centre], clean, src.modality, type_, is_stack=True)
    work = work.astype(np.float32)
    degraded = work[centre]
    context = np.stack([work[0::3], work[2::3]], axis=1) if with_context else None
    is_stack = dim == "3d"
    mix: dict[str, float] | str | None = applied[0][0] if applied else None
    if len(applied) == 2:
        total = labels.fidelity_loss(degraded, clean, src.modality, type_, is_stack=True)
        w_first = min(max(first_loss / total, 0.0), 1.0) if total > 0 else 0.5
        mix = {applied[0][0]: w_first, applied[1][0]: 1.0 - w_first}
    mos = labels.pseudo_mos(degraded, clean, src.modality, type_, is_stack=True, family=mix)
    norm, raw, valid = _labels(src, applied)
    if not is_stack:
        degraded, clean = degraded[0], clean[0]
    steps = tuple((name, val, FAMILIES[name].unit) for name, val in applied)
    return Sample(
        degraded,
        clean,
        dim,
        src.modality,
        src.region,
        type_,
        norm,
        raw,
        valid,
        mos,
        src.source_id,
        src.split,
        "+".join(name for name, _ in applied) or "clean",
        applied[0][1] if applied else math.nan,
        steps[0][2] if steps else "",
        src.pixel_mm,
        tuple(idx),
        steps,
        context,
    )


def _check_weights(weights: Mapping[str, float] | None, known: Iterable[str], what: str, short: str) -> None:
    """Raise ``ValueError`` for a name not in ``known`` (``what``: e.g. "phantom kind") or a weight <= 0."""
    known = set(known)
    for name, weight in (weights or {}).items():
        if name not in known:
            raise ValueError(f"unknown {what} {name!r}; known: {', '.join(sorted(known))}")
        if not weight > 0:
            raise ValueError(f"{short} weight of {name} must be > 0; got {weight}")


def check_phantom_weights(weights: Mapping[str, float] | None) -> None:
    """Raise ``ValueError`` for an unknown phantom kind or a weight that is not positive."""
    _check_weights(weights, (p.kind for p in PHANTOMS), "phantom kind", "phantom")


def check_family_weights(weights: Mapping[str, float] | None) -> None:
    """Raise ``ValueError`` for an unknown degradation family or a weight that is not positive."""
    _check_weights(weights, FAMILIES, "degradation family", "family")


def _weighted(options: list[str], weights: Mapping[str, float], rng: np.random.Generator) -> str:
    """One of ``options`` drawn with probability proportional to its weight (unnamed options weigh 1)."""
    w = np.array([weights.get(o, 1.0) for o in options])
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def _family(options: list[str], weights: Mapping[str, float] | None, rng: np.random.Generator) -> str:
    """A degradation family of ``options``: weighted when ``weights`` are given, else the uniform draw of
    streams before ``family_weights`` (same random numbers)."""
    return _weighted(options, weights, rng) if weights else str(rng.choice(options))


def iter_samples(
    split: str,
    kind: str = "2d",
    seed: int = 0,
    *,
    families: Iterable[str] | None = None,
    modalities: Iterable[str] | None = None,
    n: int | None = None,
    real_fraction: float = 0.5,
    clean_fraction: float = 0.1,
    samples_per_source: int = 8,
    phantom_slices: int | None = None,
    combo_fraction: float = 0.15,
    paired_fraction: float = 0.0,
    series_fraction: float = 0.0,
    neighbours: bool = False,
    ct_noise_floor: float = 0.0,
    ct_noise_floor_hu: tuple[float, float] = NOISE_FLOOR_HU,
    ct_resolution: bool = False,
    phantom_weights: Mapping[str, float] | None = None,
    family_weights: Mapping[str, float] | None = None,
) -> Iterator[Sample]:
    """Stream labelled samples of ``split`` (``train``/``val``/``test``), endless unless ``n`` is given.

    Args:
        split: which sources to draw from.
        kind: ``"2d"`` (one slice or photo) or ``"3d"`` (7 salient slices; fundus is skipped).
        seed: stream seed.
        families: degradation families to use (default all of the drawn modality's).
        modalities: restrict to some of ``ct``, ``mr``, ``fundus``.
        n: number of samples, ``None`` for endless.
        real_fraction: probability that a block's source is a real scan (when the split has one).
        clean_fraction: probability that a sample is left clean (label 1.0).
        samples_per_source: samples per block sharing one clean source.
        phantom_slices: slices of a phantom volume (default 12 for 2D, 24 for 3D).
        combo_fraction: probability that a degraded sample gets a second, different family of its
            modality (e.g. low dose + motion); see :func:`make_sample` for its labels.
        paired_fraction: probability that a block is *paired*: its samples share one set of slices and
            one contrast, and the first is the clean version, so a batch holds several versions of the
            same content (what a within-content ranking loss and the held-out level series compare).
        series_fraction: probability that a paired block is a *series*: its degraded versions are one family
            at different severities with one draw of the fault (motion path, noise pattern), so that only
            the severity changes along it.
        neighbours: 3D samples carry the degraded slices next to their chosen ones (:func:`make_sample`).
        ct_noise_floor: probability that a CT phantom is first given the noise of a routine dose
            (:data:`NOISE_FLOOR_HU`, :func:`with_noise_floor`) instead of staying noise-free.
        ct_noise_floor_hu: the range (HU, low and high) that floor's noise is drawn from, log-uniformly.
        ct_resolution: also draw the opt-in family ``ct_resolution`` (an in-plane blur: a softer
            reconstruction kernel) for CT; opt-in families are left out unless asked for or named in
            ``families``.
        phantom_weights: relative weight of each phantom kind within its modality (``{"ct_head": 3}``: a CT
            phantom is a head three times as often as each other CT kind); kinds not named weigh 1.
            ``None`` (or empty) draws the kinds uniformly with the same random numbers as streams before
            the option; with weights every modality's kind is a weighted draw (other random numbers).
        family_weights: relative weight of each degradation family within its modality
            (``{"mr_bias_field": 3}``), for a degraded sample's family and a series' family; unnamed families
            weigh 1. ``None`` (or empty) draws them uniformly with the random numbers of streams before the
            option; with weights every family is a weighted draw (other random numbers).
    """
    if split not in SPLITS or kind not in ("2d", "3d"):
        raise ValueError(f"split must be one of {SPLITS} and kind '2d' or '3d'; got {split!r}, {kind!r}")
    if not 0 < ct_noise_floor_hu[0] <= ct_noise_floor_hu[1]:
        raise ValueError(f"ct_noise_floor_hu must be 0 < low <= high; got {ct_noise_floor_hu}")
    check_phantom_weights(phantom_weights)
    check_family_weights(family_weights)
    mods = [m for m in (modalities or MODALITY_WEIGHTS) if not (kind == "3d" and m == "fundus")]
    fams = set(families) if families is not None else {f for f, d in FAMILIES.items() if not d.opt_in}
    if ct_resolution:
        fams.add("ct_resolution")
    mods = [m for m in mods if any(FAMILIES[f].modality == m for f in fams)] or mods
    weights = np.array([MODALITY_WEIGHTS[m] for m in mods])
    split_code = SPLITS.index(split)
    reals = [s for s in real_sources() if load_splits().get(s.source_id) == split]
    n_phantom = phantom_slices or (12 if kind == "2d" else 24)
    count, block = 0, 0
    while n is None or count < n:
        brng = np.random.default_rng([seed, split_code, block, 1 if kind == "3d" else 0])
        modality = str(brng.choice(mods, p=weights / weights.sum()))
        pool = [s for s in reals if s.modality == modality and (kind == "2d" or s.dim == "3d")]
        if pool and brng.random() < real_fraction:
            src = load_real(pool[int(brng.integers(len(pool)))].source_id)
        else:
            kinds = [p.kind for p in PHANTOMS if p.modality == modality]
            lo, hi = PHANTOM_SEEDS[split]
            if phantom_weights:
                chosen = _weighted(kinds, phantom_weights, brng)
            else:  # the uniform draw of streams before the option: their samples are unchanged
                chosen = kinds[int(brng.integers(len(kinds)))]
            src = make_phantom(chosen, int(brng.integers(lo, hi)), n_phantom)
            if ct_noise_floor > 0 and modality == "ct":  # its own stream: other draws stay as they were
                frng = np.random.default_rng([seed, split_code, block, 4])
                if frng.random() < ct_noise_floor:
                    src = with_noise_floor(src, math.exp(frng.uniform(*np.log(ct_noise_floor_hu))), frng)
        options = [f for f in FAMILIES if FAMILIES[f].modality == modality and f in fams]
        if src.volume.shape[0] < 3:
            options = [f for f in options if not FAMILIES[f].volume]
        paired = brng.random() < paired_fraction
        indices = select_slices(src.valid, kind, brng) if paired else None
        type_ = str(brng.choice(src.types)) if paired else None
        series = None
        if paired and options and brng.random() < series_fraction:
            series = _family(options, family_weights, brng)
        for k in range(samples_per_source):
            if n is not None and count >= n:
                return
            rng = np.random.default_rng([seed, split_code, block, k, 2])
            if series is not None and k > 0:
                param = sample_param(FAMILIES[series], rng, src.context())
                fault = np.random.default_rng([seed, split_code, block, 3])  # the same draw for every version
                yield make_sample(
                    src, kind, series, fault, param=param, indices=indices, type_=type_, neighbours=neighbours
                )
                count += 1
                continue
            clean = not options or (paired and k == 0) or rng.random() < clean_fraction
            family = None if clean else _family(options, family_weights, rng)
            second = None
            if family is not None and len(options) > 1 and rng.random() < combo_fraction:
                second = str(rng.choice([f for f in options if f != family]))
            yield make_sample(
                src, kind, family, rng, second=second, indices=indices, type_=type_, neighbours=neighbours
            )
            count += 1
        block += 1
