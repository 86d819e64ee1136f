"""A Triton Inference Server as the inference engine: :class:`TritonSession` has the interface of
:class:`mediqa_sdk.engine.Session` (``record``, ``providers``, ``ensure()``, ``run(feeds)``), over gRPC.

Only the two graphs run on the server; reading, slice selection, preprocessing, prompts and the result stay
in the client. On first use the session checks that the server is live and ready, that the model is ready,
and that the model's config carries the sha256 of the client's registry record (``mediqa_sha256``, written
by ``mediqa export triton``): a server running another graph is refused, never used.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..errors import InferenceServerError, MissingDependencyError, ModelIntegrityError
from ..registry import ModelRecord

__all__ = ["DEFAULT_PORT", "TritonSession", "parse_triton_url"]

DEFAULT_PORT = 8001
"""Triton's default gRPC port."""
_SCHEME = "triton://"
_INSTALL = 'pip install "mediqa-sdk[triton]"'


def parse_triton_url(url: str) -> str:
    """``triton://HOST[:PORT]`` -> ``HOST:PORT`` (gRPC address; port 8001 by default).

    Raises:
        ValueError: not a ``triton://`` URL, or a bad host or port.
    """
    if not url.startswith(_SCHEME):
        raise ValueError(f"engine {url!r}: use 'onnxruntime' or 'triton://HOST:PORT' (Triton's gRPC port)")
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as err:
        raise ValueError(f"engine {url!r}: bad port ({err})") from None
    host = parts.hostname
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"engine {url!r}: expected triton://HOST:PORT")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


class TritonSession:
    """One registry model served by Triton, checked on first use, reused, thread-safe.

    Args:
        record: the client's registry record; the served graph must have its sha256.
        address: ``HOST:PORT`` of Triton's gRPC endpoint (see :func:`parse_triton_url`).
        model_name: the name the server knows the model by (default: the record's name).
        connect_timeout_s: limit for each health and config call.
        request_timeout_s: limit for each inference request (the first may build a TensorRT engine).
    """

    def __init__(
        self,
        record: ModelRecord,
        address: str,
        *,
        model_name: str | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 600.0,
    ) -> None:
        self.record = record
        self.address = address
        self.url = f"{_SCHEME}{address}"
        self.model_name = model_name or record.name
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.providers: tuple[str, ...] = ()
        self._client: Any = None
        self._config: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TritonSession({self.model_name!r} at {self.url})"

    def ensure(self) -> None:
        """Connect and verify now if not done yet (thread-safe; raises what :meth:`_connect` raises)."""
        self._get()

    def _get(self) -> tuple[Any, Any]:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    client, config = self._connect()
                    self._config = config
                    self.providers = (f"triton:grpc://{self.address}",)
                    self._client = client
        return self._client, self._config

    def _connect(self) -> tuple[Any, Any]:
        """Open the channel, check server and model health, fetch the config and check its sha256.

        Raises:
            MissingDependencyError: tritonclient is not installed.
            InferenceServerError: the server is unreachable or not ready, or the model is not ready.
            ModelIntegrityError: the served model's sha256 is missing or not the record's.
        """
        try:
            import tritonclient.grpc as grpcclient
            from tritonclient.utils import InferenceServerException
        except ImportError as err:
            raise MissingDependencyError(
                f"engine {self.url} needs the Triton client ({err}): {_INSTALL}"
            ) from err
        client = grpcclient.InferenceServerClient(self.address)
        timeout = self.connect_timeout_s
        try:
            try:
                live = client.is_server_live(client_timeout=timeout)
                ready = live and client.is_server_ready(client_timeout=timeout)
            except InferenceServerException as err:
                raise InferenceServerError(
                    f"Triton server at {self.url} is unreachable ({_first_line(err)}); start it or check "
                    "the URL (Triton's gRPC port, 8001 by default)"
                ) from err
            if not ready:
                raise InferenceServerError(
                    f"Triton server at {self.url} is {'not ready' if live else 'not live'}"
                )
            try:
                model_ready = client.is_model_ready(self.model_name, client_timeout=timeout)
            except InferenceServerException:
                model_ready = False
            if not model_ready:
                raise InferenceServerError(
                    f"Triton server at {self.url} has no ready model {self.model_name!r}; serve a repository "
                    "written by `mediqa export triton` and check the server's log"
                )
            try:
                config = client.get_model_config(self.model_name, client_timeout=timeout).config
            except InferenceServerException as err:
                raise InferenceServerError(
                    f"Triton server at {self.url}: cannot read the config of {self.model_name!r} "
                    f"({_first_line(err)})"
                ) from err
            self._check_identity(config)
        except BaseException:
            client.close()
            raise
        return client, config

    def _check_identity(self, config: Any) -> None:
        served = (
            config.parameters["mediqa_sha256"].string_value if "mediqa_sha256" in config.parameters else ""
        )
        expected = self.record.sha256
        if served == expected:
            return
        what = f"serves sha256 {served[:16]}…" if served else "has no mediqa_sha256 parameter in its config"
        raise ModelIntegrityError(
            f"Triton model {self.model_name!r} at {self.url} {what}, but the registry's "
            f"{self.record.name!r} is {expected[:16]}…; serve a repository exported from this registry "
            "(mediqa export triton) or score with the matching registry"
        )

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the served graph; returns every output by name, shaped as the graph gives it.

        Inputs with more rows than the model's ``max_batch_size`` go in chunks (rows are independent in both
        contracts).

        Raises:
            InferenceServerError: the server rejected or failed a request.
        """
        client, config = self._get()
        rows = len(next(iter(feeds.values()))) if feeds else 0
        step = int(config.max_batch_size) or max(rows, 1)
        parts = [
            self._infer(client, config, {k: v[lo : lo + step] for k, v in feeds.items()})
            for lo in range(0, max(rows, 1), step)
        ]
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _infer(self, client: Any, config: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException, triton_to_np_dtype

        batched = int(config.max_batch_size) > 0
        declared = {t.name: t for t in config.input}
        unknown = sorted(set(feeds) - set(declared))
        if unknown:
            raise InferenceServerError(
                f"Triton model {self.model_name!r} at {self.url} has no inputs {unknown}; it declares "
                f"{sorted(declared)}"
            )
        inputs = []
        for name, value in feeds.items():
            tensor = declared[name]
            datatype = _datatype(tensor.data_type)
            array = np.ascontiguousarray(value, dtype=triton_to_np_dtype(datatype))
            if tensor.HasField("reshape"):  # the graph's shape -> the dims clients send
                array = array.reshape(([len(array)] if batched else []) + list(tensor.dims))
            item = grpcclient.InferInput(name, list(array.shape), datatype)
            item.set_data_from_numpy(array)
            inputs.append(item)
        try:
            result = client.infer(self.model_name, inputs, client_timeout=self.request_timeout_s)
        except InferenceServerException as err:
            raise InferenceServerError(
                f"Triton model {self.model_name!r} at {self.url}: inference failed ({_first_line(err)})"
            ) from err
        rows = len(next(iter(feeds.values())))
        outputs: dict[str, np.ndarray] = {}
        for tensor in config.output:
            array = result.as_numpy(tensor.name)
            if array is None:
                raise InferenceServerError(
                    f"Triton model {self.model_name!r} at {self.url} returned no output {tensor.name!r}"
                )
            if tensor.HasField("reshape"):  # the dims clients receive -> the graph's shape
                array = array.reshape(([rows] if batched else []) + list(tensor.reshape.shape))
            outputs[tensor.name] = array
        return outputs


def _datatype(config_type: int) -> str:
    """``TYPE_FP32`` (a ``DataType`` enum value) -> ``"FP32"``, the name the inference protocol uses."""
    from tritonclient.grpc import model_config_pb2

    name = str(model_config_pb2.DataType.Name(config_type))
    return "BYTES" if name == "TYPE_STRING" else name.removeprefix("TYPE_")
