"""Engine: provider planning, device checks, verified sessions, and golden outputs of the shipped graphs."""

from __future__ import annotations

import numpy as np
import pytest

from mediqa_sdk.engine import Session, gpu_info, provider_plan
from mediqa_sdk.errors import DeviceUnavailableError

from .goldens.make_goldens import GOLDEN, golden_inputs


def test_cpu_plan_is_cpu_only(registry):
    assert provider_plan("cpu", registry.get(None, "scorer")) == [("CPUExecutionProvider", {})]


def test_unknown_device_is_a_value_error(registry):
    with pytest.raises(ValueError, match="unknown device"):
        provider_plan("tpu", registry.get(None, "scorer"))


@pytest.mark.skipif(gpu_info().present, reason="a GPU is present")
@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_gpu_devices_fail_loudly_without_a_gpu(registry, device):
    with pytest.raises(DeviceUnavailableError, match=r"GPU|not available"):
        provider_plan(device, registry.get(None, "scorer"))


@pytest.mark.skipif(gpu_info().present, reason="a GPU is present")
def test_auto_without_gpu_records_cpu(registry):
    session = Session(registry.get(None, "scorer"), "auto")
    inputs = golden_inputs(registry.get(None, "scorer").vocabulary.prompt_length)
    session.run({"slices": inputs["slices"], "prompt": inputs["prompt"]})
    assert session.providers == ("CPUExecutionProvider",)


def test_shipped_graphs_reproduce_their_golden_outputs(registry):
    golden = np.load(GOLDEN)
    scorer, classifier = registry.get(None, "scorer"), registry.get(None, "classifier")
    if str(golden["scorer.sha256"]) != scorer.sha256 or str(golden["classifier.sha256"]) != classifier.sha256:
        pytest.fail("the shipped graphs changed: regenerate goldens with tests/goldens/make_goldens.py")
    inputs = golden_inputs(scorer.vocabulary.prompt_length)
    out = Session(scorer, "cpu").run({"slices": inputs["slices"], "prompt": inputs["prompt"]})
    for name in ("score", "slice_scores", "slice_weights", "physics"):
        np.testing.assert_allclose(out[name], golden[f"scorer.{name}"], atol=1e-6, err_msg=name)
    out = Session(classifier, "cpu").run({"image": inputs["image"]})
    for name in ("modality", "region", "type"):
        np.testing.assert_allclose(out[name], golden[f"classifier.{name}"], atol=1e-5, err_msg=name)


def test_scorer_contract_shapes_and_ranges(registry):
    scorer = registry.get(None, "scorer")
    inputs = golden_inputs(scorer.vocabulary.prompt_length)
    for s in (1, 7):
        out = Session(scorer, "cpu").run({"slices": inputs["slices"][:, :s], "prompt": inputs["prompt"]})
        assert out["score"].shape == (2,) and out["slice_scores"].shape == (2, s)
        assert out["physics"].shape == (2, len(scorer.physics))
        np.testing.assert_allclose(out["slice_weights"].sum(axis=1), 1.0, rtol=1e-5)
        assert ((out["score"] >= 0) & (out["score"] <= 1)).all()


def test_tensorrt_plan_caches_engines_by_model_runtime_and_gpu(registry, monkeypatch, tmp_path):
    import onnxruntime as ort

    from mediqa_sdk import engine

    monkeypatch.setattr(engine, "gpu_info", lambda: engine.GpuInfo(True, ("NVIDIA H200",)))
    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setenv("MEDIQA_CACHE", str(tmp_path))
    record = registry.get(None, "scorer")
    plan = provider_plan("auto", record)
    assert [name for name, _ in plan] == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    options = plan[0][1]
    assert options["trt_fp16_enable"] and options["trt_engine_cache_enable"]
    key = options["trt_engine_cache_path"]
    assert key.startswith(str(tmp_path)) and record.sha256[:16] in key
    assert ort.__version__ in key and "NVIDIA_H200" in key
    assert [name for name, _ in provider_plan("cuda", record)] == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]


def test_info_flags_a_double_onnxruntime_install(monkeypatch):
    from importlib import metadata

    from mediqa_sdk import info

    real = metadata.version

    def fake(dist: str) -> str:
        if dist in ("onnxruntime", "onnxruntime-gpu"):
            return "1.31.1"
        return real(dist)

    monkeypatch.setattr(info.metadata, "version", fake)
    assert set(info.installed_onnxruntimes()) == {"onnxruntime", "onnxruntime-gpu"}
