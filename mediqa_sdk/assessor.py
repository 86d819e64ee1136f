"""The one way in: :class:`Assessor` scores files, DICOM series and arrays with the registry's models."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._version import __version__
from .engine import Session
from .errors import MediqaError, RegistryError, ScanReadError
from .io import DEFAULT_LIMITS, InputItem, ReadLimits, discover_inputs, load_input, load_scan
from .preprocess import classifier_input, scorer_input, scoring_window
from .prompts import (
    ClassifierOutput,
    Prompt,
    PromptSet,
    encode_prompt,
    modality_from_tags,
    resolve_prompts,
    validate_overrides,
)
from .registry import ModelRecord, Registry, load_registry
from .result import ModelInfo, PhysicsEstimate, Provenance, QualityResult, WindowScore
from .scan import Scan
from .slices import SliceSelection, select_salient_slices

__all__ = ["Assessor", "ScoreOutcome"]

_HIDDEN_HEADER_KEYS = frozenset({"sop_instance_uids"})


@dataclass(frozen=True)
class ScoreOutcome:
    """One input of a batch: its result, or the error that stopped it (exactly one is set)."""

    item: InputItem
    result: QualityResult | None = None
    error: MediqaError | None = None


@dataclass
class _Prepared:
    """A scan between loading and inference."""

    scan: Scan
    selection: SliceSelection
    chosen: np.ndarray
    overrides: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    reliable: bool = True
    prompts: PromptSet | None = None


class Assessor:
    """Scores the quality of medical images with a registered scorer and prompt classifier.

    Args:
        model: scorer name in the registry (default: the registry's default scorer).
        classifier: prompt-classifier name (default: the registry's default classifier).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"tensorrt"`` (see :mod:`mediqa_sdk.engine`).
        threads: intra-op threads for onnxruntime (default: onnxruntime's choice).
        registry: a :class:`Registry` or the path of a ``models.json`` (default: the installed one).
        limits: ceilings on what one input may decode to.

    Sessions are created on first use and reused; one ``Assessor`` may be shared between threads (inference
    sessions are thread-safe and every call works on its own arrays).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        classifier: str | None = None,
        device: str = "auto",
        threads: int | None = None,
        registry: Registry | str | Path | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.registry = registry if isinstance(registry, Registry) else load_registry(registry)
        self.scorer: ModelRecord = self.registry.get(model, "scorer")
        self.classifier: ModelRecord = self.registry.get(classifier, "classifier")
        sv, cv = self.scorer.vocabulary, self.classifier.vocabulary
        if (sv.modality, sv.region, sv.type) != (cv.modality, cv.region, cv.type):
            raise RegistryError(
                f"classifier {self.classifier.name!r} and scorer {self.scorer.name!r} "
                "use different vocabularies"
            )
        self.device = device
        self.limits = limits
        self._scorer_session = Session(self.scorer, device, threads)
        self._classifier_session = Session(self.classifier, device, threads)

    def __repr__(self) -> str:
        return (
            f"Assessor(model={self.scorer.name!r}, classifier={self.classifier.name!r}, "
            f"device={self.device!r})"
        )

    @property
    def providers(self) -> tuple[str, ...]:
        """Execution providers the scorer session really uses (empty before the first score)."""
        return self._scorer_session.providers

    # -- public API ---------------------------------------------------------------------------------------

    def score(
        self,
        source: str | Path | np.ndarray,
        *,
        modality: str | None = None,
        region: str | None = None,
        type: str | None = None,
        series: str | None = None,
        spacing: tuple[float, float, float] | None = None,
    ) -> QualityResult:
        """Score one file, DICOM series directory or array.

        Args:
            source: a path, or an array: ``[H, W]`` grey, ``[H, W, 3]`` RGB, or ``[D, H, W]`` volume with the
                acquisition axis first, in physical units (HU for CT).
            modality, region, type: prompt overrides (vocabulary values).
            series: for a directory holding several DICOM series, the SeriesInstanceUID or SeriesNumber.
            spacing: ``(slice, row, col)`` mm for array input.
        """
        overrides = validate_overrides(
            self.scorer.vocabulary, {"modality": modality, "region": region, "type": type}
        )
        start = time.perf_counter()
        if isinstance(source, np.ndarray):
            scan = scan_from_array(source, spacing)
        else:
            scan = load_scan(source, series=series, limits=self.limits)
        prepared = self._prepare(scan, overrides, time.perf_counter() - start)
        return self._infer([prepared])[0]

    def score_many(
        self,
        paths: Iterable[str | Path],
        *,
        recursive: bool = False,
        batch_size: int = 8,
        on_error: str = "raise",
        **prompts: str | None,
    ) -> list[QualityResult]:
        """Score many inputs in batches (directories expand to their files and DICOM series).

        Args:
            paths: files and directories.
            recursive: descend into subdirectories.
            batch_size: scans per inference call.
            on_error: ``"raise"`` the first error, or ``"skip"`` failed inputs.
            **prompts: ``modality``/``region``/``type`` overrides applied to every input.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        results = []
        for outcome in self.iter_score(paths, recursive=recursive, batch_size=batch_size, **prompts):
            if outcome.error is not None and on_error == "raise":
                raise outcome.error
            if outcome.result is not None:
                results.append(outcome.result)
        return results

    def iter_score(
        self,
        paths: Iterable[str | Path],
        *,
        recursive: bool = False,
        batch_size: int = 8,
        **prompts: str | None,
    ) -> Iterator[ScoreOutcome]:
        """Yield a :class:`ScoreOutcome` per input, in input order; failures never stop the run.

        Loading of the next inputs overlaps with inference of the current batch (one reader thread).
        """
        overrides = validate_overrides(self.scorer.vocabulary, prompts)
        items, failures = discover_inputs(paths, recursive=recursive)
        for path, error in failures:
            yield ScoreOutcome(InputItem(path=path, label=str(path)), error=error)
        yield from self._run_items(items, overrides, max(1, batch_size))

    def iter_items(
        self, items: list[InputItem], *, batch_size: int = 8, **prompts: str | None
    ) -> Iterator[ScoreOutcome]:
        """Like :meth:`iter_score` for inputs already found by :func:`mediqa_sdk.io.discover_inputs`."""
        overrides = validate_overrides(self.scorer.vocabulary, prompts)
        yield from self._run_items(items, overrides, max(1, batch_size))

    # -- pipeline -----------------------------------------------------------------------------------------

    def _run_items(
        self, items: list[InputItem], overrides: dict[str, str], batch_size: int
    ) -> Iterator[ScoreOutcome]:
        def load(item: InputItem) -> tuple[Scan, float]:
            t0 = time.perf_counter()
            scan = load_input(item, self.limits)
            return scan, time.perf_counter() - t0

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mediqa-read") as reader:
            futures: list[Future[tuple[Scan, float]]] = [reader.submit(load, it) for it in items[:batch_size]]
            next_item = len(futures)
            for start in range(0, len(items), batch_size):
                batch_items = items[start : start + batch_size]
                ready: list[tuple[InputItem, _Prepared]] = []
                outcomes: dict[int, ScoreOutcome] = {}
                for offset, item in enumerate(batch_items):
                    future = futures[start + offset]
                    if next_item < len(items):
                        futures.append(reader.submit(load, items[next_item]))
                        next_item += 1
                    try:
                        scan, seconds = future.result()
                        ready.append((item, self._prepare(scan, overrides, seconds)))
                    except MediqaError as err:
                        outcomes[offset] = ScoreOutcome(item, error=err)
                    except Exception as err:  # a decoder bug must not end a batch run
                        wrapped = ScanReadError(
                            f"{item.label}: could not be read ({type(err).__name__}: {err})"
                        )
                        wrapped.__cause__ = err
                        outcomes[offset] = ScoreOutcome(item, error=wrapped)
                    futures[start + offset] = None  # type: ignore[call-overload]  # free the scan
                if ready:
                    results = self._infer_safely([p for _, p in ready])
                    by_item = {id(it): res for (it, _), res in zip(ready, results, strict=True)}
                    for offset, item in enumerate(batch_items):
                        if offset in outcomes:
                            continue
                        res = by_item[id(item)]
                        if isinstance(res, MediqaError):
                            outcomes[offset] = ScoreOutcome(item, error=res)
                        else:
                            outcomes[offset] = ScoreOutcome(item, result=res)
                for offset in range(len(batch_items)):
                    yield outcomes[offset]

    def _infer_safely(self, batch: list[_Prepared]) -> list[QualityResult | MediqaError]:
        """Infer a batch; if it fails, infer each scan alone so one bad scan cannot fail the others."""
        try:
            return list(self._infer(batch))
        except Exception:
            if len(batch) == 1:
                return [self._error_of(batch[0])]
            return [self._infer_safely([p])[0] for p in batch]

    def _error_of(self, p: _Prepared) -> MediqaError:
        try:
            self._infer([p])
        except MediqaError as err:
            return err
        except Exception as err:  # an inference failure on odd input becomes this input's error
            wrapped = ScanReadError(
                f"{p.scan.label or p.scan.source}: could not be scored ({type(err).__name__}: {err})"
            )
            wrapped.__cause__ = err
            return wrapped
        return ScanReadError(f"{p.scan.label or p.scan.source}: could not be scored")

    def _prepare(self, scan: Scan, overrides: dict[str, str], load_seconds: float) -> _Prepared:
        t0 = time.perf_counter()
        known = overrides.get("modality") or modality_from_tags(scan.metadata)
        is_ct = None if known is None else known == "ct"
        selection = select_salient_slices(scan, self.scorer.salient, is_ct=is_ct)
        unique = sorted(set(selection.indices))
        decoded = {i: np.asarray(scan.slices[i], dtype=np.float32) for i in unique}
        chosen = np.stack([decoded[i] for i in selection.indices])
        prepared = _Prepared(scan=scan, selection=selection, chosen=chosen, overrides=overrides)
        prepared.timings["load"] = load_seconds
        prepared.timings["select"] = time.perf_counter() - t0
        prepared.warnings.extend(scan.warnings)
        prepared.warnings.extend(selection.warnings)
        prepared.reliable = selection.reliable
        finite = chosen[np.isfinite(chosen)]
        if finite.size == 0 or float(finite.max()) == float(finite.min()):
            level = f" (all values {float(finite.min()):g})" if finite.size else ""
            prepared.warnings.append(f"image is constant{level}: nothing to judge; the score is unreliable")
            prepared.reliable = False
        return prepared

    def _classifier_input(self, p: _Prepared) -> np.ndarray:
        first = np.unique(np.asarray(p.selection.indices), return_index=True)[1]
        slices = p.chosen[np.sort(first)]
        return classifier_input(slices, self.classifier.preprocess, is_color=p.scan.is_color)

    def _classify(self, batch: list[_Prepared]) -> list[ClassifierOutput | None]:
        need = [p for p in batch if len(p.overrides) < 3]
        outputs: dict[int, ClassifierOutput] = {}
        if need:
            t0 = time.perf_counter()
            inputs = [self._classifier_input(p) for p in need]
            t1 = time.perf_counter()
            raw = self._classifier_session.run({"image": np.concatenate(inputs)})
            t2 = time.perf_counter()
            bounds = np.cumsum([0] + [len(x) for x in inputs])
            total_slices = bounds[-1]
            for k, p in enumerate(need):
                lo, hi = bounds[k], bounds[k + 1]
                outputs[id(p)] = ClassifierOutput(
                    **{
                        head: _softmax(raw[head][lo:hi]).mean(axis=0)
                        for head in ("modality", "region", "type")
                    }
                )
                share = (hi - lo) / total_slices
                p.timings["preprocess"] = p.timings.get("preprocess", 0.0) + (t1 - t0) * share
                p.timings["classify"] = (t2 - t1) * share
        return [outputs.get(id(p)) for p in batch]

    def _feeds(
        self, p: _Prepared, probs: ClassifierOutput | None
    ) -> list[tuple[Prompt, np.ndarray, np.ndarray]]:
        """Resolve one scan's prompts; build ``(type prompt, slices, prompt vector)`` for each type."""
        scan = p.scan
        t0 = time.perf_counter()
        prompts, warns = resolve_prompts(
            self.scorer.vocabulary,
            self.scorer.preprocess,
            dim=scan.dim,
            metadata=scan.metadata,
            overrides=p.overrides,
            classify=(lambda: probs) if probs is not None else None,
            values_in_hu=scan.format != "image",
            warn_confidence=self.scorer.prompt_warn_confidence,
        )
        p.prompts = prompts
        p.warnings.extend(warns)
        out = []
        for type_prompt in prompts.types:
            window = scoring_window(
                self.scorer.preprocess, prompts.modality.value, type_prompt.value, scan.format != "image"
            )
            x = scorer_input(p.chosen, self.scorer.preprocess, is_color=scan.is_color, window=window)
            vec = encode_prompt(
                self.scorer.vocabulary,
                prompts.dim.value,
                prompts.modality.value,
                prompts.region.value,
                type_prompt.value,
            )
            out.append((type_prompt, x, vec))
        p.timings["preprocess"] = p.timings.get("preprocess", 0.0) + time.perf_counter() - t0
        return out

    def network_inputs(
        self, source: str | Path | np.ndarray, **prompts: str | None
    ) -> tuple[PromptSet, list[tuple[str, np.ndarray, np.ndarray]]]:
        """The scorer inputs the runtime would build for ``source``: ``(prompts, [(type, slices, prompt)])``.

        Training on a user's manifest and the evaluation ablations use this, so they see what scoring sees.
        """
        overrides = validate_overrides(self.scorer.vocabulary, prompts)
        start = time.perf_counter()
        scan = (
            scan_from_array(source)
            if isinstance(source, np.ndarray)
            else load_scan(source, limits=self.limits)
        )
        prepared = self._prepare(scan, overrides, time.perf_counter() - start)
        feeds = self._feeds(prepared, self._classify([prepared])[0])
        assert prepared.prompts is not None  # set by _feeds
        return prepared.prompts, [(tp.value, x, vec) for tp, x, vec in feeds]

    def _infer(self, batch: list[_Prepared]) -> list[QualityResult]:
        classified = self._classify(batch)
        feeds: list[tuple[_Prepared, Prompt, np.ndarray, np.ndarray]] = []
        for p, probs in zip(batch, classified, strict=True):
            feeds.extend((p, tp, x, vec) for tp, x, vec in self._feeds(p, probs))

        outputs: list[dict[str, np.ndarray]] = [{} for _ in feeds]
        by_slices: dict[int, list[int]] = {}
        for k, (_, _, x, _) in enumerate(feeds):
            by_slices.setdefault(x.shape[0], []).append(k)
        for group in by_slices.values():
            t0 = time.perf_counter()
            raw = self._scorer_session.run(
                {
                    "slices": np.stack([feeds[k][2] for k in group]),
                    "prompt": np.stack([feeds[k][3] for k in group]),
                }
            )
            seconds = (time.perf_counter() - t0) / len(group)
            for row, k in enumerate(group):
                outputs[k] = {name: value[row] for name, value in raw.items()}
                p = feeds[k][0]
                p.timings["score"] = p.timings.get("score", 0.0) + seconds

        per_scan: dict[int, list[tuple[Prompt, dict[str, np.ndarray]]]] = {}
        for (p, type_prompt, _, _), out in zip(feeds, outputs, strict=True):
            per_scan.setdefault(id(p), []).append((type_prompt, out))
        return [self._result(p, per_scan[id(p)]) for p in batch]

    def _result(self, p: _Prepared, outs: list[tuple[Prompt, dict[str, np.ndarray]]]) -> QualityResult:
        t0 = time.perf_counter()
        rec = self.scorer
        prompts = p.prompts
        assert prompts is not None  # set in _infer
        windows = tuple(
            WindowScore(
                type=tp.value,
                score=_round(float(o["score"])),
                slice_scores=tuple(_round(float(v)) for v in o["slice_scores"]),
                slice_weights=tuple(_round(float(v)) for v in o["slice_weights"]),
            )
            for tp, o in outs
        )
        score = _round(float(np.mean([float(o["score"]) for _, o in outs])))
        slice_scores = tuple(_round(float(v)) for v in np.mean([o["slice_scores"] for _, o in outs], axis=0))
        slice_weights = tuple(
            _round(float(v)) for v in np.mean([o["slice_weights"] for _, o in outs], axis=0)
        )
        physics_norm = np.mean([o["physics"] for _, o in outs], axis=0)
        physics = tuple(
            PhysicsEstimate(
                spec.name,
                _round(spec.to_physical(float(physics_norm[i])), 4),
                spec.unit,
                _round(float(np.clip(physics_norm[i], 0.0, 1.0))),
                spec.description,
            )
            for i, spec in enumerate(rec.physics)
            if spec.modality == prompts.modality.value
        )
        band = rec.grade(score)
        grade = band.name if band else "ungraded"
        warnings = list(dict.fromkeys(p.warnings))
        if rec.placeholder:
            warnings.append(
                f"model {rec.name!r} is a placeholder, not a trained model: the score is a "
                "noise heuristic, not a quality assessment"
            )
        scan = p.scan
        p.timings["report"] = time.perf_counter() - t0
        p.timings["total"] = sum(p.timings.values())
        provenance = Provenance(
            input_path=str(scan.source) if scan.source is not None else None,
            input_sha256=scan.sha256,
            input_format=scan.format,
            sdk_version=__version__,
            scorer=_info(rec),
            classifier=_info(self.classifier) if "classify" in p.timings else None,
            providers=self._scorer_session.providers,
            device=self.device,
            timings={k: round(v, 5) for k, v in p.timings.items()},
        )
        return QualityResult(
            score=score,
            grade=grade,
            flagged=(band.flag if band else True) or not p.reliable,
            reliable=p.reliable,
            dim=scan.dim,
            axis=p.selection.axis,
            slice_indices=p.selection.indices,
            slice_scores=slice_scores,
            slice_weights=slice_weights,
            windows=windows,
            prompts={
                "dim": prompts.dim,
                "modality": prompts.modality,
                "region": prompts.region,
                "type": prompts.types[0],
            },
            physics=physics,
            header={k: v for k, v in scan.metadata.items() if k not in _HIDDEN_HEADER_KEYS},
            warnings=tuple(warnings),
            provenance=provenance,
            label=scan.label or (scan.source.name if scan.source is not None else "array"),
        )


def scan_from_array(array: np.ndarray, spacing: tuple[float, float, float] | None = None) -> Scan:
    """Wrap an array as a :class:`Scan` (see :meth:`Assessor.score` for the accepted shapes)."""
    arr = np.asarray(array)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] > 16):
        arr, dim = arr[None], "2d"
    elif arr.ndim == 3:
        dim = "3d" if arr.shape[0] > 1 else "2d"
    else:
        raise ScanReadError(f"array of shape {arr.shape}: expected [H, W], [H, W, 3] or [D, H, W]")
    if arr.size == 0:
        raise ScanReadError(f"array of shape {arr.shape} is empty")
    data = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(data).any():
        raise ScanReadError("array holds no finite values")
    sp = spacing or (float("nan"),) * 3
    return Scan(
        slices=data,
        spacing=(float(sp[0]), float(sp[1]), float(sp[2])),
        dim=dim,
        axis="unknown" if dim == "3d" else "none",
        source=None,
        format="array",
        sha256=hashlib.sha256(data.tobytes()).hexdigest(),
        label="array",
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _info(record: ModelRecord) -> ModelInfo:
    return ModelInfo(record.name, record.version, record.sha256, record.placeholder)


def _round(value: float, digits: int = 6) -> float:
    return round(value, digits)
