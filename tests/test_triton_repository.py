"""`mediqa export triton`: the model repository's configs against Triton's own schema and the graphs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from mediqa_sdk import _export_cli
from mediqa_sdk.cli import main
from mediqa_sdk.engine import file_sha256
from mediqa_sdk.errors import ModelIntegrityError
from mediqa_sdk.registry import load_registry
from mediqa_sdk.triton import write_repository

from .conftest import REPO

try:  # Triton's own config schema comes with the [triton] extra; the other tests run without it
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2
except ImportError:
    model_config_pb2 = None

needs_schema = pytest.mark.skipif(model_config_pb2 is None, reason="the [triton] extra is not installed")


def _config(folder: Path) -> Any:
    """``folder/config.pbtxt`` parsed as Triton's ``ModelConfig`` (fails on anything the schema rejects)."""
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return write_repository(tmp_path_factory.mktemp("triton") / "repo", max_batch_size=32)


@needs_schema
def test_configs_parse_as_triton_model_configs_matching_the_graphs(repo, registry):
    assert sorted(m.task for m in repo.models) == ["classifier", "scorer"]
    for model in repo.models:
        record = registry.get(None, model.task)
        assert model.name == record.name and model.folder == repo.root / record.name
        assert file_sha256(model.graph) == record.sha256
        cfg = _config(model.folder)
        assert (cfg.name, cfg.platform, cfg.max_batch_size) == (record.name, "onnxruntime_onnx", 32)
        session = ort.InferenceSession(str(model.graph), providers=["CPUExecutionProvider"])
        for declared, graph in ((cfg.input, session.get_inputs()), (cfg.output, session.get_outputs())):
            assert [t.name for t in declared] == [g.name for g in graph]
            for tensor, arg in zip(declared, graph, strict=True):
                assert arg.type == "tensor(float)" and tensor.data_type == model_config_pb2.TYPE_FP32
                rest = [d if isinstance(d, int) else -1 for d in arg.shape[1:]]
                if rest:
                    assert list(tensor.dims) == rest and not tensor.HasField("reshape")
                else:  # [B] in the graph: [B, 1] on the wire, reshaped to [B]
                    assert list(tensor.dims) == [1] and list(tensor.reshape.shape) == []
        assert cfg.parameters["mediqa_sha256"].string_value == record.sha256
        assert cfg.parameters["mediqa_model_name"].string_value == record.name
        assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8, 16, 32]
        assert [(g.kind, g.count) for g in cfg.instance_group] == [
            (model_config_pb2.ModelInstanceGroup.KIND_GPU, 1)
        ]
        (trt,) = cfg.optimization.execution_accelerators.gpu_execution_accelerator
        assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP32"
        assert record.sha256[:16] in trt.parameters["trt_engine_cache_path"]
        max_shapes = dict(s.split(":") for s in trt.parameters["trt_profile_max_shapes"].split(","))
        assert set(max_shapes) == {t.name for t in cfg.input}
        assert all(v.startswith("32x") for v in max_shapes.values())
        (warm,) = cfg.model_warmup
        assert warm.batch_size == 1 and set(warm.inputs) == set(max_shapes)
    scorer = _config(repo.root / registry.get(None, "scorer").name)
    assert [list(t.dims) for t in scorer.input] == [[-1, 3, 224, 224], [21]]
    trt = scorer.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert trt.parameters["trt_profile_max_shapes"] == "slices:32x7x3x224x224,prompt:32x21"


def test_manifest_names_each_model_with_its_registry_record(repo, registry):
    manifest = json.loads(repo.manifest.read_text())
    assert manifest["format"] == "mediqa-triton-repository" and manifest["options"]["max_batch_size"] == 32
    for task in ("scorer", "classifier"):
        record = registry.get(None, task)
        entry = manifest[task]
        assert entry["model_name"] == record.name and entry["sha256"] == record.sha256
        assert entry["record"]["sha256"] == record.sha256 and entry["record"]["task"] == task


@needs_schema
def test_options_change_precision_instances_and_kind(tmp_path):
    fp16 = write_repository(tmp_path / "a", fp16=True, instances=2, max_batch_size=1, warmup=False)
    cfg = _config(fp16.models[1].folder)
    trt = cfg.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert trt.parameters["precision_mode"] == "FP16" and cfg.instance_group[0].count == 2
    assert list(cfg.dynamic_batching.preferred_batch_size) == [1] and not cfg.model_warmup
    cpu = _config(write_repository(tmp_path / "b", kind="cpu").models[1].folder)
    no_trt = _config(write_repository(tmp_path / "c", tensorrt=False).models[1].folder)
    assert cpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert no_trt.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    for cfg in (cpu, no_trt):
        assert not cfg.optimization.execution_accelerators.gpu_execution_accelerator
    with pytest.raises(ValueError, match="kind"):
        write_repository(tmp_path / "d", kind="tpu")


@needs_schema
def test_existing_models_need_force_and_other_models_are_kept(tmp_path):
    out = tmp_path / "repo"
    other = out / "someone-elses-model" / "config.pbtxt"
    other.parent.mkdir(parents=True)
    other.write_text('name: "someone-elses-model"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["export", "triton", str(out), "--kind", "cpu"]).exit_code == 0
    res = runner.invoke(main, ["export", "triton", str(out)])
    assert res.exit_code == 2 and "already exist" in res.stderr and "--force" in res.stderr
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["export", "triton", str(out), "--force", "--max-batch-size", "8"])
    assert res.exit_code == 0, res.output
    assert other.read_text() == 'name: "someone-elses-model"\n'
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["mediqa.json", "someone-elses-model", *(r.name for r in _default_records())]
    )
    assert all(_config(out / r.name).max_batch_size == 8 for r in _default_records())


def _default_records():
    reg = load_registry()
    return [reg.get(None, "scorer"), reg.get(None, "classifier")]


def test_unwritable_out_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = CliRunner().invoke(main, ["export", "triton", str(blocker / "repo")])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: {blocker / 'repo'}: ") and res.stderr.count("\n") == 1


def test_a_corrupt_graph_is_refused_and_leaves_nothing(tmp_path, registry):
    reg_dir = tmp_path / "reg"
    (reg_dir / "models").mkdir(parents=True)
    shutil.copy(registry.path, reg_dir / "models.json")
    for record in _default_records():
        shutil.copy(record.path, reg_dir / "models" / record.file)
    scorer = registry.get(None, "scorer")
    data = bytearray((reg_dir / "models" / scorer.file).read_bytes())
    data[-1] ^= 0xFF
    (reg_dir / "models" / scorer.file).write_bytes(bytes(data))
    out = tmp_path / "repo"
    with pytest.raises(ModelIntegrityError, match=scorer.name):
        write_repository(out, reg_dir / "models.json")
    assert not (out / scorer.name).exists() and not (out / "mediqa.json").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_export_keeps_the_checkpoint_form(monkeypatch):
    seen: list[tuple[str, str]] = []

    @click.command("export")
    @click.argument("checkpoint")
    @click.option("--name", required=True)
    def fake(checkpoint: str, name: str) -> None:
        seen.append((checkpoint, name))

    monkeypatch.setattr(sys.modules[__name__], "fake_checkpoint_command", fake, raising=False)
    spec = _export_cli._SUBCOMMANDS["checkpoint"]
    monkeypatch.setitem(
        _export_cli._SUBCOMMANDS, "checkpoint", (__name__, "fake_checkpoint_command", spec[2])
    )
    runner = CliRunner()
    for args in (
        ["runs/best.pt", "--name", "a"],
        ["--name", "b", "runs/best.pt"],
        ["checkpoint", "runs/best.pt", "--name", "c"],
    ):
        res = runner.invoke(main, ["export", *args])
        assert res.exit_code == 0, (args, res.output)
    assert seen == [("runs/best.pt", "a"), ("runs/best.pt", "b"), ("runs/best.pt", "c")]
    help_text = runner.invoke(main, ["export", "--help"]).output
    assert "checkpoint" in help_text and "triton" in help_text


def test_export_triton_runs_without_torch(tmp_path):
    code = (
        "import sys\n"
        "from mediqa_sdk.cli import main\n"
        "try:\n"
        f"    main(['export', 'triton', {str(tmp_path / 'repo')!r}, '--kind', 'cpu'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'tritonclient' not in sys.modules, 'tritonclient was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "repo" / "mediqa.json").is_file()
