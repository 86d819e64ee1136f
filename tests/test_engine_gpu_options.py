"""GPU configuration without a GPU: TensorRT/CUDA provider options, library preloading, profile fallback,
chunked TensorRT runs, and the ``[gpu]`` extra against onnxruntime-gpu's CUDA version.

onnxruntime's session is replaced by a fake where a GPU would be needed; nothing here loads CUDA.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from mediqa_sdk import engine
from mediqa_sdk.engine import (
    TRT_MAX_BATCH,
    Session,
    cuda_options,
    input_shape_ranges,
    provider_plan,
    shapes_option,
    tensorrt_options,
)
from mediqa_sdk.errors import DeviceUnavailableError

ROOT = Path(__file__).resolve().parents[1]
CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
PROFILE_KEYS = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")

# CUDA major version of onnxruntime-gpu wheels on PyPI (build_and_package_info.cuda_version and the
# Requires-Dist of their [cuda,cudnn] extras, read from the wheels), and whether their preload_dlls() knows
# the CUDA 13 wheel layout (site-packages/nvidia/cu13/lib)
ORT_GPU_BUILDS = {
    "1.21.0": 12,
    "1.23.2": 12,
    "1.24.1": 12,
    "1.26.0": 12,
    "1.27.0": 13,  # CUDA 13 but preload_dlls() looks in the CUDA 12 layout
    "1.28.0": 13,
    "1.31.1": 13,
}
CU13_LAYOUT_SINCE = Version("1.28.0")


def parse_shapes(value: str) -> dict[str, tuple[int, ...]]:
    """Parse an ORT profile option the way its TensorRT provider documents it: 'in1:d0xd1,in2:d0'."""
    out = {}
    for item in value.split(","):
        name, dims = item.split(":")
        out[name] = tuple(int(d) for d in dims.split("x"))
    return out


# ------------------------------------------------------------------------------------ option dicts


@pytest.mark.parametrize("task", ["scorer", "classifier"])
def test_tensorrt_profile_covers_every_graph_input(registry, task, tmp_path):
    record = registry.get(None, task)
    options = tensorrt_options(record, tmp_path)
    assert all(isinstance(v, str) for v in options.values())  # what ORT receives after str()
    profile = [parse_shapes(options[key]) for key in PROFILE_KEYS]
    graph = ort.InferenceSession(str(record.path), providers=[CPU]).get_inputs()
    assert all(set(p) == {i.name for i in graph} for p in profile)  # TensorRT needs every dynamic input
    for inp in graph:
        lo, opt, hi = (p[inp.name] for p in profile)
        assert len(lo) == len(opt) == len(hi) == len(inp.shape)
        for axis, dim in enumerate(inp.shape):
            if isinstance(dim, int):  # static axes (3, 224, 224, prompt length) are fixed
                assert lo[axis] == opt[axis] == hi[axis] == dim
            else:
                assert 1 == lo[axis] <= opt[axis] <= hi[axis]
        assert hi[0] == TRT_MAX_BATCH


def test_scorer_profile_values(registry, tmp_path):
    record = registry.get(None, "scorer")
    p, s = record.vocabulary.prompt_length, record.salient.n_slices
    options = tensorrt_options(record, tmp_path)
    assert options["trt_profile_min_shapes"] == f"slices:1x1x3x224x224,prompt:1x{p}"
    assert options["trt_profile_opt_shapes"] == f"slices:8x{s}x3x224x224,prompt:8x{p}"
    assert options["trt_profile_max_shapes"] == f"slices:64x{s}x3x224x224,prompt:64x{p}"
    assert options["trt_fp16_enable"] == options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"] == str(tmp_path)
    bench = tensorrt_options(record, tmp_path, max_batch=256, opt_batch=64, opt_slices=1)
    assert bench["trt_profile_opt_shapes"] == f"slices:64x1x3x224x224,prompt:64x{p}"
    assert bench["trt_profile_max_shapes"] == f"slices:256x{s}x3x224x224,prompt:256x{p}"


def test_classifier_is_tuned_for_a_default_batch_of_volumes(registry, tmp_path):
    options = tensorrt_options(registry.get(None, "classifier"), tmp_path)
    assert options["trt_profile_opt_shapes"] == "image:56x3x224x224"  # 8 volumes x 7 slices
    assert options["trt_profile_max_shapes"] == "image:64x3x224x224"


def test_shape_option_syntax_and_bad_ranges(registry):
    assert (
        shapes_option({"slices": (1, 1, 3, 224, 224), "prompt": (1, 21)})
        == "slices:1x1x3x224x224,prompt:1x21"
    )
    record = registry.get(None, "scorer")
    with pytest.raises(ValueError, match="opt <= max"):
        input_shape_ranges(record, max_batch=4, opt_batch=8)
    with pytest.raises(ValueError, match="opt <= max"):
        input_shape_ranges(record, opt_slices=record.salient.n_slices + 1)


def test_unknown_task_gets_no_explicit_profile(registry, tmp_path):
    record = dataclasses.replace(registry.get(None, "scorer"), task="segmenter")
    options = tensorrt_options(record, tmp_path)
    assert not set(PROFILE_KEYS) & set(options) and options["trt_fp16_enable"] == "True"


# ------------------------------------------------------------------------------------ fake GPU machine


@pytest.fixture()
def fake_gpu(monkeypatch, tmp_path):
    """A machine whose driver reports a GPU and whose onnxruntime lists the GPU providers; the library
    loader starts fresh and ``preload_dlls`` is counted (it prints like the real one does on a failure)."""
    monkeypatch.setattr(engine, "gpu_info", lambda: engine.GpuInfo(True, ("NVIDIA H200",)))
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(engine, "_LOADS", engine._LibraryLoads())
    monkeypatch.setenv("MEDIQA_CACHE", str(tmp_path / "cache"))
    calls = []

    def preload_dlls(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        print("Failed to load libcublasLt.so.13: cannot open shared object file")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")

    monkeypatch.setattr(ort, "preload_dlls", preload_dlls, raising=False)
    return calls


def fake_session_class(reject=lambda providers: False, lands_on=None, log=None):
    """An ``InferenceSession`` stand-in: raises when ``reject(providers)``, reports ``lands_on`` (default: the
    requested providers) and echoes one output per input row."""

    class FakeSession:
        def __init__(
            self, data: bytes, sess_options: Any = None, providers: Any = None, **kwargs: Any
        ) -> None:
            assert kwargs.get("enable_fallback") == 0  # ORT's own fallback prints to stdout
            if log is not None:
                log.append(providers)
            if reject(providers):
                raise RuntimeError(
                    "[ONNXRuntimeError] : 11 : EP_FAIL : no profile for an internal input\nmore"
                )
            self.providers = lands_on or [name for name, _ in providers]
            self.rows: list[int] = []

        def get_providers(self) -> list[str]:
            return list(self.providers)

        def get_outputs(self) -> list[Any]:
            return [type("Out", (), {"name": "score"})()]

        def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            first = next(iter(feeds.values()))
            self.rows.append(len(first))
            return [first.reshape(len(first), -1)[:, 0].copy()]

    return FakeSession


def has_profile(providers) -> bool:
    return any(key in opts for _, opts in providers for key in PROFILE_KEYS)


# ------------------------------------------------------------------------------------ preloading


def test_cpu_sessions_never_preload_gpu_libraries(registry, fake_gpu):
    session = Session(registry.get(None, "scorer"), "cpu")
    session.ensure()
    assert session.providers == (CPU,) and fake_gpu == [] and session.library_problems == ()


def test_gpu_plans_preload_once_per_process_and_keep_stdout_clean(registry, fake_gpu, monkeypatch, capsys):
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class())
    first = Session(registry.get(None, "scorer"), "cuda")
    first.ensure()
    Session(registry.get(None, "classifier"), "cuda").ensure()
    assert fake_gpu == [1] and first.providers == (CUDA, CPU)
    assert first.library_problems == ("Failed to load libcublasLt.so.13: cannot open shared object file",)
    assert capsys.readouterr().out == ""


def test_tensorrt_plan_also_loads_the_tensorrt_wheel(registry, fake_gpu, monkeypatch, tmp_path):
    marker = tmp_path / "loaded"
    package = tmp_path / "site" / "tensorrt_libs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "tensorrt_libs", raising=False)
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class())
    Session(registry.get(None, "scorer"), "cuda").ensure()
    assert not marker.exists()  # CUDA alone does not need TensorRT
    session = Session(registry.get(None, "scorer"), "tensorrt")
    session.ensure()
    Session(registry.get(None, "classifier"), "tensorrt").ensure()
    assert marker.read_text() == "x" and fake_gpu == [1] and session.providers[0] == TRT


def test_missing_tensorrt_wheel_and_preload_failure_name_the_libraries(registry, fake_gpu, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt_libs", None)  # import raises ImportError
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class(lands_on=[CUDA, CPU]))
    with pytest.raises(DeviceUnavailableError) as err:
        Session(registry.get(None, "scorer"), "tensorrt").ensure()
    text = str(err.value)
    assert "device='tensorrt'" in text and "libcublasLt.so.13" in text and "tensorrt_libs" in text
    assert "\n" not in text


def test_old_onnxruntime_without_preload_dlls_is_reported(registry, fake_gpu, monkeypatch):
    monkeypatch.delattr(ort, "preload_dlls")
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class(lands_on=[CPU]))
    with pytest.raises(DeviceUnavailableError, match="no preload_dlls"):
        Session(registry.get(None, "scorer"), "cuda").ensure()


# ------------------------------------------------------------------------------------ plans and fallbacks


def test_gpu_plan_options(registry, fake_gpu):
    plan = provider_plan("auto", registry.get(None, "scorer"))
    assert [name for name, _ in plan] == [TRT, CUDA, CPU]
    assert set(PROFILE_KEYS) <= set(plan[0][1]) and plan[1][1] == cuda_options() == {}


def test_rejected_profile_retries_without_it_and_warns(registry, fake_gpu, monkeypatch):
    log: list[Any] = []
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class(reject=has_profile, log=log))
    session = Session(registry.get(None, "scorer"), "tensorrt")
    with pytest.warns(RuntimeWarning, match="rejected the explicit shape profile .*EP_FAIL"):
        session.ensure()
    assert [has_profile(p) for p in log] == [True, False] and session.providers[0] == TRT
    feeds = {"slices": np.zeros((100, 1, 1), np.float32), "prompt": np.zeros((100, 2), np.float32)}
    session.run(feeds)
    assert session._get().rows == [100]  # no profile, no chunking


def test_requested_gpu_that_cannot_start_is_an_error_and_auto_falls_back(registry, fake_gpu, monkeypatch):
    def any_gpu(providers) -> bool:
        return any(name != CPU for name, _ in providers)

    log: list[Any] = []
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class(reject=any_gpu, log=log))
    with pytest.raises(DeviceUnavailableError, match=r"device='tensorrt'.*EP_FAIL"):
        Session(registry.get(None, "scorer"), "tensorrt").ensure()
    assert all(any_gpu(p) for p in log)  # never retried on another provider
    log.clear()
    session = Session(registry.get(None, "scorer"), "auto")
    session.ensure()
    assert session.providers == (CPU,)
    assert [[name for name, _ in p] for p in log] == [[TRT, CUDA, CPU], [TRT, CUDA, CPU], [CUDA, CPU], [CPU]]


def test_tensorrt_runs_are_split_to_the_profile(registry, fake_gpu, monkeypatch):
    monkeypatch.setattr(ort, "InferenceSession", fake_session_class())
    session = Session(registry.get(None, "scorer"), "tensorrt")
    rows = 2 * TRT_MAX_BATCH + 22
    slices = np.arange(rows, dtype=np.float32).reshape(rows, 1, 1)
    out = session.run({"slices": slices, "prompt": np.zeros((rows, 21), np.float32)})
    assert session._get().rows == [TRT_MAX_BATCH, TRT_MAX_BATCH, 22]
    np.testing.assert_array_equal(out["score"], np.arange(rows))


# ------------------------------------------------------------------------------------ the [gpu] extra


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def gpu_extra() -> list[Requirement]:
    return [Requirement(line) for line in pyproject()["project"]["optional-dependencies"]["gpu"]]


def environment(python: str, system: str, machine: str) -> dict[str, str]:
    env = default_environment()
    env.update(python_version=python, python_full_version=f"{python}.0", sys_platform=system)
    env.update(platform_machine=machine)
    return env


@pytest.mark.parametrize(
    ("python", "system", "machine", "cuda_major"),
    [
        ("3.11", "linux", "x86_64", 13),
        ("3.13", "win32", "AMD64", 13),
        ("3.10", "linux", "x86_64", 12),
        ("3.11", "darwin", "arm64", None),
        ("3.12", "linux", "aarch64", None),
    ],
)
def test_gpu_extra_matches_the_cuda_build_of_onnxruntime_gpu(python, system, machine, cuda_major):
    env = environment(python, system, machine)
    active = [r for r in gpu_extra() if r.marker is None or r.marker.evaluate(env)]
    if cuda_major is None:  # where the runtime depends on the CPU onnxruntime, the extra adds nothing
        assert active == []
        return
    (ort_req,) = [r for r in active if r.name == "onnxruntime-gpu"]
    assert ort_req.extras == {"cuda", "cudnn"}  # its own extras name the CUDA/cuDNN wheels of its build
    admitted = [v for v in ORT_GPU_BUILDS if ort_req.specifier.contains(v)]
    assert admitted and {ORT_GPU_BUILDS[v] for v in admitted} == {cuda_major}
    if cuda_major >= 13:
        assert all(Version(v) >= CU13_LAYOUT_SINCE for v in admitted)
    others = [r for r in active if r is not ort_req]
    majors = {int(m) for r in others for m in re.findall(r"-cu(\d+)", r.name)}
    assert others and majors == {cuda_major}  # TensorRT built for the same CUDA


def test_gpu_extra_only_where_the_base_dependency_is_onnxruntime_gpu():
    base = [Requirement(line) for line in pyproject()["project"]["dependencies"]]
    (gpu_base,) = [r for r in base if r.name == "onnxruntime-gpu"]
    for system, machine in [
        ("linux", "x86_64"),
        ("win32", "AMD64"),
        ("darwin", "x86_64"),
        ("linux", "arm64"),
    ]:
        for python in ("3.10", "3.12"):
            env = environment(python, system, machine)
            assert any(r.marker.evaluate(env) for r in gpu_extra()) == gpu_base.marker.evaluate(env)


def test_installed_onnxruntime_gpu_in_the_extra_range_has_its_cuda_major():
    from importlib import metadata

    try:
        installed = metadata.version("onnxruntime-gpu")
    except metadata.PackageNotFoundError:
        pytest.skip("onnxruntime-gpu is not installed")
    from onnxruntime.capi import build_and_package_info as info

    cuda = str(getattr(info, "cuda_version", "") or "")
    env = default_environment()
    for req in gpu_extra():
        if req.name == "onnxruntime-gpu" and req.marker.evaluate(env) and req.specifier.contains(installed):
            majors = {
                int(m) for r in gpu_extra() if r.marker.evaluate(env) for m in re.findall(r"-cu(\d+)", r.name)
            }
            assert cuda and majors == {int(cuda.split(".")[0])}
