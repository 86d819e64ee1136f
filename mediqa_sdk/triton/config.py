"""Triton ``config.pbtxt`` for one registry model: tensors from the graph, batching, instances, TensorRT.

The text is Triton's ``ModelConfig`` protobuf in text format, written by hand so that exporting needs no
Triton package. Shapes follow Triton's rules for a batching model (``max_batch_size > 0``): ``dims`` leave
out the leading batch axis, dynamic axes are ``-1``, and a tensor that is only the batch axis (the scorer's
``score [B]``) is declared ``dims: [ 1 ]`` with ``reshape: { shape: [ ] }`` (clients see ``[B, 1]``, the
graph produces ``[B]``).

The TensorRT accelerator's parameter names are those of Triton's onnxruntime backend (its README maps them
to the TensorRT execution-provider options): ``precision_mode``, ``max_workspace_size_bytes``,
``trt_engine_cache_enable``/``_path``, ``trt_timing_cache_enable``/``_path`` and
``trt_profile_min_shapes``/``_opt_``/``_max_`` (one explicit profile, so one engine serves every batch up
to ``max_batch_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._version import __version__
from ..engine import TRT_OPT_BATCH, shapes_option
from ..registry import ModelRecord
from ._graph import GraphSpec, TensorSpec

__all__ = ["KINDS", "TritonOptions", "config_text", "profile_shapes"]

KINDS = ("gpu", "cpu")
_PROFILE_KEYS = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TritonOptions:
    """How the server runs each model.

    Attributes:
        max_batch_size: rows (scorer: scans x CT windows; classifier: slices) one model execution takes.
        tensorrt: add the TensorRT accelerator (``kind="gpu"`` only; CUDA runs what TensorRT cannot).
        fp16: TensorRT precision ``FP16`` instead of ``FP32`` (faster; scores change slightly:
            ``bench/triton_check.sh --fp16`` compares them with the CPU at a 1e-2 tolerance).
        instances: model instances per GPU (or on the CPU).
        kind: ``"gpu"`` or ``"cpu"`` instance groups.
        max_queue_delay_us: how long the dynamic batcher waits to fill a batch.
        workspace_bytes: TensorRT builder workspace.
        engine_cache: folder *on the server* for TensorRT engines and timing caches (one subfolder per model
            name and sha256, so a changed graph never meets an old engine).
        warmup: run one zero-filled request at load, so the TensorRT engine is built before the first client.
    """

    max_batch_size: int = 64
    tensorrt: bool = True
    fp16: bool = False
    instances: int = 1
    kind: str = "gpu"
    max_queue_delay_us: int = 500
    workspace_bytes: int = 1 << 31
    engine_cache: str = "/tmp/mediqa-tensorrt"
    warmup: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.max_batch_size < 1 or self.instances < 1:
            raise ValueError("max_batch_size and instances must be >= 1")
        if self.max_queue_delay_us < 0 or self.workspace_bytes < 1:
            raise ValueError("max_queue_delay_us must be >= 0 and workspace_bytes >= 1")

    @property
    def uses_tensorrt(self) -> bool:
        """TensorRT is configured (asked for, on GPU instances)."""
        return self.tensorrt and self.kind == "gpu"


def profile_shapes(record: ModelRecord, graph: GraphSpec, max_batch: int) -> dict[str, tuple[Shape, ...]]:
    """``(min, opt, max)`` full shape of every graph input for the TensorRT profile and the warm-up.

    Axis 0 is the batch: 1..``max_batch``, tuned for ``TRT_OPT_BATCH`` scans (a classifier row is one slice,
    so ``TRT_OPT_BATCH * n_slices`` rows). Any other dynamic axis is the slice axis: 1..``n_slices`` of the
    record, tuned for ``n_slices``. Fixed axes keep the graph's size.
    """
    slices = max(1, record.salient.n_slices)
    rows = TRT_OPT_BATCH * (slices if record.task == "classifier" else 1)
    opt_batch = min(max_batch, rows)
    shapes: dict[str, tuple[Shape, ...]] = {}
    for tensor in graph.inputs:
        rest = tensor.shape[1:]
        shapes[tensor.name] = tuple(
            (batch, *(size if d == -1 else d for d in rest))
            for batch, size in ((1, 1), (opt_batch, slices), (max_batch, slices))
        )
    return shapes


def _dims(tensor: TensorSpec) -> tuple[list[int], bool]:
    """Triton ``dims`` of a batched tensor (batch axis left out) and whether it needs ``reshape: []``."""
    rest = list(tensor.shape[1:])
    return (rest, False) if rest else ([1], True)


def _tensor_block(tensor: TensorSpec) -> list[str]:
    dims, scalar = _dims(tensor)
    lines = [
        "  {",
        f'    name: "{tensor.name}"',
        f"    data_type: {tensor.data_type}",
        f"    dims: [ {', '.join(str(d) for d in dims)} ]",
    ]
    if scalar:
        lines.append("    reshape: { shape: [ ] }")
    lines.append("  }")
    return lines


def _tensor_list(key: str, tensors: tuple[TensorSpec, ...]) -> list[str]:
    lines = [f"{key} ["]
    for i, tensor in enumerate(tensors):
        block = _tensor_block(tensor)
        if i < len(tensors) - 1:
            block[-1] += ","
        lines += block
    return [*lines, "]"]


def _string_parameter(key: str, value: str) -> str:
    return f'parameters {{ key: "{key}" value {{ string_value: "{_escape(value)}" }} }}'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _tensorrt_block(record: ModelRecord, graph: GraphSpec, options: TritonOptions, name: str) -> list[str]:
    cache = f"{options.engine_cache.rstrip('/')}/{name}-{record.sha256[:16]}"
    params = {
        "precision_mode": "FP16" if options.fp16 else "FP32",
        "max_workspace_size_bytes": str(options.workspace_bytes),
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "1",
        "trt_timing_cache_path": cache,
    }
    shapes = profile_shapes(record, graph, options.max_batch_size)
    for i, key in enumerate(_PROFILE_KEYS):
        params[key] = shapes_option({tensor: ranges[i] for tensor, ranges in shapes.items()})
    lines = [
        "optimization {",
        "  execution_accelerators {",
        "    gpu_execution_accelerator: [",
        "      {",
        '        name: "tensorrt"',
    ]
    lines += [f'        parameters {{ key: "{k}" value: "{_escape(v)}" }}' for k, v in params.items()]
    return [*lines, "      }", "    ]", "  }", "}"]


def _warmup_block(record: ModelRecord, graph: GraphSpec, options: TritonOptions) -> list[str]:
    shapes = profile_shapes(record, graph, options.max_batch_size)
    lines = ["model_warmup [", "  {", '    name: "zeros"', "    batch_size: 1"]
    for tensor in graph.inputs:
        dims, _ = _dims(TensorSpec(tensor.name, tensor.data_type, shapes[tensor.name][1]))
        lines += [
            "    inputs {",
            f'      key: "{tensor.name}"',
            "      value {",
            f"        data_type: {tensor.data_type}",
            f"        dims: [ {', '.join(str(d) for d in dims)} ]",
            "        zero_data: true",
            "      }",
            "    }",
        ]
    return [*lines, "  }", "]"]


def config_text(
    record: ModelRecord, graph: GraphSpec, options: TritonOptions, name: str | None = None
) -> str:
    """The ``config.pbtxt`` of ``record`` served as ``name`` (default: the record's name).

    The ``mediqa_*`` parameters carry the registry identity (name, version, task, contract, sha256 of the
    graph) so a client can check that the server runs the graph its registry names.

    Raises:
        ValueError: a graph tensor whose first axis is not dynamic (the contracts batch on axis 0).
    """
    name = name or record.name
    fixed = [t.name for t in graph.tensors if not t.shape or t.shape[0] != -1]
    if fixed:
        raise ValueError(
            f"{record.name}: tensors {fixed} have no dynamic batch axis; Triton cannot batch them"
        )
    group_kind = "KIND_GPU" if options.kind == "gpu" else "KIND_CPU"
    preferred = [b for b in (4, 8, 16, 32, 64, 128, 256) if b < options.max_batch_size]
    preferred = [*preferred[-3:], options.max_batch_size]
    lines = [
        f"# written by mediqa-sdk {__version__} (mediqa export triton) for {record.name} v{record.version}",
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {options.max_batch_size}",
        *_tensor_list("input", graph.inputs),
        *_tensor_list("output", graph.outputs),
        f"instance_group [ {{ count: {options.instances} kind: {group_kind} }} ]",
        "dynamic_batching {",
        f"  preferred_batch_size: [ {', '.join(str(b) for b in preferred)} ]",
        f"  max_queue_delay_microseconds: {options.max_queue_delay_us}",
        "}",
    ]
    if options.uses_tensorrt:
        lines += _tensorrt_block(record, graph, options, name)
    if options.warmup:
        lines += _warmup_block(record, graph, options)
    identity = {
        "mediqa_model_name": record.name,
        "mediqa_model_version": record.version,
        "mediqa_task": record.task,
        "mediqa_contract_version": str(record.contract_version),
        "mediqa_sha256": record.sha256,
        "mediqa_sdk_version": __version__,
    }
    lines += [_string_parameter(k, v) for k, v in identity.items()]
    return "\n".join(lines) + "\n"
