"""Numbers and header facts as people read them: rounded values, physical phrases, safe file names."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..result import PhysicsEstimate

__all__ = ["header_facts", "physics_phrase", "round_sig", "slugify"]

# (metadata key, label, unit) in the order a physicist reads them; only keys present are shown
_HEADER_FACTS: tuple[tuple[str, str, str], ...] = (
    ("modality", "Modality", ""),
    ("body_part", "Body part", ""),
    ("series_description", "Series", ""),
    ("study_description", "Study", ""),
    ("protocol_name", "Protocol", ""),
    ("manufacturer", "Manufacturer", ""),
    ("model", "Scanner model", ""),
    ("kvp", "Tube voltage", "kVp"),
    ("exposure_mas", "Exposure", "mAs"),
    ("tube_current_ma", "Tube current", "mA"),
    ("ctdi_vol", "CTDIvol", "mGy"),
    ("slice_thickness", "Slice thickness", "mm"),
    ("convolution_kernel", "Kernel", ""),
    ("field_strength_t", "Field strength", "T"),
    ("sequence_name", "Sequence", ""),
    ("scanning_sequence", "Scanning sequence", ""),
    ("mr_acquisition_type", "Acquisition", ""),
    ("echo_time", "TE", "ms"),
    ("repetition_time", "TR", "ms"),
    ("inversion_time", "TI", "ms"),
    ("series_number", "Series number", ""),
    ("photometric", "Photometric", ""),
    ("stored_dtype", "Stored type", ""),
    ("transfer_syntax", "Transfer syntax", ""),
)
_NOT_SHOWN = frozenset({"series_uid", "study_uid", "sop_instance_uids", "image_type", "sequence_variant"})


def round_sig(value: float, digits: int = 2) -> str:
    """``value`` to ``digits`` significant figures, without exponent notation: 206 -> ``"210"``, 0.483 ->
    ``"0.48"``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - exponent, 0)
    rounded = round(value, digits - 1 - exponent)
    return f"{rounded:.{decimals}f}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return " \\ ".join(str(v) for v in value)
    return str(value)


def header_facts(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, text)`` for the header facts a reader of a QC report wants (kVp, mAs, CTDIvol, ...)."""
    facts = []
    for key, label, unit in _HEADER_FACTS:
        if key in header and header[key] not in (None, ""):
            text = _number(header[key])
            facts.append((label, f"{text} {unit}".strip()))
    known = {key for key, _, _ in _HEADER_FACTS} | _NOT_SHOWN
    for key in sorted(set(header) - known):
        value = header[key]
        if value not in (None, "") and not isinstance(value, (dict, bytes)):
            facts.append((key.replace("_", " "), _number(value)))
    return facts


def physics_phrase(estimate: PhysicsEstimate, header: Mapping[str, Any]) -> str:
    """A physical estimate as a sentence: ``"noise like ~40 mAs at 120 kVp (header: 250 mAs)"``."""
    value = f"~{round_sig(estimate.value)} {estimate.unit}"
    if estimate.name == "ct_dose":
        kvp = header.get("kvp")
        phrase = f"noise like {value}" + (f" at {kvp:g} kVp" if isinstance(kvp, (int, float)) else "")
        actual = header.get("exposure_mas")
        if isinstance(actual, (int, float)):
            phrase += f" (header: {round_sig(float(actual), 3)} mAs)"
        return phrase
    if estimate.name == "mr_field_strength":
        phrase = f"SNR like {value}"
        actual = header.get("field_strength_t")
        if isinstance(actual, (int, float)):
            phrase += f" (header: {actual:g} T)"
        return phrase
    return f"{estimate.name.replace('_', ' ')} like {value}"


_COMPOUND = (".nii.gz", ".dcm.gz", ".tar.gz", ".raw.gz")


def slugify(label: str, max_length: int = 80) -> str:
    """A file-name-safe stem for ``label``: extension dropped, runs of other characters become ``_``."""
    name = label
    lower = name.lower()
    for suffix in _COMPOUND:
        if lower.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 1 <= len(ext) <= 5 and " " not in ext and "]" not in ext:
            name = stem
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return slug[:max_length].rstrip("._-") or "scan"
