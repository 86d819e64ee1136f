"""torch -> ONNX: parity, dynamic axes, registry records, the runtime (Session, Assessor), variants, CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402
from mediqa_sdk.export.onnx_export import (  # noqa: E402
    ParityError,
    check_parity,
    export_command,
    export_onnx,
    make_variants,
    phantom_inputs,
    variant_score_change,
)
from mediqa_sdk.export.onnx_import import WeightImportError  # noqa: E402
from mediqa_sdk.export.registry_record import build_record, write_record  # noqa: E402
from mediqa_sdk.train.model import build_model, classifier_config, save_checkpoint, scorer_config  # noqa: E402

from mediqa_sdk.engine import Session  # noqa: E402
from mediqa_sdk.preprocess import prepare_gray  # noqa: E402
from mediqa_sdk.prompts import encode_prompt  # noqa: E402
from mediqa_sdk.registry import load_registry, registry_path  # noqa: E402

from ..synthetic import ct_volume  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(scorer_config("tiny")).eval()


@pytest.fixture(scope="module")
def tiny_onnx(tiny, tmp_path_factory) -> Path:
    return export_onnx(tiny, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def _real_feeds(b: int = 2) -> dict[str, np.ndarray]:
    """CT slices preprocessed by the runtime itself, with registry prompts."""
    registry = load_registry()
    rec = registry.get(None, "scorer")
    vol = ct_volume(n_slices=14, size=96)
    slices = np.stack(
        [prepare_gray(vol[3 + i : 10 + i], rec.preprocess, window="soft_window") for i in range(b)]
    )
    prompt = encode_prompt(rec.vocabulary, "3d", "ct", "chest", "soft_window")
    return {"slices": slices.astype(np.float32), "prompt": np.stack([prompt] * b)}


def test_scorer_export_matches_torch_on_random_and_real_inputs(tiny, tiny_onnx):
    report = check_parity(tiny, tiny_onnx, [_real_feeds(), phantom_inputs(True, 1, 7)])
    assert set(report.cases) >= {"random B=1 S=1", "random B=1 S=7", "random B=3 S=1", "random B=3 S=7"}
    assert report.max_abs < 1e-4


def test_group_norm_backbone_exports_with_parity(tmp_path):
    torch.manual_seed(5)
    cfg = scorer_config("tiny")
    model = build_model(replace(cfg, backbone=replace(cfg.backbone, norm="group"))).eval()
    path = export_onnx(model, tmp_path / "gn.onnx")
    assert check_parity(model, path, [phantom_inputs(True, 2, 7)]).max_abs < 1e-4


def test_a_mismatching_graph_fails_the_parity_check(tiny_onnx):
    torch.manual_seed(1)
    other = build_model(scorer_config("tiny")).eval()
    with pytest.raises(ParityError, match="differs from torch"):
        check_parity(other, tiny_onnx, shapes=[(1, 1)])


def test_classifier_export_parity(tmp_path):
    model = build_model(classifier_config("tiny")).eval()
    path = export_onnx(model, tmp_path / "cls.onnx")
    assert check_parity(model, path, [phantom_inputs(False, 4)]).max_abs < 1e-4


def _tmp_registry(tmp_path: Path, graph: Path) -> Path:
    """A copy of the SDK registry with a models/ folder (placeholder graphs + ``graph``) beside it."""
    src = registry_path()
    models = tmp_path / "models"
    models.mkdir()
    for rec in load_registry(src).models.values():
        shutil.copy(rec.path, models / rec.file)
    shutil.copy(graph, models / graph.name)
    shutil.copy(src, tmp_path / "models.json")
    return tmp_path / "models.json"


def test_exported_scorer_runs_through_the_runtime(tiny, tiny_onnx, tmp_path):
    registry_file = _tmp_registry(tmp_path, tiny_onnx)
    record = build_record(
        registry_file.parent / "models" / tiny_onnx.name,
        name="mediqa-scorer-tiny",
        version="0.1.0",
        config=tiny.cfg.to_dict(),
        training={"seed": 0, "data": ["random"]},
        metrics={"note": "untrained"},
        registry_file=registry_file,
    )
    assert record["contract_version"] == 1 and len(record["sha256"]) == 64
    assert record["provenance"]["config"]["name"] == "tiny" and record["provenance"]["trained_on"] == [
        "random"
    ]
    before = json.loads(registry_file.read_text())["defaults"]
    write_record(record, registry_file)
    raw = json.loads(registry_file.read_text())
    assert raw["defaults"] == before  # defaults untouched
    registry = load_registry(registry_file)
    rec = registry.get("mediqa-scorer-tiny", "scorer")
    assert not rec.placeholder and [p.name for p in rec.physics] == ["ct_dose", "mr_field_strength"]
    feeds = _real_feeds(b=1)
    out = Session(rec, device="cpu").run(feeds)
    with torch.no_grad():
        ref = tiny(torch.from_numpy(feeds["slices"]), torch.from_numpy(feeds["prompt"]))
    np.testing.assert_allclose(out["score"], ref.score.numpy(), atol=1e-5)

    from mediqa_sdk import Assessor

    result = Assessor("mediqa-scorer-tiny", device="cpu", registry=registry).score(
        ct_volume(n_slices=20), modality="ct", region="abdomen"
    )
    assert 0.0 <= result.score <= 1.0 and len(result.slice_weights) == 7
    assert result.provenance.scorer.sha256 == rec.sha256


def test_quantised_variants_report_their_score_change(tiny_onnx, tmp_path):
    src = shutil.copy(tiny_onnx, tmp_path / "tiny.onnx")
    variants = make_variants(src)
    assert set(variants) == {"fp16", "int8"}
    feeds = [_real_feeds()]
    for path in variants.values():
        change = variant_score_change(src, path, feeds)
        assert 0.0 <= change["max_abs"] < 0.2 and change["mean_abs"] <= change["max_abs"]


def test_export_command_registers_a_checkpoint(tiny, tiny_onnx, tmp_path):
    registry_file = _tmp_registry(tmp_path, tiny_onnx)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(tiny, ckpt, {"seed": 3, "data": ["phantoms"], "metrics": {"srcc": 0.5}})
    np.savez(tmp_path / "real.npz", **_real_feeds())
    result = CliRunner().invoke(
        export_command,
        [
            str(ckpt),
            "--name",
            "cli-tiny",
            "--registry",
            str(registry_file),
            "--parity-inputs",
            str(tmp_path / "real.npz"),
        ],
    )
    assert result.exit_code == 0, result.output
    rec = load_registry(registry_file).get("cli-tiny", "scorer")
    assert rec.path.is_file() and rec.metrics["srcc"] == 0.5
    assert rec.metrics["onnx_parity"]["max_abs_diff"] < 1e-4 and rec.provenance["training"]["seed"] == 3


def _tiny_gn():
    cfg = scorer_config("tiny")
    return replace(cfg, name="tiny-gn", backbone=replace(cfg.backbone, norm="group"))


def test_weights_read_back_from_a_graph_reproduce_the_model(tmp_path):
    from mediqa_sdk.export.onnx_import import load_onnx_weights

    torch.manual_seed(0)
    model = build_model(_tiny_gn()).eval()
    graph = export_onnx(model, tmp_path / "gn.onnx")
    torch.manual_seed(1)
    fresh = build_model(_tiny_gn())
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in fresh.state_dict().items())
    load_onnx_weights(fresh, graph)  # parity-checked against the graph inside
    for key, value in model.state_dict().items():  # folded linear, GroupNorm and aliased tensors included
        torch.testing.assert_close(fresh.state_dict()[key], value, rtol=0, atol=0, msg=key)
    with pytest.raises(WeightImportError):  # another architecture
        load_onnx_weights(build_model(replace(_tiny_gn(), head_hidden=24)), graph)


def test_batchnorm_models_are_refused_with_the_reason(tiny, tiny_onnx):
    from mediqa_sdk.export.onnx_import import load_onnx_weights

    with pytest.raises(WeightImportError, match="BatchNorm"):
        load_onnx_weights(build_model(scorer_config("tiny")), tiny_onnx)


def test_the_shipped_scorer_can_be_fine_tuned_from_its_graph(tmp_path):
    from mediqa_sdk.export.onnx_import import model_from_registry

    from mediqa_sdk import Assessor

    model, record = model_from_registry("mediqa-scorer-cnn")
    assert record["version"] == load_registry().get("mediqa-scorer-cnn", "scorer").version
    # the recovered torch model scores like the runtime (same preprocessing, same graph)
    feeds = _real_feeds(1)
    with torch.no_grad():
        score = model(torch.from_numpy(feeds["slices"]), torch.from_numpy(feeds["prompt"]))[0]
    runtime = Assessor(device="cpu")._scorer_session.run(feeds)["score"]
    assert float(score[0]) == pytest.approx(float(runtime[0]), abs=1e-5)
    with pytest.raises(WeightImportError, match="mediqa models"):
        model_from_registry("no-such-model")


def test_a_model_trained_on_neighbour_channels_carries_them_into_its_record(tiny, tiny_onnx, tmp_path):
    from mediqa_sdk.train.loop import TrainSettings, _build
    from mediqa_sdk.train.model.input_channels import first_input_conv

    through = ("scored", "scored_prev", "scored_next")
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(tiny, ckpt)
    settings = TrainSettings(
        stage="finetune", out_dir=str(tmp_path), init=str(ckpt), extra={"gray_channels": through}
    )
    model = _build(settings)
    assert model.cfg.gray_channels == through  # new grey input, same function on grey images
    conv = first_input_conv(model)
    first = next(k for k, p in model.named_parameters() if p is conv.weight)
    for key, value in tiny.state_dict().items():
        if key == first:  # the input weights folded onto `scored`, the neighbours start at 0
            torch.testing.assert_close(model.state_dict()[key][:, 0], value.sum(dim=1))
            assert model.state_dict()[key][:, 1:].abs().max() == 0
        else:
            torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    record = build_record(tiny_onnx, name="tiny-through", version="0.1.0", config=model.cfg.to_dict())
    assert record["preprocess"]["gray_channels"] == list(through)
    plain = build_record(tiny_onnx, name="tiny-plain", version="0.1.0", config=tiny.cfg.to_dict())
    default = load_registry().get(None, "scorer").preprocess.gray_channels
    assert tuple(plain["preprocess"]["gray_channels"]) == default
