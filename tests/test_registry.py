"""The registry: loading, validation, lookups, physics mappings, grades, and integrity of shipped files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.engine import Session
from mediqa_sdk.errors import ModelIntegrityError, RegistryError, UnknownModelError
from mediqa_sdk.registry import load_registry

from .conftest import REPO


def _copy_registry(tmp_path: Path, edit=None) -> Path:
    models = tmp_path / "models"
    shutil.copytree(REPO / "mediqa_sdk" / "models", models)
    raw = json.loads((REPO / "models.json").read_text())
    if edit:
        edit(raw)
    path = tmp_path / "models.json"
    path.write_text(json.dumps(raw))
    return path


def test_default_registry_has_a_scorer_and_classifier_with_one_vocabulary(registry):
    scorer = registry.get(None, "scorer")
    classifier = registry.get(None, "classifier")
    assert scorer.vocabulary.prompt_length == 2 + 3 + 6 + 10
    assert classifier.vocabulary.modality == scorer.vocabulary.modality
    assert scorer.preprocess.ct_windows["lung_window"] == (-600.0, 1500.0)
    assert set(scorer.preprocess.ct_region_windows["chest"]) == {"lung_window", "soft_window"}


def test_every_record_matches_its_file(registry):
    for record in registry.models.values():
        data = record.path.read_bytes()
        assert len(data) == record.size, record.name
        assert hashlib.sha256(data).hexdigest() == record.sha256, record.name


def test_unknown_model_lists_known_names_and_is_a_key_error(registry):
    with pytest.raises(UnknownModelError, match="known scorer models: mediqa-scorer") as info:
        registry.get("no-such-model", "scorer")
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownModelError):
        registry.get(registry.defaults["classifier"], "scorer")  # right name, wrong task


def test_newer_contract_is_refused_with_upgrade_advice(tmp_path):
    def bump(raw):
        raw["models"][1]["contract_version"] = 99

    with pytest.raises(RegistryError, match="newer mediqa-sdk"):
        load_registry(_copy_registry(tmp_path, bump))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(schema_version=7), "schema_version"),
        (lambda r: r["models"][0].update(sha256="abc"), "sha256 must be"),
        (lambda r: r["models"][0].update(size=-1), "size must be"),
        (lambda r: r["models"][1]["preprocess"].update(std=[0.5, 0, 0.5]), "std and window"),
        (lambda r: r["models"][1]["preprocess"]["ct_region_windows"].update(chest=["x"]), "unknown windows"),
        (lambda r: r["defaults"].update(scorer="missing"), "default scorer"),
        (lambda r: r["models"][1]["salient"].update(bogus=1), "unknown keys"),
        (lambda r: r["models"][1]["physics"][0].update(lo=0), "0 < lo < hi"),
    ],
)
def test_malformed_registries_raise_registry_errors(tmp_path, edit, message):
    with pytest.raises(RegistryError, match=message):
        load_registry(_copy_registry(tmp_path, edit))


def test_tampered_graph_is_refused_every_time(tmp_path):
    path = _copy_registry(tmp_path)
    record = load_registry(path).get(None, "scorer")
    graph = tmp_path / "models" / record.file
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        Session(record, "cpu").run({})


def test_physics_mapping_round_trips(registry):
    dose = next(p for p in registry.get(None, "scorer").physics if p.name == "ct_dose")
    assert dose.to_physical(0.0) == pytest.approx(5.0)
    assert dose.to_physical(1.0) == pytest.approx(500.0)
    assert dose.to_physical(0.5) == pytest.approx(50.0)  # geometric midpoint of 5..500
    for value in (7.0, 40.0, 320.0):
        assert dose.to_physical(dose.to_normalised(value)) == pytest.approx(value)
    assert dose.to_normalised(1e6) == 1.0


def test_grades_cover_the_score_range(registry):
    scorer = registry.get(None, "scorer")
    names = [scorer.grade(float(s)).name for s in np.linspace(0, 1, 101)]
    assert names[0] == "poor" and names[-1] == "good" and "acceptable" in names
    assert scorer.grade(0.39).flag and not scorer.grade(0.4).flag
