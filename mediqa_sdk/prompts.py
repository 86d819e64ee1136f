"""The four prompts (dimension, modality, region, type): where each comes from, and their one-hot encoding.

Precedence for each prompt: the user's override, then a DICOM tag where it is unambiguous, then the prompt
classifier. A tag or override that the classifier contradicts with confidence of at least
``warn_confidence`` becomes a warning. The encoding is ``concat(onehot(dim), onehot(modality),
onehot(region), onehot(type))`` in the registry's vocabulary order (length P = 2 + M + R + T).

CT types are display windows: a CT in HU is scored in the windows its region calls for (the registry's
``ct_region_windows``: chest -> lung and soft tissue), unless the user names one. A CT that is not in HU
(a PNG screenshot) is already windowed, so its type comes from the classifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import PromptError
from .registry import Preprocess, Vocabulary

__all__ = [
    "ClassifierOutput",
    "Prompt",
    "PromptSet",
    "encode_prompt",
    "modality_from_tags",
    "mr_type_from_tags",
    "region_from_tags",
    "resolve_prompts",
    "validate_overrides",
]

_MODALITY_TAGS = {"CT": "ct", "MR": "mr", "OP": "fundus", "XC": "fundus"}
_REGION_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", ("HEAD", "BRAIN", "SKULL", "CEREBR", "NEURO", "CRANI")),
    ("chest", ("CHEST", "THORAX", "LUNG", "THORAC", "CARDIAC", "HEART", "CORONARY")),
    ("abdomen", ("ABDOMEN", "ABD", "PELVIS", "LIVER", "KIDNEY", "RENAL", "PANCREA", "SPLEEN")),
    ("breast", ("BREAST", "MAMMA")),
    ("eye", ("EYE", "RETINA", "FUNDUS", "OPHTHALM")),
)
_MR_TYPE_WORDS: tuple[tuple[str, str], ...] = (
    ("flair", r"FLAIR|DARK.?FLUID|\bTIRM\b"),
    ("pd", r"\bPD\b|PROTON.?DENS|\bPDW"),
    ("t2", r"\bT2|TSE.?T2|\bSPACE\b|CUBE"),
    ("t1", r"\bT1|MPRAGE|MP-RAGE|\bTFL|\bSPGR|BRAVO|\bVIBE|\bFL3D"),
    (
        "other_mr",
        r"\bDWI\b|\bDTI\b|DIFFUS|\bEPI\b|\bEP2D|\bASL\b|PCASL|BOLD|FMRI|\bSWI\b|FIELD.?MAP|\bTOF\b|MRA",
    ),
)


@dataclass(frozen=True)
class Prompt:
    """One prompt value and where it came from.

    Attributes:
        value: the vocabulary value.
        source: ``"input"`` (dimension), ``"override"``, ``"dicom"``, ``"classifier"``, ``"region"`` (CT
            window chosen by region) or ``"implied"`` (fixed by the modality, e.g. fundus -> eye).
        confidence: the classifier's probability for ``value`` (averaged over slices), when it ran.
        evidence: a short note, e.g. ``"BodyPartExamined=CHEST"``.
    """

    value: str
    source: str
    confidence: float | None = None
    evidence: str = ""


@dataclass(frozen=True)
class PromptSet:
    """The resolved prompts; ``types`` has one entry per scored type (a chest CT has two windows)."""

    dim: Prompt
    modality: Prompt
    region: Prompt
    types: tuple[Prompt, ...]


@dataclass(frozen=True)
class ClassifierOutput:
    """Class probabilities per head, averaged over the classified slices."""

    modality: np.ndarray
    region: np.ndarray
    type: np.ndarray


def encode_prompt(vocab: Vocabulary, dim: str, modality: str, region: str, type_: str) -> np.ndarray:
    """``concat(onehot(dim), onehot(modality), onehot(region), onehot(type))`` as float32 ``[P]``."""
    parts = []
    for values, value in (
        (vocab.dim, dim),
        (vocab.modality, modality),
        (vocab.region, region),
        (vocab.type, type_),
    ):
        hot = np.zeros(len(values), dtype=np.float32)
        hot[values.index(value)] = 1.0
        parts.append(hot)
    return np.concatenate(parts)


def modality_from_tags(metadata: Mapping[str, Any]) -> str | None:
    """Vocabulary modality named by the DICOM Modality tag, if it maps to one."""
    tag = str(metadata.get("modality", "")).upper()
    return _MODALITY_TAGS.get(tag)


def region_from_tags(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """Region from BodyPartExamined, else from the series/study description; None when absent or ambiguous.

    Returns:
        ``(region, evidence)``.
    """
    for key, label in (
        ("body_part", "BodyPartExamined"),
        ("series_description", "SeriesDescription"),
        ("study_description", "StudyDescription"),
        ("protocol_name", "ProtocolName"),
    ):
        text = str(metadata.get(key, "")).upper()
        if not text:
            continue
        hits = {region for region, words in _REGION_WORDS if any(w in text for w in words)}
        if len(hits) == 1:
            return hits.pop(), f"{label}={metadata[key]}"
        if len(hits) > 1:
            return None
    return None


def mr_type_from_tags(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """MR contrast from the series description / protocol / sequence name, then TR/TE/TI; None if unsure.

    Timing rule (ms): TI > 1500 -> flair; TR < 800 and TE < 30 -> t1; TR > 2000 and TE > 80 -> t2;
    TR > 2000 and TE < 40 -> pd.
    """
    for key in ("series_description", "protocol_name", "sequence_name"):
        text = str(metadata.get(key, "")).upper()
        if not text:
            continue
        hits = [name for name, pattern in _MR_TYPE_WORDS if re.search(pattern, text)]
        if hits and (len(hits) == 1 or hits[0] == "flair"):
            return hits[0], f"{key}={metadata[key]}"
    tr, te, ti = (_float(metadata.get(k)) for k in ("repetition_time", "echo_time", "inversion_time"))
    if ti is not None and ti > 1500:
        return "flair", f"TI={ti:g} ms"
    if tr is not None and te is not None:
        if tr < 800 and te < 30:
            return "t1", f"TR={tr:g} ms, TE={te:g} ms"
        if tr > 2000 and te > 80:
            return "t2", f"TR={tr:g} ms, TE={te:g} ms"
        if tr > 2000 and te < 40:
            return "pd", f"TR={tr:g} ms, TE={te:g} ms"
    return None


def validate_overrides(vocab: Vocabulary, overrides: Mapping[str, str | None]) -> dict[str, str]:
    """Check user overrides against the vocabulary; returns the non-empty ones, lower-cased.

    Raises:
        PromptError: unknown value, or a type that does not belong to the given modality.
    """
    clean = {k: v.strip().lower() for k, v in overrides.items() if v}
    for key in clean:
        if key not in ("modality", "region", "type"):
            raise PromptError(f"unknown prompt {key!r}; prompts are modality, region, type")
    for key, value in clean.items():
        allowed: tuple[str, ...] = getattr(vocab, key)
        if value not in allowed:
            raise PromptError(f"{key} {value!r} is not in the model's vocabulary: {', '.join(allowed)}")
    mod, typ = clean.get("modality"), clean.get("type")
    if typ is not None:
        owners = [m for m, ts in vocab.types_by_modality.items() if typ in ts]
        if mod is not None and mod not in owners:
            raise PromptError(f"type {typ!r} does not belong to modality {mod!r} (it belongs to {owners})")
        if mod is None and len(owners) == 1:
            clean["modality"] = owners[0]
    return clean


def resolve_prompts(
    vocab: Vocabulary,
    pre: Preprocess,
    *,
    dim: str,
    metadata: Mapping[str, Any],
    overrides: Mapping[str, str],
    classify: Callable[[], ClassifierOutput] | None,
    values_in_hu: bool,
    warn_confidence: float,
) -> tuple[PromptSet, tuple[str, ...]]:
    """Resolve the four prompts by precedence (override > DICOM tag > classifier).

    Args:
        vocab: the scorer's vocabulary.
        pre: the scorer's preprocessing (CT windows per region).
        dim: ``"2d"`` or ``"3d"``, from the input.
        metadata: header facts of the scan.
        overrides: validated user overrides (:func:`validate_overrides`).
        classify: runs the prompt classifier; ``None`` when every prompt is overridden.
        values_in_hu: whether a CT's values are Hounsfield units (volumetric formats, DICOM).
        warn_confidence: classifier confidence from which a disagreement becomes a warning.
    """
    warnings: list[str] = []
    probs = classify() if classify is not None else None

    def from_classifier(head: str, allowed: tuple[str, ...]) -> Prompt:
        if probs is None:
            raise PromptError(f"no {head} prompt: give --{head} or use a classifier")
        p = np.asarray(getattr(probs, head), dtype=np.float64)
        names: tuple[str, ...] = getattr(vocab, head)
        mask = np.array([n in allowed for n in names])
        p_masked = np.where(mask, p, 0.0)
        total = p_masked.sum()
        best = int(np.argmax(p_masked))
        conf = float(p_masked[best] / total) if total > 0 else 0.0
        return Prompt(names[best], "classifier", confidence=round(conf, 4))

    def check(head: str, chosen: Prompt, allowed: tuple[str, ...]) -> None:
        if probs is None or chosen.source == "classifier":
            return
        guess = from_classifier(head, allowed)
        if guess.value != chosen.value and (guess.confidence or 0.0) >= warn_confidence:
            warnings.append(
                f"{head}: {chosen.source} says {chosen.value!r} but the classifier says {guess.value!r} "
                f"({guess.confidence:.2f}); using {chosen.value!r}"
            )

    # modality
    if "modality" in overrides:
        modality = Prompt(overrides["modality"], "override")
    elif (tag := modality_from_tags(metadata)) is not None:
        modality = Prompt(tag, "dicom", evidence=f"Modality={metadata.get('modality')}")
    else:
        modality = from_classifier("modality", vocab.modality)
        if metadata.get("modality"):
            warnings.append(
                f"DICOM modality {metadata['modality']!r} is outside the model's vocabulary "
                f"({', '.join(vocab.modality)}); the score may not mean much"
            )
    check("modality", modality, vocab.modality)
    mod = modality.value

    # region
    if mod == "fundus":
        region = Prompt("eye", "implied", evidence="fundus photographs show the eye")
    elif "region" in overrides:
        region = Prompt(overrides["region"], "override")
    elif (hit := region_from_tags(metadata)) is not None:
        region = Prompt(hit[0], "dicom", evidence=hit[1])
    else:
        region = from_classifier("region", tuple(r for r in vocab.region if r != "eye"))
    if region.source != "implied":
        check("region", region, vocab.region)

    # type(s)
    allowed_types = vocab.types_by_modality.get(mod, vocab.type)
    types: tuple[Prompt, ...]
    if "type" in overrides:
        types = (Prompt(overrides["type"], "override"),)
    elif mod == "fundus":
        types = (Prompt(allowed_types[0], "implied"),)
    elif mod == "ct" and values_in_hu:
        windows = pre.ct_region_windows.get(region.value) or pre.ct_region_windows.get("other", ())
        windows = tuple(w for w in windows if w in allowed_types) or (allowed_types[0],)
        types = tuple(
            Prompt(w, "region", evidence=f"{region.value} CT is scored in {' and '.join(windows)}")
            for w in windows
        )
    elif mod == "mr" and (hit := mr_type_from_tags(metadata)) is not None:
        types = (Prompt(hit[0], "dicom", evidence=hit[1]),)
        check("type", types[0], allowed_types)
    else:
        types = (from_classifier("type", allowed_types),)
    if mod == "ct" and not values_in_hu and "type" not in overrides:
        warnings.append(
            "CT image not in Hounsfield units (an image file): scored as displayed, "
            "intensities normalised by percentiles"
        )
    return PromptSet(dim=Prompt(dim, "input"), modality=modality, region=region, types=types), tuple(warnings)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
