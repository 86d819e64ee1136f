"""ONNX -> torch: recover the trainable weights of a shipped graph, so a registry model can be fine-tuned.

The exporter keeps most parameter names, but constant folding turns a linear layer's weight into an
anonymous ``MatMul`` initializer holding ``W^T`` and a GroupNorm affine into ``Mul``/``Add`` initializers of
shape ``[C, 1, 1]``. Those names depend only on the architecture, so the map is found by exporting the same
configuration once with random weights (every parameter a different random array) and matching each
anonymous initializer to the parameter whose values it holds, as they are, transposed or reshaped. The
recovered model is then checked against the shipped graph (:func:`check_parity`), so a wrong map cannot pass.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from mediqa_sdk.errors import MediqaError

from ..train.model import MedIQAScorer, PromptClassifier
from ..train.model.checkpoint import build_model
from ..train.model.config import config_from_dict
from .onnx_export import check_parity, export_onnx

__all__ = ["WeightImportError", "load_onnx_weights", "model_from_registry"]


class WeightImportError(MediqaError, ValueError):
    """The graph's initializers do not map onto the model's parameters."""


def _initializers(path: str | Path) -> dict[str, np.ndarray]:
    """Constant tensors of a graph by name: initializers, ``Constant`` outputs and ``Identity`` copies of them
    (the exporter stores equal tensors once and aliases the others through ``Identity``)."""
    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    return values


def _layouts(value: np.ndarray, shape: tuple[int, ...]) -> list[tuple[np.ndarray, bool]]:
    """Ways ``value`` may hold a parameter of ``shape``: ``(array, transposed)`` as is, transposed (a folded
    linear weight, also when square) or flattened (a norm's affine kept as ``[C, 1, 1]``)."""
    out: list[tuple[np.ndarray, bool]] = []
    if value.shape == shape:
        out.append((value, False))
    if value.ndim == 2 and value.T.shape == shape:
        out.append((value.T, True))
    if len(shape) == 1 and value.size == shape[0] and value.shape != shape:
        out.append((value.reshape(shape), False))
    return out


def _name_map(model: MedIQAScorer | PromptClassifier) -> dict[str, tuple[str, bool]]:
    """``{parameter: (initializer name, transposed)}`` from an export of ``model``'s architecture."""
    probe = build_model(model.cfg)
    gen = torch.Generator().manual_seed(0)
    state = probe.state_dict()
    with torch.no_grad():
        for tensor in state.values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen))
    with tempfile.TemporaryDirectory() as tmp:
        inits = _initializers(export_onnx(probe, Path(tmp) / "probe.onnx"))
    found: dict[str, tuple[str, bool]] = {}
    by_size: dict[int, list[str]] = {}
    for name, value in inits.items():
        by_size.setdefault(value.size, []).append(name)
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        ref = tensor.numpy()
        if key in inits and inits[key].shape == ref.shape and np.array_equal(inits[key], ref):
            found[key] = (key, False)
            continue
        for name in by_size.get(ref.size, []):
            match = [t for got, t in _layouts(inits[name], tuple(ref.shape)) if np.array_equal(got, ref)]
            if match:
                found[key] = (name, match[0])
                break
    return found


def load_onnx_weights(model: MedIQAScorer | PromptClassifier, path: str | Path, *, check: bool = True) -> Any:
    """Load the weights of the graph at ``path`` into ``model`` (same configuration); returns the model.

    Raises :class:`WeightImportError` when a parameter has no initializer, and the export's
    :class:`ParityError` when ``check`` and the recovered model's outputs differ from the graph's (1e-4).
    """
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise WeightImportError(
            f"{path}: the model has BatchNorm layers, which the export folds into the convolutions; "
            "only models with GroupNorm/LayerNorm (e.g. cnn-pyramid-gn) can be read back"
        )
    inits = _initializers(path)
    mapping = _name_map(model)
    state = model.state_dict()
    missing = [k for k, v in state.items() if v.is_floating_point() and k not in mapping]
    if missing:
        raise WeightImportError(f"{path}: no initializer for {len(missing)} parameters, e.g. {missing[0]}")
    new_state = dict(state)
    for key, (name, transposed) in mapping.items():
        if name not in inits:
            raise WeightImportError(f"{path}: initializer {name} for {key} is missing (another architecture)")
        value = inits[name].T if transposed else inits[name]
        if value.size != state[key].numel():
            raise WeightImportError(
                f"{path}: {name} holds {value.size} values, {key} needs {state[key].numel()} "
                "(another architecture)"
            )
        new_state[key] = torch.from_numpy(np.ascontiguousarray(value).reshape(state[key].shape).copy())
    model.load_state_dict(new_state)
    model.eval()
    if check:
        check_parity(model, path, shapes=((1, 1), (2, 3)))
    return model


def model_from_registry(
    name: str, registry: str | Path | None = None
) -> tuple[MedIQAScorer | PromptClassifier, dict[str, Any]]:
    """The torch model of registry entry ``name`` (weights from its sha256-verified graph) and its record."""
    from mediqa_sdk.engine import verified_model_bytes
    from mediqa_sdk.registry import load_registry, read_registry_json, registry_path

    path = Path(registry) if registry else registry_path()
    reg = load_registry(path)
    record = reg.models.get(name)
    if record is None:
        raise WeightImportError(f"{path}: no model named {name!r} (mediqa models lists them)")
    raw = next(r for r in read_registry_json(path)["models"] if r["name"] == name)
    config = raw.get("provenance", {}).get("config")
    if not config:
        raise WeightImportError(f"{name}: its record keeps no training configuration (not a trained model)")
    model = build_model(config_from_dict(config))
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "model.onnx"
        graph.write_bytes(verified_model_bytes(record))
        load_onnx_weights(model, graph)
    return model, raw
