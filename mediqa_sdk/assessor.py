"""The one way in: :class:`Assessor` scores files, DICOM series and arrays with the registry's models."""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._version import __version__
from .engine import Session
from .errors import MediqaError, RegistryError, ScanReadError
from .io import InputItem, ReadLimits, discover_inputs, load_input, load_scan
from .io._header_cache import clear as clear_parsed_headers
from .io._limits import check_padded_square
from .isolate import IsolatedReader, Isolation, choose_slices
from .preprocess import classifier_input, input_key, neighbour_indices, scorer_input, scoring_window
from .prompts import (
    ClassifierOutput,
    Prompt,
    PromptSet,
    encode_prompt,
    resolve_prompts,
    validate_overrides,
)
from .registry import GradeBand, ModelRecord, Preprocess, Registry, load_registry
from .report._views import SliceViews, ViewCache, network_pictures, salient_instance_uids, views_from_scan
from .report.scan_report import ReportFiles
from .result import ModelInfo, PhysicsEstimate, Provenance, QualityResult, WindowScore
from .scan import Scan
from .slices import SliceSelection

if TYPE_CHECKING:
    from .triton.engine import TritonSession

__all__ = ["Assessor", "ScoreOutcome"]

# what reading one input gives: the scan, seconds, and its salient slices when the isolated reader chose them
_Read = tuple[Scan, float, "SliceSelection | None", float]

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
    built_inputs: dict[tuple, np.ndarray] = field(default_factory=dict)  # by preprocess.input_key
    neighbours: np.ndarray | None = None  # [S, 2, H, W] slices before/after the chosen ones (grey volumes)


def _given_selection(scan: Scan, indices: Sequence[int]) -> SliceSelection:
    """A selection of the given slices of ``scan`` (instead of the salient rule's).

    Raises:
        ValueError: no index, or one outside ``0..n_slices - 1``.
    """
    chosen = tuple(int(i) for i in indices)
    if not chosen or not all(0 <= i < scan.n_slices for i in chosen):
        raise ValueError(f"slice indices {chosen} must lie in 0..{scan.n_slices - 1}")
    return SliceSelection(indices=chosen, axis=scan.axis, n_valid=scan.n_slices, n_total=scan.n_slices)


class Assessor:
    """Scores the quality of medical images with a registered scorer and prompt classifier.

    Args:
        model: scorer name in the registry (default: the registry's default scorer).
        classifier: prompt-classifier name (default: the registry's default classifier).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"tensorrt"`` (see :mod:`mediqa_sdk.engine`).
        threads: intra-op threads for onnxruntime (default: onnxruntime's choice).
        registry: a :class:`Registry` or the path of a ``models.json`` (default: the installed one).
        limits: ceilings on what one input may decode to, checked from headers (default:
            :meth:`ReadLimits.from_env`, the defaults changed by the ``MEDIQA_MAX_*`` variables).
        isolate: read and decode inputs in a worker process with a memory ceiling and a timeout, so that a
            crashing or hanging decoder costs one input (``True``: :meth:`Isolation.from_env`; or an
            :class:`~mediqa_sdk.isolate.Isolation`). :meth:`close` stops the worker.
        engine: ``"onnxruntime"`` (in this process), or ``"triton://HOST:PORT"``: the two graphs run on a
            Triton Inference Server serving a repository written by ``mediqa export triton`` (checked by
            sha256 against this registry on first use; see :mod:`mediqa_sdk.triton`). Reading, slice
            selection, preprocessing and prompts stay here; ``device`` and ``threads`` then do not apply.

    Sessions are created on first use and reused. Thread safety: one ``Assessor`` may be shared between
    threads, and gives each the results it gives serially. The inference sessions are thread-safe
    (``InferenceSession.run``), every call works on its own arrays, and the shared state (lazy session
    creation, the view cache, the isolated reader) is behind locks.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        classifier: str | None = None,
        device: str = "auto",
        threads: int | None = None,
        registry: Registry | str | Path | None = None,
        limits: ReadLimits | None = None,
        isolate: bool | Isolation = False,
        engine: str = "onnxruntime",
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
        self.limits = limits if limits is not None else ReadLimits.from_env()
        self.isolation: Isolation | None = Isolation.from_env() if isolate is True else (isolate or None)
        self._isolated: IsolatedReader | None = None
        self._isolated_lock = threading.Lock()
        self.engine = engine
        self._scorer_session: Session | TritonSession
        self._classifier_session: Session | TritonSession
        if engine == "onnxruntime":
            self._scorer_session = Session(self.scorer, device, threads)
            self._classifier_session = Session(self.classifier, device, threads)
        else:
            from .triton.engine import TritonSession, parse_triton_url

            address = parse_triton_url(engine)  # ValueError for anything but triton://
            if device != "auto":
                raise ValueError(f"device={device!r} applies to the onnxruntime engine, not to {engine}")
            self.device = "triton"
            self._scorer_session = TritonSession(self.scorer, address)
            self._classifier_session = TritonSession(self.classifier, address)
        self._sessions_started = False
        self._views = ViewCache()  # pictures of the latest results, for reports without a second read

    def __repr__(self) -> str:
        where = f"device={self.device!r}" if self.engine == "onnxruntime" else f"engine={self.engine!r}"
        return f"Assessor(model={self.scorer.name!r}, classifier={self.classifier.name!r}, {where})"

    def check_engine(self, classifier: bool = True) -> None:
        """Create the inference sessions now, in this thread (a Triton engine: connect and verify the served
        models), raising what creation raises; scoring would raise the same on first use."""
        self._scorer_session.ensure()
        if classifier:
            self._classifier_session.ensure()

    def start_sessions(self, classifier: bool = True) -> None:
        """Create the inference sessions in a background thread now (once), so that importing onnxruntime and
        loading the graphs overlap with finding and reading the inputs. Scoring waits for them; an error
        creating them is raised by the first score, as without this call."""
        if self._sessions_started:
            return
        self._sessions_started = True
        sessions = [self._scorer_session, self._classifier_session] if classifier else [self._scorer_session]

        def create() -> None:
            for session in sessions:
                try:
                    session.ensure()
                except Exception:  # raised again, with its message, when scoring asks for the session
                    return

        threading.Thread(target=create, name="mediqa-sessions").start()

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
        self.start_sessions(classifier=len(overrides) < 3)
        start = time.perf_counter()
        if isinstance(source, np.ndarray):
            scan, seconds, selection, select_seconds = scan_from_array(source, spacing), 0.0, None, 0.0
            seconds = time.perf_counter() - start
        else:
            scan, seconds, selection, select_seconds = self._read(source, overrides.get("modality"), series)
        try:
            prepared = self._prepare(scan, overrides, seconds, selection, select_seconds)
        except MediqaError:
            raise
        except Exception as err:  # pixels decoded lazily: a decoder failing on them is this input's error
            text = f"{err.__class__.__name__}: {err}"  # (``type`` is the prompt argument here)
            raise ScanReadError(f"{scan.label or 'array'}: could not be read ({text})") from err
        result = self._infer_safely([prepared])[0]
        if isinstance(result, MediqaError):  # odd input that inference fails on: its own error, as in batches
            raise result
        return result

    def score_slices(
        self,
        volume: np.ndarray,
        indices: Sequence[int],
        *,
        modality: str | None = None,
        region: str | None = None,
        type: str | None = None,
        spacing: tuple[float, float, float] | None = None,
    ) -> QualityResult:
        """Score given slices of an array volume ``[D, H, W]`` instead of its salient ones (held-out
        evaluation and benchmarks score the slices their labels were computed on); a scorer that reads
        neighbouring slices reads the volume's.

        Raises:
            ValueError: an index outside ``0..D-1``, or no index.
        """
        overrides = validate_overrides(
            self.scorer.vocabulary, {"modality": modality, "region": region, "type": type}
        )
        self.start_sessions(classifier=len(overrides) < 3)
        scan = scan_from_array(volume, spacing)
        selection = _given_selection(scan, indices)
        result = self._infer_safely([self._prepare(scan, overrides, 0.0, selection)])[0]
        if isinstance(result, MediqaError):
            raise result
        return result

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

    def scored_views(
        self, result: QualityResult, source: str | Path | np.ndarray | Scan | InputItem | None = None
    ) -> SliceViews:
        """The salient slices of ``result`` as uint8 pictures, in the window each was scored in, as the
        scorer saw them (224 px).

        Kept for the latest results of this Assessor; otherwise rebuilt without inference from ``source``
        (a path, array, :class:`Scan` or discovered :class:`~mediqa_sdk.io.InputItem`; default: the result's
        input path, which must not have changed).

        Raises:
            ScanReadError: the input cannot be read again or changed since it was scored.
            ValueError: the result came from an array and no ``source`` is given.
        """
        views = self._views.get(result)
        if views is not None:
            return views
        if isinstance(source, Scan):
            scan = source
        elif isinstance(source, InputItem):
            scan = load_input(source, self.limits)
        elif isinstance(source, np.ndarray):
            scan = scan_from_array(source)
        else:
            path = source if source is not None else result.provenance.input_path
            if path is None:
                raise ValueError(f"{result.label}: scored from an array; pass the array as source=")
            series = result.header.get("series_uid") if Path(path).is_dir() else None
            if series and ", part " in result.label:
                series = f"{series}#{result.label.rsplit(', part ', 1)[1].split('/', 1)[0]}"
            scan = load_scan(path, series=series, limits=self.limits)
        record = self.registry.models.get(result.provenance.scorer.name, self.scorer)
        views = views_from_scan(scan, result, record.preprocess)
        self._views.put(result, views)
        return views

    def grade_bands(self, result: QualityResult) -> tuple[GradeBand, ...]:
        """The grade bands ``result`` was graded with (its family's, where the registry has them)."""
        record = self.registry.models.get(result.provenance.scorer.name, self.scorer)
        bands_for = getattr(record, "bands_for", None)
        if bands_for is None:
            return record.grades
        p = result.prompts
        return tuple(bands_for(p["modality"].value, p["region"].value, p["type"].value))

    def report(
        self,
        result: QualityResult,
        path: str | Path,
        *,
        source: str | Path | np.ndarray | Scan | None = None,
        threshold: float | None = None,
    ) -> ReportFiles:
        """Write the QC report of ``result``: a self-contained HTML page and a montage PNG.

        Args:
            result: a result of :meth:`score` (or of another Assessor: its input is then read again).
            path: a directory (files named after the input) or an ``.html`` path (the PNG goes beside it).
            source: where to read the slices if they are no longer kept (see :meth:`scored_views`).
            threshold: draw this QC threshold and flag by it instead of the grade bands.
        """
        from .report.scan_report import write_report

        views = self.scored_views(result, source)
        return write_report(result, views, path, bands=self.grade_bands(result), threshold=threshold)

    # -- pipeline -----------------------------------------------------------------------------------------

    def _run_items(
        self, items: list[InputItem], overrides: dict[str, str], batch_size: int
    ) -> Iterator[ScoreOutcome]:
        self._views.reserve(2 * batch_size)

        def load(item: InputItem) -> _Read:
            return self._read(item, overrides.get("modality"))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mediqa-read") as reader:
            futures: list[Future[_Read]] = [reader.submit(load, it) for it in items[:batch_size]]
            if items:
                self.start_sessions(classifier=len(overrides) < 3)
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
                        scan, seconds, selection, select_seconds = future.result()
                        prepared = self._prepare(scan, overrides, seconds, selection, select_seconds)
                        ready.append((item, prepared))
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

    def _read(self, source: InputItem | str | Path, modality: str | None, series: str | None = None) -> _Read:
        """Read one input, in this process or in the isolated reader (which also picks its salient slices)."""
        t0 = time.perf_counter()
        if self.isolation is None:
            if isinstance(source, InputItem):
                scan = load_input(source, self.limits)
            else:
                scan = load_scan(source, series=series, limits=self.limits)
            return scan, time.perf_counter() - t0, None, 0.0
        with self._isolated_lock:
            if self._isolated is None:
                self._isolated = IsolatedReader(
                    self.isolation, self.limits, self.scorer.salient, self.scorer.preprocess.needs_neighbours
                )
                clear_parsed_headers()  # the worker parses the files itself: discovery's are not needed
            worker = self._isolated
        item = source if isinstance(source, InputItem) else Path(source)
        decoded = worker.read(item, modality=modality, series=series)
        return decoded.scan, decoded.load_seconds, decoded.selection, decoded.select_seconds

    def close(self) -> None:
        """Stop the isolated reader's worker process, if one runs (a later score starts a new one)."""
        with self._isolated_lock:
            if self._isolated is not None:
                self._isolated.close()

    def _prepare(
        self,
        scan: Scan,
        overrides: dict[str, str],
        load_seconds: float,
        selection: SliceSelection | None = None,
        select_seconds: float = 0.0,
    ) -> _Prepared:
        t0 = time.perf_counter()
        rows, cols = (int(n) for n in scan.slices.shape[1:3])
        check_padded_square(scan.label or "array", cols, rows, self.limits)  # preprocessing pads to a square
        if selection is None:  # chosen here unless the isolated reader did it
            selection = choose_slices(scan, self.scorer.salient, overrides.get("modality"))
        unique = sorted(set(selection.indices))
        decoded = {i: np.asarray(scan.slices[i], dtype=np.float32) for i in unique}
        picked = [decoded[i] for i in selection.indices]
        chosen = picked[0][None] if len(picked) == 1 else np.stack(picked)  # one 2D image: no copy
        prepared = _Prepared(scan=scan, selection=selection, chosen=chosen, overrides=overrides)
        if self.scorer.preprocess.needs_neighbours and not scan.is_color and scan.n_slices > 1:
            before, after = neighbour_indices(selection.indices, scan.n_slices)
            for i in (*before, *after):
                if i not in decoded:
                    decoded[i] = np.asarray(scan.slices[i], dtype=np.float32)
            prepared.neighbours = np.stack(
                [np.stack([decoded[b], decoded[a]]) for b, a in zip(before, after, strict=True)]
            )
        prepared.timings["load"] = load_seconds
        prepared.timings["select"] = time.perf_counter() - t0 + select_seconds
        prepared.warnings.extend(scan.warnings)
        prepared.warnings.extend(selection.warnings)
        prepared.reliable = selection.reliable
        span = _finite_range(chosen)
        if span is None or span[0] == span[1]:
            level = f" (all values {span[0]:g})" if span is not None else ""
            prepared.warnings.append(f"image is constant{level}: nothing to judge; the score is unreliable")
            prepared.reliable = False
        return prepared

    def _classifier_input(self, p: _Prepared) -> np.ndarray:
        first = np.unique(np.asarray(p.selection.indices), return_index=True)[1]
        if len(first) == len(p.chosen):  # no repeated slice: the very slices the scorer sees
            return self._network_input(p, self.classifier.preprocess, None)
        slices = p.chosen[np.sort(first)]
        return classifier_input(slices, self.classifier.preprocess, is_color=p.scan.is_color)

    def _network_input(self, p: _Prepared, pre: Preprocess, window: str | None) -> np.ndarray:
        """``scorer_input(p.chosen, pre, ...)``, built once per distinct set of constants: the classifier and
        the scorer share it where their records agree (colour photos: half the full-resolution work)."""
        key = input_key(pre, is_color=p.scan.is_color, window=window)
        x = p.built_inputs.get(key)
        if x is None:
            x = scorer_input(p.chosen, pre, is_color=p.scan.is_color, window=window, neighbours=p.neighbours)
            p.built_inputs[key] = x
        return x

    def _classify(self, batch: list[_Prepared]) -> list[ClassifierOutput | None]:
        need = [p for p in batch if len(p.overrides) < 3]
        outputs: dict[int, ClassifierOutput] = {}
        if need:
            t0 = time.perf_counter()
            inputs = [self._classifier_input(p) for p in need]
            t1 = time.perf_counter()
            bounds = np.cumsum([0] + [len(x) for x in inputs])
            raw = _run_by_scan(self._classifier_session, {"image": np.concatenate(inputs)}, bounds)
            t2 = time.perf_counter()
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
            x = self._network_input(p, self.scorer.preprocess, window)
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
        self, source: str | Path | np.ndarray, *, slices: Sequence[int] | None = None, **prompts: str | None
    ) -> tuple[PromptSet, list[tuple[str, np.ndarray, np.ndarray]]]:
        """The scorer inputs the runtime would build for ``source``: ``(prompts, [(type, slices, prompt)])``;
        ``slices`` picks the slices instead of the salient rule (as :meth:`score_slices`).

        Training on a user's manifest and the evaluation ablations use this, so they see what scoring sees.
        """
        overrides = validate_overrides(self.scorer.vocabulary, prompts)
        start = time.perf_counter()
        scan = (
            scan_from_array(source)
            if isinstance(source, np.ndarray)
            else load_scan(source, limits=self.limits)
        )
        selection = None if slices is None else _given_selection(scan, slices)
        prepared = self._prepare(scan, overrides, time.perf_counter() - start, selection)
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
            raw = _run_by_scan(
                self._scorer_session,
                {
                    "slices": np.stack([feeds[k][2] for k in group]),
                    "prompt": np.stack([feeds[k][3] for k in group]),
                },
                np.arange(len(group) + 1),
            )
            seconds = (time.perf_counter() - t0) / len(group)
            for row, k in enumerate(group):
                outputs[k] = {name: value[row] for name, value in raw.items()}
                p = feeds[k][0]
                p.timings["score"] = p.timings.get("score", 0.0) + seconds

        per_scan: dict[int, list[tuple[Prompt, dict[str, np.ndarray]]]] = {}
        for (p, type_prompt, _, _), out in zip(feeds, outputs, strict=True):
            per_scan.setdefault(id(p), []).append((type_prompt, out))
        results = [self._result(p, per_scan[id(p)]) for p in batch]
        for p, result in zip(batch, results, strict=True):
            pictures = tuple(
                (tp.value, network_pictures(x, self.scorer.preprocess, is_color=p.scan.is_color))
                for q, tp, x, _ in feeds
                if q is p
            )
            uids = salient_instance_uids(p.scan, p.selection.indices)
            self._views.put(result, SliceViews(pictures, p.scan.files, uids))
        return results

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
        band = rec.grade(
            score, prompts.modality.value, prompts.region.value, prompts.types[0].value
        )  # family bands calibrated on held-out data win over the general ones
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


def _finite_range(values: np.ndarray) -> tuple[float, float] | None:
    """``(min, max)`` of the finite values (``None`` when there are none), without copying them when all
    are finite (NaN and infinities make ``min``/``max`` non-finite, and only then are they filtered out)."""
    lo, hi = float(values.min()), float(values.max())
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _run_by_scan(
    session: Session | TritonSession, feeds: dict[str, np.ndarray], bounds: np.ndarray
) -> dict[str, np.ndarray]:
    """Run ``feeds``, whose rows ``bounds[i]:bounds[i + 1]`` belong to scan ``i``: in one call on a GPU, one
    call per scan on the CPU. onnxruntime's CPU GEMM picks its kernel by the number of rows, so a scan batched
    with others can differ in the last bit from the same scan alone (measured: 6e-8 on a physics output); one
    call per scan makes every CPU result bitwise independent of the batch it came in, at no measurable cost
    (the slices of one scan already fill a call)."""
    session.ensure()
    if session.providers[:1] != ("CPUExecutionProvider",) or len(bounds) <= 2:
        return session.run(feeds)
    parts = [session.run({k: v[lo:hi] for k, v in feeds.items()}) for lo, hi in itertools.pairwise(bounds)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _info(record: ModelRecord) -> ModelInfo:
    return ModelInfo(record.name, record.version, record.sha256, record.placeholder)


def _round(value: float, digits: int = 6) -> float:
    return round(value, digits)
