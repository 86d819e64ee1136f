"""A stand-in Triton server for tests: Triton's gRPC inference protocol in process, over a model repository.

It implements the calls a client needs (ServerLive, ServerReady, ModelReady, ModelConfig, ModelMetadata,
ModelInfer) with tritonclient's own generated servicer and messages. Each ``<model>/config.pbtxt`` of the
repository is parsed as Triton's ``ModelConfig`` and its ``1/model.onnx`` run with onnxruntime on the CPU.
Requests are checked as Triton checks them (known model and inputs, data type, dims with ``-1`` wildcards,
batch <= ``max_batch_size``) and ``reshape`` is applied both ways. It knows nothing about mediqa: it is a
protocol double, not a mediqa server.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import triton_to_np_dtype

__all__ = ["StandInTriton", "serve"]


@dataclass
class _Model:
    config: Any  # model_config_pb2.ModelConfig
    session: ort.InferenceSession


def _wire_type(data_type: int) -> str:
    return str(model_config_pb2.DataType.Name(data_type)).removeprefix("TYPE_")


def _fits(shape: list[int], dims: list[int]) -> bool:
    return len(shape) == len(dims) and all(d == -1 or d == s for s, d in zip(shape, dims, strict=True))


def load_repository(root: Path) -> dict[str, _Model]:
    """Every model folder of ``root`` (those with a ``config.pbtxt``), by name."""
    models = {}
    for config_path in sorted(root.glob("*/config.pbtxt")):
        config = text_format.Parse(config_path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())
        name = config.name or config_path.parent.name
        graph = config_path.parent / "1" / (config.default_model_filename or "model.onnx")
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        models[name] = _Model(config, session)
    return models


class StandInTriton(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The servicer; ``batches`` records the model name and batch size of each ModelInfer call."""

    def __init__(self, repository: Path) -> None:
        self.models = load_repository(repository)
        self.batches: list[tuple[str, int]] = []

    def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        return service_pb2.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        return service_pb2.ServerReadyResponse(ready=True)

    def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        return service_pb2.ModelReadyResponse(ready=request.name in self.models)

    def _model(self, name: str, context: Any) -> _Model:
        model = self.models.get(name)
        if model is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Request for unknown model: '{name}' is not found")
        return model  # type: ignore[return-value]  # abort raises

    def ModelConfig(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        return service_pb2.ModelConfigResponse(config=self._model(request.name, context).config)

    def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        config = self._model(request.name, context).config
        lead = [-1] if config.max_batch_size > 0 else []

        def meta(tensor: Any) -> Any:
            return service_pb2.ModelMetadataResponse.TensorMetadata(
                name=tensor.name, datatype=_wire_type(tensor.data_type), shape=[*lead, *tensor.dims]
            )

        return service_pb2.ModelMetadataResponse(
            name=request.name,
            versions=["1"],
            platform=config.platform,
            inputs=[meta(t) for t in config.input],
            outputs=[meta(t) for t in config.output],
        )

    def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC names)
        model = self._model(request.model_name, context)
        config = model.config
        declared = {t.name: t for t in config.input}
        batched = config.max_batch_size > 0
        feeds: dict[str, np.ndarray] = {}
        batch = 0
        if len(request.raw_input_contents) != len(request.inputs):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "inputs must come as raw_input_contents")
        for raw, tensor in zip(request.raw_input_contents, request.inputs, strict=True):
            spec = declared.get(tensor.name)
            if spec is None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected inference input '{tensor.name}'")
            if tensor.datatype != _wire_type(spec.data_type):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"{tensor.name}: wrong datatype {tensor.datatype}"
                )
            shape = list(tensor.shape)
            batch = shape[0] if batched else 1
            if batched and not 1 <= batch <= config.max_batch_size:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"batch-size must be <= {config.max_batch_size} for '{request.model_name}'",
                )
            if not _fits(shape[1:] if batched else shape, list(spec.dims)):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{tensor.name}: unexpected shape {shape}")
            array = np.frombuffer(raw, dtype=triton_to_np_dtype(tensor.datatype)).reshape(shape)
            if spec.HasField("reshape"):
                array = array.reshape(([batch] if batched else []) + list(spec.reshape.shape))
            feeds[tensor.name] = array
        if set(feeds) != set(declared):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"expected inputs {sorted(declared)}")
        self.batches.append((request.model_name, batch))
        names = [o.name for o in config.output]
        produced = dict(zip(names, model.session.run(names, feeds), strict=True))
        wanted = [o.name for o in request.outputs] or names
        response = service_pb2.ModelInferResponse(
            model_name=request.model_name, model_version="1", id=request.id
        )
        for spec in config.output:
            if spec.name not in wanted:
                continue
            array = produced[spec.name]
            if spec.HasField("reshape"):
                array = array.reshape(([batch] if batched else []) + list(spec.dims))
            out = response.outputs.add()
            out.name, out.datatype = spec.name, _wire_type(spec.data_type)
            out.shape.extend(array.shape)
            response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
        return response


@contextmanager
def serve(repository: Path, port: int = 0) -> Iterator[tuple[str, StandInTriton]]:
    """Serve ``repository`` on ``port`` (0: a free one); yields ``("127.0.0.1:PORT", servicer)``."""
    servicer = StandInTriton(repository)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", 1 << 30), ("grpc.max_send_message_length", 1 << 30)],
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None)
