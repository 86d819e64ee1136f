"""Names, data types and shapes of an ONNX graph's inputs and outputs, read from the graph itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GraphSpec", "TensorSpec", "graph_spec", "triton_type"]

# onnxruntime's type strings -> Triton's model-config data types
_TRITON_TYPES = {
    "tensor(float)": "TYPE_FP32",
    "tensor(float16)": "TYPE_FP16",
    "tensor(bfloat16)": "TYPE_BF16",
    "tensor(double)": "TYPE_FP64",
    "tensor(int8)": "TYPE_INT8",
    "tensor(int16)": "TYPE_INT16",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(uint16)": "TYPE_UINT16",
    "tensor(uint32)": "TYPE_UINT32",
    "tensor(uint64)": "TYPE_UINT64",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(string)": "TYPE_STRING",
}


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: ``shape`` is the full graph shape, ``-1`` where an axis is dynamic."""

    name: str
    data_type: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GraphSpec:
    """The inputs and outputs of one graph, in graph order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def tensors(self) -> tuple[TensorSpec, ...]:
        """Inputs then outputs."""
        return self.inputs + self.outputs


def triton_type(onnx_type: str) -> str:
    """Triton's ``TYPE_*`` name of an onnxruntime type string such as ``tensor(float)``.

    Raises:
        ValueError: a type Triton has no data type for.
    """
    try:
        return _TRITON_TYPES[onnx_type]
    except KeyError:
        raise ValueError(f"ONNX type {onnx_type!r} has no Triton data type") from None


def graph_spec(model: bytes) -> GraphSpec:
    """Read the inputs and outputs of a serialised ONNX graph with onnxruntime (CPU, nothing run).

    Symbolic or unknown dimensions become ``-1``.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # only the signature is read
    session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])

    def spec(arg: Any) -> TensorSpec:
        dims = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
        return TensorSpec(arg.name, triton_type(arg.type), dims)

    return GraphSpec(
        inputs=tuple(spec(a) for a in session.get_inputs()),
        outputs=tuple(spec(a) for a in session.get_outputs()),
    )
