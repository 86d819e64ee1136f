"""torch -> ONNX for the scorer and the prompt classifier, with a parity check that fails the export.

Contract v1 (see DESIGN.md): scorer ``slices [B,S,3,224,224]``, ``prompt [B,P]`` -> ``score [B]``,
``slice_scores [B,S]``, ``slice_weights [B,S]``, ``physics [B,K]``; classifier ``image [N,3,224,224]`` ->
``modality [N,M]``, ``region [N,R]``, ``type [N,T]``. Batch and slice axes are dynamic.

Parity: ``max |torch - onnxruntime(CPU)|`` over ``score`` and ``slice_scores`` (classifier: the logits) must
stay below ``atol`` (1e-4) for B in {1, 3} x S in {1, 7} on random inputs and on any given real inputs;
otherwise :class:`ParityError`. Optional fp16 / dynamic-int8 variants report their score change on given
inputs.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import onnx
import torch

from mediqa_sdk.errors import MediqaError

from ..train.model import MedIQAScorer, PromptClassifier

__all__ = [
    "OPSET",
    "ParityError",
    "ParityReport",
    "check_parity",
    "export_command",
    "export_onnx",
    "make_variants",
    "ort_session",
    "phantom_inputs",
    "random_inputs",
    "variant_score_change",
]

OPSET = 17
SCORER_INPUTS: tuple[str, ...] = ("slices", "prompt")
SCORER_OUTPUTS: tuple[str, ...] = ("score", "slice_scores", "slice_weights", "physics")
CLASSIFIER_INPUTS: tuple[str, ...] = ("image",)
CLASSIFIER_OUTPUTS: tuple[str, ...] = ("modality", "region", "type")
PARITY_SHAPES = ((1, 1), (1, 7), (3, 1), (3, 7))
# prompt blocks of vocabulary v1: dim, modality, region, type
PROMPT_BLOCKS = (2, 3, 6, 10)

Feeds = dict[str, np.ndarray]


class ParityError(MediqaError, RuntimeError):
    """The exported graph does not reproduce the torch model within tolerance."""


@dataclass
class ParityReport:
    """Max absolute differences per checked case: ``cases[label] = {output: max_abs_diff}``."""

    atol: float
    cases: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def max_abs(self) -> float:
        """Largest difference over every case and checked output."""
        return max((v for case in self.cases.values() for v in case.values()), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary for the registry record's metrics."""
        return {"atol": self.atol, "max_abs_diff": self.max_abs, "cases": self.cases}


def _is_scorer(model: torch.nn.Module) -> bool:
    return isinstance(model, MedIQAScorer)


def export_onnx(model: MedIQAScorer | PromptClassifier, path: str | Path, opset: int = OPSET) -> Path:
    """Export ``model`` (put in eval mode) to ``path`` with dynamic batch/slice axes, then ``onnx.checker``.

    Uses the TorchScript-based exporter (``dynamo=False``), which handles the data-dependent reshapes of
    the slice axis without symbolic-shape hints.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    if _is_scorer(model):
        cfg = model.cfg
        args: tuple[torch.Tensor, ...] = (
            torch.zeros(2, 3, 3, cfg.image_size, cfg.image_size),
            torch.zeros(2, cfg.prompt_dim),
        )
        names_in, names_out = SCORER_INPUTS, SCORER_OUTPUTS
        axes = {
            "slices": {0: "B", 1: "S"},
            "prompt": {0: "B"},
            "score": {0: "B"},
            "slice_scores": {0: "B", 1: "S"},
            "slice_weights": {0: "B", 1: "S"},
            "physics": {0: "B"},
        }
    else:
        args = (torch.zeros(2, 3, model.cfg.image_size, model.cfg.image_size),)
        names_in, names_out = CLASSIFIER_INPUTS, CLASSIFIER_OUTPUTS
        axes = {name: {0: "N"} for name in (*CLASSIFIER_INPUTS, *CLASSIFIER_OUTPUTS)}
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=list(names_in),
            output_names=list(names_out),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    proto.doc_string = f"mediqa-sdk {type(model).__name__} config={model.cfg.name}"
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    return path


def ort_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with all graph optimisations."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _random_prompt(b: int, rng: np.random.Generator) -> np.ndarray:
    parts = []
    for n in PROMPT_BLOCKS:
        hot = np.zeros((b, n), np.float32)
        hot[np.arange(b), rng.integers(0, n, b)] = 1.0
        parts.append(hot)
    return np.concatenate(parts, axis=1)


def random_inputs(scorer: bool, b: int, s: int = 1, seed: int = 0, size: int = 224) -> Feeds:
    """Uniform images in [-1, 1] (the normalised range) and valid one-hot prompts."""
    rng = np.random.default_rng(seed)
    if not scorer:
        return {"image": rng.uniform(-1, 1, (b, 3, size, size)).astype(np.float32)}
    return {
        "slices": rng.uniform(-1, 1, (b, s, 3, size, size)).astype(np.float32),
        "prompt": _random_prompt(b, rng),
    }


def phantom_inputs(scorer: bool, b: int, s: int = 1, seed: int = 0, size: int = 224) -> Feeds:
    """Image-like inputs: a bright ellipse with darker inclusions on a -1 background, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    imgs = np.empty((b * s, 3, size, size), np.float32)
    for i in range(b * s):
        ax, ay = rng.uniform(0.3, 0.45, 2)
        body = (xx / ax) ** 2 + (yy / ay) ** 2 < 1
        hole = ((xx - rng.uniform(-0.1, 0.1)) / 0.1) ** 2 + (yy / 0.15) ** 2 < 1
        img = np.where(body, rng.uniform(0.0, 0.6), -1.0) - 0.5 * hole * body
        img = img + rng.normal(0, rng.uniform(0.01, 0.2), img.shape)
        imgs[i] = np.clip(img, -1, 1)[None]
    if not scorer:
        return {"image": imgs}
    return {"slices": imgs.reshape(b, s, 3, size, size), "prompt": _random_prompt(b, rng)}


def _torch_outputs(model: torch.nn.Module, feeds: Feeds) -> dict[str, np.ndarray]:
    names = SCORER_OUTPUTS if _is_scorer(model) else CLASSIFIER_OUTPUTS
    inputs = SCORER_INPUTS if _is_scorer(model) else CLASSIFIER_INPUTS
    with torch.no_grad():
        out = model(*(torch.from_numpy(feeds[n]) for n in inputs))
    return {n: t.numpy() for n, t in zip(names, out, strict=True)}


def check_parity(
    model: MedIQAScorer | PromptClassifier,
    path: str | Path,
    inputs: Iterable[Feeds] = (),
    *,
    shapes: Sequence[tuple[int, int]] = PARITY_SHAPES,
    atol: float = 1e-4,
    seed: int = 0,
) -> ParityReport:
    """Compare torch and onnxruntime (CPU) on random inputs of each ``(B, S)`` in ``shapes`` and on ``inputs``
    (given, e.g. real preprocessed slices).

    Checked outputs: ``score`` and ``slice_scores`` (scorer; ``slice_weights`` and ``physics`` are reported
    too) or the three logits (classifier). Raises :class:`ParityError` when any difference is ``>= atol``.
    """
    model = model.eval()
    scorer = _is_scorer(model)
    session = ort_session(path)
    cases: list[tuple[str, Feeds]] = [
        (f"random B={b} S={s}" if scorer else f"random N={b * s}", random_inputs(scorer, b, s, seed + i))
        for i, (b, s) in enumerate(shapes)
    ]
    cases += [(f"given #{i}", dict(feeds)) for i, feeds in enumerate(inputs)]
    report = ParityReport(atol)
    checked = ("score", "slice_scores") if scorer else CLASSIFIER_OUTPUTS
    for label, feeds in cases:
        ref = _torch_outputs(model, feeds)
        got = dict(zip(ref, session.run(list(ref), feeds), strict=True))
        diffs = {}
        for name in ref:
            if got[name].shape != ref[name].shape:
                raise ParityError(
                    f"{path}: {label}: {name} has shape {got[name].shape}, torch {ref[name].shape}"
                )
            diffs[name] = float(np.max(np.abs(got[name].astype(np.float64) - ref[name])))
        report.cases[label] = diffs
        bad = {k: v for k, v in diffs.items() if k in checked and not v < atol}
        if bad:
            raise ParityError(
                f"{path}: ONNX output differs from torch on {label}: "
                + ", ".join(f"{k} max |diff| {v:.2e}" for k, v in bad.items())
                + f" (tolerance {atol:g}); the export is not usable"
            )
    return report


def make_variants(path: str | Path, kinds: Sequence[str] = ("fp16", "int8")) -> dict[str, Path]:
    """Write reduced-precision copies beside ``path``: ``*-fp16.onnx`` (weights and compute in float16,
    float32 inputs/outputs) and ``*-int8.onnx`` (onnxruntime dynamic int8 quantisation of MatMul/Gemm/Conv
    weights)."""
    path = Path(path)
    out: dict[str, Path] = {}
    for kind in kinds:
        target = path.with_name(f"{path.stem}-{kind}.onnx")
        if kind == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            proto = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
            _sort_nodes(proto.graph)  # the converter appends its input casts after their consumers
            onnx.save(proto, str(target))
        elif kind == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic
            from onnxruntime.quantization.shape_inference import quant_pre_process

            with tempfile.TemporaryDirectory() as tmp:
                pre = Path(tmp) / "pre.onnx"
                quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
                quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8)
        else:
            raise ValueError(f"unknown variant {kind!r}; choose fp16 or int8")
        onnx.checker.check_model(str(target))
        out[kind] = target
    return out


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Topologically sort ``graph.node`` in place (stable: keeps the original order where it is valid)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:
            if all(i in known for i in node.input):
                known.update(node.output)
                ordered.append(node)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise ValueError("graph has a cycle or a missing input; cannot sort it")
        pending = waiting
    del graph.node[:]
    graph.node.extend(ordered)


def variant_score_change(
    reference: str | Path, variant: str | Path, inputs: Iterable[Feeds], output: str = "score"
) -> dict[str, float]:
    """``max`` and ``mean`` of ``|variant - reference|`` on ``output`` over the given inputs."""
    ref, var = ort_session(reference), ort_session(variant)
    diffs = [
        np.abs(var.run([output], feeds)[0].astype(np.float64) - ref.run([output], feeds)[0]).ravel()
        for feeds in inputs
    ]
    d = np.concatenate(diffs) if diffs else np.zeros(1)
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean())}


def _load_inputs(path: Path | None) -> list[Feeds]:
    if path is None:
        return []
    with np.load(path) as data:
        return [{k: np.ascontiguousarray(data[k], dtype=np.float32) for k in data.files}]


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Registry name of the exported model.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Model version.")
@click.option(
    "--registry",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="models.json to update (default: the repository's; graphs go to its models/ folder).",
)
@click.option(
    "--parity-inputs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An .npz with real inputs (slices+prompt, or image) to check parity on, besides random ones.",
)
@click.option("--variant", "variants", multiple=True, type=click.Choice(["fp16", "int8"]), help="Also write.")
@click.option(
    "--views",
    type=click.Choice(["1", "2", "4", "8"]),
    default=None,
    help="Score the average of this many orientations of the square (scorer; default: the checkpoint's).",
)
@click.option("--description", default="", help="Record description.")
@click.option("--default", "make_default", is_flag=True, help="Make it the registry's default for its task.")
def export_command(
    checkpoint: Path,
    name: str,
    version: str,
    registry: Path | None,
    parity_inputs: Path | None,
    variants: tuple[str, ...],
    views: str | None,
    description: str,
    make_default: bool,
) -> None:
    """Export a trained CHECKPOINT to ONNX, check parity with torch, and register it in models.json."""
    from mediqa_sdk.registry import registry_path

    from ..train.model import CheckpointError, load_checkpoint
    from .registry_record import build_record, write_record

    try:
        model, provenance = load_checkpoint(checkpoint)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    if views is not None:
        if not _is_scorer(model):
            sys.exit(f"error: {checkpoint}: --views applies to a scorer, not a {model.cfg.task}")
        model.cfg = replace(model.cfg, views=int(views))
    if not (provenance.get("settings") or {}).get("data"):
        provenance["trained_on"] = _engine_sources()
    registry = registry or registry_path()
    models_dir = _graphs_dir(registry)
    target = models_dir / f"{name}.onnx"
    click.echo(f"exporting {model.cfg.name} -> {target}", err=True)
    export_onnx(model, target)
    given = _load_inputs(parity_inputs)
    report = check_parity(model, target, given)
    click.echo(f"parity: max |torch - onnx| = {report.max_abs:.2e} (< {report.atol:g})", err=True)
    metrics: dict[str, Any] = {"onnx_parity": report.to_dict(), **provenance.pop("metrics", {})}
    for kind, vpath in make_variants(target, variants).items():
        change = variant_score_change(target, vpath, given or [phantom_inputs(_is_scorer(model), 2, 7)])
        metrics[f"{kind}_score_change"] = change
        click.echo(f"{kind}: {vpath.name}, score change max {change['max_abs']:.2e}", err=True)
    record = build_record(
        target,
        name=name,
        version=version,
        config=model.cfg.to_dict(),
        training=provenance,
        metrics=metrics,
        description=description,
        registry_file=registry,
    )
    write_record(record, registry, make_default=make_default)
    click.echo(f"registered {name!r} in {registry}{' as the default' if make_default else ''}", err=True)


def _engine_sources() -> dict[str, Any]:
    """What a model trained by the data engine learned from: real sources of train/val, licences, phantoms."""
    from ..train.data.catalogue import real_sources
    from ..train.data.splits import load_splits

    splits = load_splits()
    used = [s for s in real_sources() if splits.get(s.source_id) in ("train", "val")]
    return {
        "data_engine": "physics-driven degradations of real scans and phantoms (docs/data-engine.md)",
        "real_sources": [
            {"id": s.source_id, "split": splits[s.source_id], "modality": s.modality, "licence": s.licence}
            for s in used
        ],
        "phantom_seeds": {"train": [0, 800000], "val": [800000, 900000]},
        "held_out": sorted(s.source_id for s in real_sources() if splits.get(s.source_id) == "test"),
    }


def _graphs_dir(registry: Path) -> Path:
    """Where the runtime looks for the graphs of ``registry``: ``models/`` beside it if present, else the
    package's ``mediqa_sdk/models/`` for the default registry, else a new ``models/`` beside it."""
    import mediqa_sdk
    from mediqa_sdk.registry import registry_path

    beside = registry.parent / "models"
    if beside.is_dir():
        return beside
    if registry.resolve() == registry_path().resolve():
        return Path(mediqa_sdk.__file__).resolve().parent / "models"
    beside.mkdir(parents=True)
    return beside
