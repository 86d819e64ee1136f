"""Held-out benchmark of a registered scorer on real scans of the test split, through the runtime (ONNX).

For every real source of the split, every degradation family of its modality is applied at ``LEVELS``
severities (plus the clean image) to one fixed set of slices (7 salient slices for volumes, one for 2D) with
one random draw of the fault (motion path, bias field shape, noise pattern) for the whole series, so that
only the severity changes along it (a level that leaves the image unchanged, such as a dose at or above the
source's own, is not a degraded version and is left out); and
each version is scored by :class:`mediqa_sdk.Assessor` as ``mediqa score`` would (prompts: modality
and region as a user or DICOM tags would give them; MR contrast from the catalogue); a volume is given with
the degraded slices before and after each chosen one and scored on the chosen ones
(:meth:`~mediqa_sdk.Assessor.score_slices`), so a scorer that reads neighbouring slices sees them degraded
too (since 2026-12-06; the draws of the fault differ from earlier records, the protocol is the same).
Since :data:`PROTOCOL` 2026-12-07 MR undersampling keeps nested random phase-encode lines instead of every
R-th one, so that its levels are a quality order by the labels (``bench/level_order.py``); records measured
before it have no ``protocol`` key. Reported per family
group (CT chest, CT abdomen/head, MR brain, MR other, fundus):

- ``srcc_level``: Spearman correlation between the score and the degradation severity (clean = 0), computed
  within each (source, dimension, family) series and averaged; ``srcc_level_min`` is the worst series;
- ``clean_wins``: share of (clean, degraded) pairs in which the clean image scores higher;
- ``srcc``, ``plcc``, ``rmse`` against the pseudo-MOS labels, pooled over the group;
- physics: ``dose_srcc`` (estimated vs simulated mAs on CT dose series), ``field_srcc`` (MR field strength).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

if TYPE_CHECKING:
    from mediqa_sdk import Assessor, QualityResult

    from ..train.data.generator import CleanSource, Sample

__all__ = [
    "LEVELS",
    "PROTOCOL",
    "HeldoutRow",
    "SeriesVersion",
    "classifier_accuracy",
    "evaluate_heldout",
    "heldout_command",
    "heldout_series",
    "level_series",
    "level_srcc",
    "middle_slices",
    "sample_volume",
    "score_versions",
    "source_series",
    "summarise",
    "with_neighbours",
]

#: date of the last change to what the benchmark measures (stored with each record it writes)
PROTOCOL = "2026-12-07"
#: severities per family, mildest first (physical units of the family's parameter)
LEVELS: dict[str, tuple[float, ...]] = {
    "ct_dose": (200.0, 80.0, 30.0, 10.0),
    "ct_sparse_views": (120.0, 72.0, 48.0, 30.0),
    "ct_motion": (1.0, 2.5, 5.0, 9.0),
    "ct_slice_thickness": (5.0, 7.0, 9.0, 12.0),
    "mr_field_strength": (1.5, 1.0, 0.5, 0.2),
    "mr_motion": (0.7, 1.5, 3.0, 6.0),
    "mr_gibbs": (144.0, 112.0, 80.0, 48.0),
    "mr_undersampling": (2.0, 3.0, 4.0, 5.5),
    "mr_bias_field": (0.3, 0.6, 0.9, 1.2),
    "fundus_defocus": (1.0, 2.0, 3.5, 6.0),
    "fundus_motion_blur": (3.0, 6.0, 10.0, 16.0),
    "fundus_illumination": (0.3, 0.5, 0.7, 0.9),
    "fundus_exposure": (-0.7, -1.5, -2.2, -3.0),
    "fundus_haze": (0.2, 0.4, 0.6, 0.8),
    "fundus_jpeg": (40.0, 20.0, 10.0, 5.0),
    "fundus_noise": (4.0, 8.0, 14.0, 24.0),
}


@dataclass(frozen=True)
class HeldoutRow:
    """One scored version of one held-out source."""

    group: str
    source_id: str
    dim: str
    family: str
    severity: int
    param: float
    score: float
    pseudo_mos: float
    physics_value: float | None


def with_neighbours(image: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Slices ``[S, H, W]`` and their neighbours ``[S, 2, H, W]`` as one volume of ``3 S`` slices
    ``(i - 1, i, i + 1)`` per slice ``i``; the slices themselves are :func:`middle_slices`."""
    return np.stack([neighbours[:, 0], image, neighbours[:, 1]], axis=1).reshape(-1, *image.shape[1:])


def middle_slices(n: int) -> tuple[int, ...]:
    """Where the ``n`` slices lie in :func:`with_neighbours`'s volume: the middle of each run of three."""
    return tuple(range(1, 3 * n, 3))


def sample_volume(sample: Sample) -> np.ndarray:
    """What the runtime is given for ``sample``: its image, or for a 3D sample with neighbours the volume of
    :func:`with_neighbours`, scored on its :func:`middle_slices` (so the neighbours the scorer reads are the
    degraded neighbours)."""
    return sample.image if sample.neighbours is None else with_neighbours(sample.image, sample.neighbours)


def _score_sample(assessor: Assessor, sample: Sample, prompts: dict[str, str]) -> QualityResult:
    """Score ``sample`` through the runtime: a 3D sample with neighbours on the slices it was labelled on
    (not the salient rule's: a degradation can change which slices it counts as foreground)."""
    if sample.neighbours is None:
        return assessor.score(sample.image, **prompts)
    return assessor.score_slices(sample_volume(sample), middle_slices(len(sample.image)), **prompts)


def family_group(modality: str, region: str) -> str:
    """The reporting group of a source."""
    if modality == "ct":
        return "CT chest" if region == "chest" else "CT abdomen/head"
    if modality == "mr":
        return "MR brain" if region == "head" else "MR other"
    return "fundus"


@dataclass(frozen=True)
class SeriesVersion:
    """One version of one held-out series: the clean image (severity 0) or a degraded one."""

    group: str
    source_id: str
    dim: str
    family: str
    severity: int
    param: float
    sample: Sample
    prompts: dict[str, str]


def heldout_series(
    split: str = "test", seed: int = 0, modalities: tuple[str, ...] | None = None
) -> Iterator[SeriesVersion]:
    """Every version of every held-out series of ``split`` (see the module docstring), clean first in each.

    The clean version of a source and dimension is one :class:`Sample` object shared by its series.
    """
    from ..train.data.catalogue import real_sources
    from ..train.data.generator import load_real
    from ..train.data.splits import load_splits

    splits = load_splits()
    for src_info in real_sources():
        if splits.get(src_info.source_id) != split or (modalities and src_info.modality not in modalities):
            continue
        src = load_real(src_info.source_id)
        yield from source_series(src, family_group(src.modality, src.region), seed)


def source_series(src: CleanSource, group: str, seed: int = 0) -> Iterator[SeriesVersion]:
    """Every version of every level series of one clean source (a real scan or a phantom), clean first in
    each: the salient slices and the clean version drawn with ``seed``, the fault with ``seed + 1``."""
    from ..train.data.degrade.registry import FAMILIES
    from ..train.data.generator import make_sample, select_slices

    dims = ["2d"] if src.modality == "fundus" or src.dim == "2d" else ["3d", "2d"]
    for dim in dims:
        indices = select_slices(src.valid, dim, np.random.default_rng(seed))
        type_ = src.types[0]
        prompts: dict[str, str] = {"modality": src.modality, "region": src.region}
        if src.modality == "mr":
            prompts["type"] = type_
        clean = make_sample(
            src, dim, None, np.random.default_rng(seed), type_=type_, indices=indices, neighbours=True
        )
        families = [f for f, d in FAMILIES.items() if d.modality == src.modality and f in LEVELS]
        for family in families:
            if FAMILIES[family].volume and dim == "2d":
                continue
            yield SeriesVersion(group, src.source_id, dim, family, 0, math.nan, clean, prompts)
            for k, level in enumerate(LEVELS[family], start=1):
                sample = make_sample(
                    src,
                    dim,
                    family,
                    np.random.default_rng(seed + 1),  # one draw of the fault for the whole series
                    param=level,
                    type_=type_,
                    indices=indices,
                    neighbours=True,
                )
                if np.array_equal(sample.image, clean.image):
                    continue  # a level at or above the source's own value (e.g. its dose): not degraded
                yield SeriesVersion(group, src.source_id, dim, family, k, level, sample, prompts)


def evaluate_heldout(
    registry: str | Path | None = None,
    model: str | None = None,
    split: str = "test",
    seed: int = 0,
    modalities: tuple[str, ...] | None = None,
) -> list[HeldoutRow]:
    """Score every held-out version through the runtime; returns one row per scored image."""
    from mediqa_sdk import Assessor

    assessor = Assessor(model, registry=registry, device="cpu")
    return score_versions(assessor, heldout_series(split, seed, modalities))


def score_versions(assessor: Assessor, versions: Iterable[SeriesVersion]) -> list[HeldoutRow]:
    """Score each version through the runtime (a series' shared clean version once); one row per image."""
    from ..train.data.degrade.registry import FAMILIES

    clean: dict[tuple[str, str, str], QualityResult] = {}  # a source's clean version is shared by its series
    rows: list[HeldoutRow] = []
    for v in versions:
        key = (v.group, v.source_id, v.dim)
        if v.severity:
            result = _score_sample(assessor, v.sample, v.prompts)
        else:
            if key not in clean:
                clean[key] = _score_sample(assessor, v.sample, v.prompts)
            result = clean[key]
        name = FAMILIES[v.family].physics
        phys = next((p.value for p in result.physics if p.name == name), None)
        rows.append(
            HeldoutRow(
                v.group,
                v.source_id,
                v.dim,
                v.family,
                v.severity,
                v.param,
                result.score,
                float(v.sample.pseudo_mos),
                phys,
            )
        )
    return rows


def level_series(rows: Iterable[HeldoutRow]) -> dict[tuple[str, str, str, str], list[HeldoutRow]]:
    """Rows grouped into their level series, keyed ``(group, source_id, dim, family)``, in row order."""
    series: dict[tuple[str, str, str, str], list[HeldoutRow]] = defaultdict(list)
    for r in rows:
        series[(r.group, r.source_id, r.dim, r.family)].append(r)
    return series


def level_srcc(series: list[HeldoutRow]) -> float:
    """Spearman correlation of score and -severity within one series (1.0: milder versions score higher)."""
    from ..train.metrics import srcc

    return srcc(np.array([r.score for r in series]), -np.array([r.severity for r in series], float))


def summarise(rows: list[HeldoutRow]) -> dict[str, dict[str, float]]:
    """Per-group metrics (see the module docstring)."""
    from ..train.metrics import plcc, rmse, srcc

    series = level_series(rows)
    out: dict[str, dict[str, Any]] = {}
    for group in sorted({r.group for r in rows}):
        mine = [(k, v) for k, v in series.items() if k[0] == group]
        level = [level_srcc(v) for _, v in mine]
        wins = [r.score < v[0].score for _, v in mine for r in v[1:]]
        dose = [
            srcc(np.array([r.physics_value for r in v[1:]]), np.array([r.param for r in v[1:]]))
            for k, v in mine
            if k[3] == "ct_dose" and v[1].physics_value is not None
        ]
        field_ = [
            srcc(np.array([r.physics_value for r in v[1:]]), np.array([r.param for r in v[1:]]))
            for k, v in mine
            if k[3] == "mr_field_strength" and v[1].physics_value is not None
        ]
        flat = [r for _, v in mine for r in v]
        pred, true = np.array([r.score for r in flat]), np.array([r.pseudo_mos for r in flat])
        stats: dict[str, Any] = {
            "sources": len({k[1] for k, _ in mine}),
            "images": len(flat),
            "srcc_level": float(np.mean(level)),
            "srcc_level_min": float(np.min(level)),
            "clean_wins": float(np.mean(wins)),
            "srcc": srcc(pred, true),
            "plcc": plcc(pred, true),
            "rmse": rmse(pred, true),
        }
        if dose:
            stats["dose_srcc"] = float(np.mean(dose))
        if field_:
            stats["field_srcc"] = float(np.mean(field_))
        out[group] = {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}
    return out


def per_family(rows: list[HeldoutRow]) -> dict[str, float]:
    """Mean within-series level SRCC per degradation family (where the model is weakest)."""
    from ..train.metrics import srcc

    series: dict[tuple[str, str, str], list[HeldoutRow]] = defaultdict(list)
    for r in rows:
        series[(r.source_id, r.dim, r.family)].append(r)
    fam: dict[str, list[float]] = defaultdict(list)
    for (_, _, family), v in series.items():
        fam[family].append(srcc(np.array([r.score for r in v]), -np.array([r.severity for r in v], float)))
    return {f: round(float(np.mean(v)), 4) for f, v in sorted(fam.items())}


def classifier_accuracy(
    registry: str | Path | None = None, classifier: str | None = None, split: str = "test", seed: int = 0
) -> dict[str, Any]:
    """Per-head accuracy of the prompt classifier (ONNX, runtime preprocessing) on held-out real images.

    Each held-out source contributes its 7 salient slices (one image for photos), clean and at the middle
    severity of each family; the prediction is the runtime's: softmax averaged over a scan's slices, type
    restricted to the predicted modality's types. The type head is scored on MR and fundus only (a CT's type
    is the display window chosen from its region).
    """
    from mediqa_sdk import Assessor
    from mediqa_sdk.preprocess import classifier_input

    from ..train.data.catalogue import real_sources
    from ..train.data.degrade.registry import FAMILIES
    from ..train.data.generator import load_real, make_sample, select_slices
    from ..train.data.splits import load_splits

    assessor = Assessor(classifier=classifier, registry=registry, device="cpu")
    record = assessor.classifier
    vocab = record.vocabulary
    session = assessor._classifier_session  # the runtime's own verified session
    splits = load_splits()
    hits: dict[str, list[bool]] = {"modality": [], "region": [], "type": []}
    for src_info in real_sources():
        if splits.get(src_info.source_id) != split:
            continue
        src = load_real(src_info.source_id)
        dim = "2d" if src.modality == "fundus" or src.dim == "2d" else "3d"
        indices = select_slices(src.valid, dim, np.random.default_rng(seed))
        families = [None, *(f for f, d in FAMILIES.items() if d.modality == src.modality and f in LEVELS)]
        for family in families:
            param = LEVELS[family][1] if family else None
            sample = make_sample(
                src,
                dim,
                family,
                np.random.default_rng(seed),
                param=param,
                type_=src.types[0],
                indices=indices,
            )
            stack = sample.image[None] if dim == "2d" else sample.image
            x = classifier_input(stack, record.preprocess, is_color=src.modality == "fundus")
            out = session.run({"image": x})
            probs = {h: np.exp(out[h] - out[h].max(1, keepdims=True)) for h in ("modality", "region", "type")}
            probs = {h: (v / v.sum(1, keepdims=True)).mean(0) for h, v in probs.items()}
            mod = vocab.modality[int(np.argmax(probs["modality"]))]
            hits["modality"].append(mod == src.modality)
            hits["region"].append(vocab.region[int(np.argmax(probs["region"]))] == src.region)
            if src.modality != "ct":
                allowed = vocab.types_by_modality.get(mod, vocab.type)
                masked = np.where([t in allowed for t in vocab.type], probs["type"], 0.0)
                hits["type"].append(vocab.type[int(np.argmax(masked))] == src.types[0])
    return {f"acc_{k}": round(float(np.mean(v)), 4) for k, v in hits.items() if v} | {
        "images": len(hits["modality"])
    }


@click.command(name="heldout")
@click.option("--registry", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--model", default=None, help="Scorer name (default: the registry's default).")
@click.option("--split", default="test", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write rows and summary as JSON.")
@click.option("--write-record", is_flag=True, help="Store the summary in the model's registry record.")
def heldout_command(
    registry: str | None, model: str | None, split: str, out: str | None, write_record: bool
) -> None:
    """Benchmark a scorer on held-out real scans through the ONNX runtime."""
    rows = evaluate_heldout(registry, model, split)
    summary = summarise(rows)
    families = per_family(rows)
    cls = classifier_accuracy(registry, None, split)
    click.echo("classifier: " + ", ".join(f"{k} {v}" for k, v in cls.items()))
    for group, stats in summary.items():
        click.echo(f"{group:16s} " + "  ".join(f"{k} {v}" for k, v in stats.items()))
    click.echo("per family level-SRCC: " + ", ".join(f"{k} {v}" for k, v in families.items()))
    if out:
        Path(out).write_text(
            json.dumps(
                {"summary": summary, "families": families, "rows": [r.__dict__ for r in rows]},
                indent=1,
                default=float,
            )
        )
    if write_record:
        from mediqa_sdk.registry import load_registry, read_registry_json, registry_path, write_registry_json

        path = Path(registry) if registry else registry_path()
        reg = load_registry(path)
        name, cls_name = reg.get(model, "scorer").name, reg.get(None, "classifier").name
        raw = read_registry_json(path)
        for rec in raw["models"]:
            if rec["name"] == name:
                rec.setdefault("metrics", {})["heldout_real"] = {
                    "split": split,
                    "protocol": PROTOCOL,
                    "groups": summary,
                    "families": families,
                }
            elif rec["name"] == cls_name:
                rec.setdefault("metrics", {})["heldout_real"] = {"split": split, **cls}
        write_registry_json(raw, path)
        click.echo(f"metrics written to {path} ({name}, {cls_name})")
