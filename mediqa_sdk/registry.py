"""The model registry: ``models.json`` loaded into typed, frozen, validated records.

The registry is data. Each record names one ONNX graph (file, sha256, size), the contract it implements, the
preprocessing it expects, its prompt vocabulary, its outputs and where it came from. The runtime reads every
preprocessing constant from here, so a retrained model ships with its own settings.

Lookup order for ``models.json``: the ``MEDIQA_REGISTRY`` environment variable, the copy inside the installed
package (wheels), then the repository root (editable checkouts). Graph files live in ``mediqa_sdk/models/``
unless the registry file sits elsewhere with its own ``models/`` folder beside it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import RegistryError, UnknownModelError

__all__ = [
    "GRAY_RECIPES",
    "NEIGHBOUR_RECIPES",
    "SCHEMA_VERSION",
    "SUPPORTED_CONTRACTS",
    "GradeBand",
    "ModelRecord",
    "PhysicsSpec",
    "Preprocess",
    "Registry",
    "Vocabulary",
    "load_registry",
    "read_registry_json",
    "registry_path",
    "write_registry_json",
]

SCHEMA_VERSION = 1
SUPPORTED_CONTRACTS = {"classifier": (1,), "scorer": (1,)}
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Vocabulary:
    """Prompt vocabulary: the values of each prompt, in one-hot order.

    ``types_by_modality`` says which types belong to which modality (CT types are display windows).
    """

    dim: tuple[str, ...]
    modality: tuple[str, ...]
    region: tuple[str, ...]
    type: tuple[str, ...]
    types_by_modality: Mapping[str, tuple[str, ...]]

    @property
    def prompt_length(self) -> int:
        """P = 2 + M + R + T (dim, modality, region, type)."""
        return len(self.dim) + len(self.modality) + len(self.region) + len(self.type)


@dataclass(frozen=True)
class Preprocess:
    """How slices become network input: window or normalise, resize, channels, mean/std.

    Attributes:
        size: output side length (224).
        resize: ``"pad_square_area"``: pad to a square with the background value, then area-resize.
        mean, std: per-channel normalisation applied last, ``(x - mean) / std``.
        ct_windows: window name -> ``(center, width)`` in HU.
        ct_region_windows: region -> windows a CT of that region is scored in.
        mr_percentiles: ``(low, high)`` percentiles mapped to 0 and 1 for MR and non-HU grey images.
        hu_wide: ``(low, high)`` HU range of the classifier's absolute-intensity channel.
        gray_channels: recipe of each of the 3 channels for grey images: ``"scored"`` (the scoring window
            or percentile normalisation), ``"percentile"``, ``"hu_wide"``, or ``"scored_prev"`` /
            ``"scored_next"`` (the scored recipe of the slice before / after along the acquisition axis:
            through-plane evidence; a 2D image has none: those channels are 0 at the network input; an end
            slice of a volume is its own neighbour on the open side).
        fundus_crop: crop colour images to the bounding box of the illuminated field before resizing.
    """

    size: int
    resize: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    ct_windows: Mapping[str, tuple[float, float]]
    ct_region_windows: Mapping[str, tuple[str, ...]]
    mr_percentiles: tuple[float, float]
    hu_wide: tuple[float, float]
    gray_channels: tuple[str, str, str]
    fundus_crop: bool

    @property
    def needs_neighbours(self) -> bool:
        """Whether grey input reads the slices next to each chosen one (``scored_prev`` / ``scored_next``)."""
        return any(c in NEIGHBOUR_RECIPES for c in self.gray_channels)


#: channel recipes a record's ``gray_channels`` may name (see :class:`Preprocess`)
GRAY_RECIPES = ("scored", "percentile", "hu_wide", "scored_prev", "scored_next")
#: the recipes that read the neighbouring slices
NEIGHBOUR_RECIPES = ("scored_prev", "scored_next")


@dataclass(frozen=True)
class SalientSpec:
    """Salient-slice rule settings (see :mod:`mediqa_sdk.slices`)."""

    n_slices: int = 7
    min_foreground_fraction: float = 0.05
    ct_threshold_hu: float = -500.0
    relative_threshold: float = 0.1
    subsample: int = 4


@dataclass(frozen=True)
class PhysicsSpec:
    """One physical parameter the scorer estimates, with the mapping from its normalised output.

    For ``mapping == "log"``: ``value = lo * (hi / lo) ** norm``, ``norm = log(value / lo) / log(hi / lo)``.
    """

    name: str
    unit: str
    mapping: str
    lo: float
    hi: float
    modality: str
    description: str = ""

    def to_physical(self, norm: float) -> float:
        """Map a normalised estimate (0..1, clipped) back to physical units."""
        n = min(max(float(norm), 0.0), 1.0)
        if self.mapping == "log":
            return self.lo * (self.hi / self.lo) ** n
        return self.lo + (self.hi - self.lo) * n

    def to_normalised(self, value: float) -> float:
        """Map a physical value to 0..1 (clipped)."""
        if self.mapping == "log":
            n = math.log(value / self.lo) / math.log(self.hi / self.lo)
        else:
            n = (value - self.lo) / (self.hi - self.lo)
        return min(max(n, 0.0), 1.0)


@dataclass(frozen=True)
class GradeBand:
    """A named score band ``[lower, upper)``; ``flag`` marks bands a QC run should flag."""

    name: str
    lower: float
    upper: float
    flag: bool


@dataclass(frozen=True)
class ModelRecord:
    """One registered ONNX graph and everything needed to run it."""

    name: str
    task: str
    version: str
    contract_version: int
    file: str
    sha256: str
    size: int
    description: str
    license: str
    placeholder: bool
    preprocess: Preprocess
    vocabulary: Vocabulary
    salient: SalientSpec = field(default_factory=SalientSpec)
    physics: tuple[PhysicsSpec, ...] = ()
    grades: tuple[GradeBand, ...] = ()
    grades_by_family: Mapping[str, tuple[GradeBand, ...]] = field(default_factory=dict)
    score_range: tuple[float, float] = (0.0, 1.0)
    higher_is_better: bool = True
    prompt_warn_confidence: float = 0.6
    provenance: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    path: Path = Path()

    def grade(
        self, score: float, modality: str | None = None, region: str | None = None, type: str | None = None
    ) -> GradeBand | None:
        """The grade band holding ``score`` (the top band includes its upper bound).

        Bands calibrated for the image's family (``grades_by_family``, written by
        :mod:`mediqa_sdk.evaluation.calibration`) win over the general ``grades``; the most specific key
        present is used: ``"modality/region/type"``, ``"modality/region"``, then ``"modality"``.
        """
        for band in self.bands_for(modality, region, type):
            if band.lower <= score < band.upper or (score == band.upper == self.score_range[1]):
                return band
        return None

    def bands_for(
        self, modality: str | None = None, region: str | None = None, type: str | None = None
    ) -> tuple[GradeBand, ...]:
        """The grade bands of a family (see :meth:`grade`), else the general ones."""
        if modality and self.grades_by_family:
            for key in (f"{modality}/{region}/{type}", f"{modality}/{region}", modality):
                if key in self.grades_by_family:
                    return self.grades_by_family[key]
        return self.grades

    def __repr__(self) -> str:
        kind = "placeholder " if self.placeholder else ""
        return f"ModelRecord({self.name!r}, {kind}{self.task} v{self.version}, sha256={self.sha256[:12]}…)"


@dataclass(frozen=True)
class Registry:
    """All records of one ``models.json`` plus the default model of each task."""

    path: Path
    models: Mapping[str, ModelRecord]
    defaults: Mapping[str, str]

    def get(self, name: str | None, task: str) -> ModelRecord:
        """The record called ``name``, or the default for ``task`` when ``name`` is None.

        Raises:
            UnknownModelError: no such name, or the name belongs to another task.
        """
        name = name or self.defaults.get(task)
        record = self.models.get(name) if name else None
        if record is None or record.task != task:
            known = ", ".join(sorted(n for n, r in self.models.items() if r.task == task)) or "none"
            raise UnknownModelError(f"unknown {task} model {name!r}; known {task} models: {known}")
        return record


def registry_path() -> Path:
    """Where ``models.json`` is read from (see the module docstring for the order)."""
    env = os.environ.get("MEDIQA_REGISTRY")
    if env:
        return Path(env)
    for candidate in (_PACKAGE_DIR / "models.json", _PACKAGE_DIR.parent / "models.json"):
        if candidate.is_file():
            return candidate
    raise RegistryError(
        f"models.json not found in {_PACKAGE_DIR} or {_PACKAGE_DIR.parent}; reinstall mediqa-sdk "
        "or set MEDIQA_REGISTRY to the registry file"
    )


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate a registry file (default: :func:`registry_path`)."""
    return _load_cached(Path(path) if path else registry_path())


@lru_cache(maxsize=8)
def _load_cached(path: Path) -> Registry:
    return _parse_registry(read_registry_json(path), path)


def read_registry_json(path: Path) -> Any:
    """The registry file as plain JSON, for tools that edit it (see :func:`write_registry_json`)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RegistryError(f"{path}: cannot read the model registry: {err}") from err


def write_registry_json(raw: Mapping[str, Any], path: Path) -> Path:
    """Validate edited registry JSON as :func:`load_registry` would, then write it to ``path``.

    Raises:
        RegistryError: the result does not validate (nothing is written).
    """
    _parse_registry(raw, path)
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    _load_cached.cache_clear()  # the next load_registry(path) reads the new file
    return path


def _models_dir(path: Path) -> Path:
    beside = path.parent / "models"
    return beside if beside.is_dir() else _PACKAGE_DIR / "models"


def _parse_registry(raw: Any, path: Path) -> Registry:
    where = str(path)
    obj = _mapping(raw, where)
    schema = obj.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise RegistryError(
            f"{where}: schema_version {schema!r} is not supported by this SDK (it reads {SCHEMA_VERSION}); "
            "upgrade mediqa-sdk: pip install -U mediqa-sdk"
        )
    models_dir = _models_dir(path)
    records: dict[str, ModelRecord] = {}
    for i, item in enumerate(_sequence(obj.get("models"), f"{where}: models")):
        record = _parse_record(_mapping(item, f"{where}: models[{i}]"), f"{where}: models[{i}]", models_dir)
        if record.name in records:
            raise RegistryError(f"{where}: model name {record.name!r} appears twice")
        records[record.name] = record
    defaults = {str(k): str(v) for k, v in _mapping(obj.get("defaults"), f"{where}: defaults").items()}
    for task, name in defaults.items():
        if name not in records or records[name].task != task:
            raise RegistryError(f"{where}: default {task} model {name!r} is not a registered {task}")
    return Registry(path=path, models=records, defaults=defaults)


def _parse_record(obj: Mapping[str, Any], where: str, models_dir: Path) -> ModelRecord:
    name = _str(obj, "name", where)
    where = f"{where} ({name})"
    task = _str(obj, "task", where)
    if task not in SUPPORTED_CONTRACTS:
        raise RegistryError(f"{where}: unknown task {task!r}; expected one of {sorted(SUPPORTED_CONTRACTS)}")
    contract = obj.get("contract_version")
    if contract not in SUPPORTED_CONTRACTS[task]:
        raise RegistryError(
            f"{where}: {task} contract version {contract!r} is not supported by this SDK "
            f"(supports {list(SUPPORTED_CONTRACTS[task])}); "
            "a newer mediqa-sdk is needed: pip install -U mediqa-sdk"
        )
    sha = _str(obj, "sha256", where)
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise RegistryError(f"{where}: sha256 must be 64 lower-case hex digits, got {sha!r}")
    size = obj.get("size")
    if not isinstance(size, int) or size <= 0:
        raise RegistryError(f"{where}: size must be a positive integer, got {size!r}")
    file = _str(obj, "file", where)
    vocab = _parse_vocabulary(_mapping(obj.get("vocabulary"), f"{where}: vocabulary"), where)
    pre = _parse_preprocess(_mapping(obj.get("preprocess"), f"{where}: preprocess"), where)
    output = _mapping(obj.get("output", {}), f"{where}: output")
    score_range = tuple(float(v) for v in output.get("score_range", (0.0, 1.0)))
    if len(score_range) != 2 or score_range[0] >= score_range[1]:
        raise RegistryError(f"{where}: output.score_range must be [low, high], got {score_range!r}")
    physics = tuple(
        _parse_physics(_mapping(p, f"{where}: physics"), where)
        for p in _sequence(obj.get("physics", []), f"{where}: physics")
    )
    grades = _parse_grades(obj.get("grades", []), f"{where}: grades")
    grades_by_family = {
        str(family): _parse_grades(bands, f"{where}: grades_by_family.{family}")
        for family, bands in _mapping(obj.get("grades_by_family", {}), f"{where}: grades_by_family").items()
    }
    salient = _mapping(obj.get("salient", {}), f"{where}: salient")
    return ModelRecord(
        name=name,
        task=task,
        version=_str(obj, "version", where),
        contract_version=int(contract),
        file=file,
        sha256=sha,
        size=size,
        description=str(obj.get("description", "")),
        license=_str(obj, "license", where),
        placeholder=bool(obj.get("placeholder", False)),
        preprocess=pre,
        vocabulary=vocab,
        salient=_parse_salient(salient, where),
        physics=physics,
        grades=grades,
        grades_by_family=grades_by_family,
        score_range=(score_range[0], score_range[1]),
        higher_is_better=bool(output.get("higher_is_better", True)),
        prompt_warn_confidence=float(obj.get("prompt_warn_confidence", 0.6)),
        provenance=dict(_mapping(obj.get("provenance", {}), f"{where}: provenance")),
        metrics=dict(_mapping(obj.get("metrics", {}), f"{where}: metrics")),
        path=models_dir / file,
    )


def _parse_grades(raw: Any, where: str) -> tuple[GradeBand, ...]:
    try:
        bands = tuple(
            GradeBand(
                name=_str(g, "name", where),
                lower=float(g["lower"]),
                upper=float(g["upper"]),
                flag=bool(g.get("flag", False)),
            )
            for g in (_mapping(x, where) for x in _sequence(raw, where))
        )
    except (KeyError, TypeError, ValueError) as err:
        raise RegistryError(f"{where}: each band needs a name and numeric lower/upper ({err!r})") from err
    if any(b.lower > b.upper for b in bands):
        raise RegistryError(f"{where}: a band's lower bound exceeds its upper bound")
    return bands


def _parse_vocabulary(obj: Mapping[str, Any], where: str) -> Vocabulary:
    lists = {
        k: tuple(str(v) for v in _sequence(obj.get(k), f"{where}: vocabulary.{k}"))
        for k in ("dim", "modality", "region", "type")
    }
    for key, values in lists.items():
        if not values or len(set(values)) != len(values):
            raise RegistryError(f"{where}: vocabulary.{key} must be a non-empty list of distinct names")
    by_mod_raw = _mapping(obj.get("types_by_modality"), f"{where}: vocabulary.types_by_modality")
    by_mod = {str(m): tuple(str(t) for t in ts) for m, ts in by_mod_raw.items()}
    for mod, types in by_mod.items():
        unknown = [t for t in types if t not in lists["type"]] + (
            [mod] if mod not in lists["modality"] else []
        )
        if unknown:
            raise RegistryError(f"{where}: vocabulary.types_by_modality names unknown values {unknown}")
    return Vocabulary(types_by_modality=by_mod, **lists)


def _parse_preprocess(obj: Mapping[str, Any], where: str) -> Preprocess:
    try:
        windows = {str(k): (float(v[0]), float(v[1])) for k, v in obj["ct_windows"].items()}
        pre = Preprocess(
            size=int(obj["size"]),
            resize=str(obj["resize"]),
            mean=_triple(obj["mean"]),
            std=_triple(obj["std"]),
            ct_windows=windows,
            ct_region_windows={str(k): tuple(str(w) for w in v) for k, v in obj["ct_region_windows"].items()},
            mr_percentiles=(float(obj["mr_percentiles"][0]), float(obj["mr_percentiles"][1])),
            hu_wide=(float(obj["hu_wide"][0]), float(obj["hu_wide"][1])),
            gray_channels=tuple(str(c) for c in obj["gray_channels"]),  # type: ignore[arg-type]
            fundus_crop=bool(obj["fundus_crop"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise RegistryError(f"{where}: preprocess is incomplete or malformed ({err!r})") from err
    if pre.resize != "pad_square_area":
        raise RegistryError(f"{where}: unknown resize mode {pre.resize!r}")
    if len(pre.gray_channels) != 3 or not set(pre.gray_channels) <= set(GRAY_RECIPES):
        raise RegistryError(f"{where}: gray_channels must name 3 of {'/'.join(GRAY_RECIPES)}")
    if any(s <= 0 for s in pre.std) or any(w <= 0 for _, w in pre.ct_windows.values()):
        raise RegistryError(f"{where}: std and window widths must be positive")
    bad = {w for ws in pre.ct_region_windows.values() for w in ws} - set(pre.ct_windows)
    if bad:
        raise RegistryError(f"{where}: ct_region_windows names unknown windows {sorted(bad)}")
    return pre


def _parse_salient(obj: Mapping[str, Any], where: str) -> SalientSpec:
    known = {f.name: f.type for f in fields(SalientSpec)}
    unknown = set(obj) - set(known)
    if unknown:
        raise RegistryError(f"{where}: salient has unknown keys {sorted(unknown)}")
    try:
        values: dict[str, Any] = {
            k: (int(v) if k in ("n_slices", "subsample") else float(v)) for k, v in obj.items()
        }
        spec = SalientSpec(**values)
    except (TypeError, ValueError) as err:
        raise RegistryError(f"{where}: salient settings are malformed ({err})") from err
    if spec.n_slices < 1 or spec.subsample < 1:
        raise RegistryError(f"{where}: salient n_slices and subsample must be >= 1")
    return spec


def _parse_physics(obj: Mapping[str, Any], where: str) -> PhysicsSpec:
    spec = PhysicsSpec(
        name=_str(obj, "name", where),
        unit=_str(obj, "unit", where),
        mapping=_str(obj, "mapping", where),
        lo=float(obj["lo"]),
        hi=float(obj["hi"]),
        modality=_str(obj, "modality", where),
        description=str(obj.get("description", "")),
    )
    if spec.mapping not in ("log", "linear") or not 0 < spec.lo < spec.hi:
        raise RegistryError(f"{where}: physics {spec.name!r} needs mapping log|linear and 0 < lo < hi")
    return spec


def _triple(value: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RegistryError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RegistryError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RegistryError(f"{where}: {key!r} must be a non-empty string")
    return value
