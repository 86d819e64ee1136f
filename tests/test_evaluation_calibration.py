"""Per-family grade calibration: Youden thresholds, bands in the registry, the runtime's grade using them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mediqa_sdk import Assessor
from mediqa_sdk.errors import RegistryError
from mediqa_sdk.evaluation import (
    FamilyCalibration,
    calibrate_families,
    calibrate_family,
    family_key,
    store_family_grades,
    youden_threshold,
)
from mediqa_sdk.evaluation.calibration import MIN_AUC
from mediqa_sdk.registry import load_registry, registry_path

from .synthetic import mr_slice


def test_youden_threshold_by_hand():
    scores = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]
    positive = [0, 0, 0, 1, 0, 1, 1, 1]
    t = youden_threshold(scores, positive)
    # cut at 0.35: sensitivity 4/4, specificity 3/4 -> J = 0.75 (the best; 0.65 gives 0.75 too, lower wins)
    assert t.threshold == pytest.approx(0.35)
    assert (t.sensitivity, t.specificity, t.youden_j) == pytest.approx((1.0, 0.75, 0.75))
    assert t.auc == pytest.approx(15 / 16) and (t.n_positive, t.n_negative) == (4, 4)
    with pytest.raises(ValueError, match="both classes"):
        youden_threshold([0.1, 0.2], [1, 1])


def test_family_calibration_finds_the_cuts_of_the_pseudo_mos():
    rng = np.random.default_rng(0)
    mos = rng.uniform(0, 1, 400)
    scores = np.clip(0.2 + 0.6 * mos + rng.normal(0, 0.03, mos.size), 0, 1)  # a monotone scorer
    cal = calibrate_family("mr", scores, mos)
    # non-diagnostic is MOS <= 0.3 -> score 0.38; good is MOS >= 0.9 -> score 0.74
    assert cal.poor_below == pytest.approx(0.38, abs=0.03)
    assert cal.good_from == pytest.approx(0.74, abs=0.03)
    assert cal.nondiagnostic is not None and cal.nondiagnostic.youden_j > 0.8 and not cal.notes
    bands = cal.bands()
    assert [b["name"] for b in bands] == ["poor", "acceptable", "good"]
    assert bands[0]["flag"] and bands[0]["upper"] == bands[1]["lower"] and bands[2]["upper"] == 1.0

    # no image good enough: the good cut keeps its default and says so
    low = calibrate_family("ct", scores[mos < 0.8], mos[mos < 0.8])
    assert low.good_from == 0.7 and any("good cut" in n for n in low.notes)
    rows = [
        ("ct" if i % 2 else "mr", float(s), float(m))
        for i, (s, m) in enumerate(zip(scores, mos, strict=True))
    ]
    assert set(calibrate_families(rows)) == {"ct", "mr"}
    assert family_key("ct", "chest", "lung_window") == "ct/chest/lung_window" and family_key("mr") == "mr"


def test_stored_family_bands_drive_the_runtime_grade(tmp_path):
    registry_file = tmp_path / "models.json"
    shutil.copyfile(registry_path(), registry_file)
    name = "mediqa-scorer-placeholder"
    strict = calibrate_family("mr", [0.1, 0.2, 0.97, 0.98, 0.99], [0.1, 0.2, 0.5, 0.8, 0.95])
    assert strict.poor_below == pytest.approx(0.585)
    store_family_grades(name, {"mr/head": strict}, registry_file)
    raw = json.loads(registry_file.read_text())
    record = next(m for m in raw["models"] if m["name"] == name)
    assert set(record["grades_by_family"]) == {"mr/head"}
    assert record["metrics"]["calibration"]["mr/head"]["n"] == 5

    rec = load_registry(registry_file).get(name, "scorer")
    assert rec.grade(0.5, "mr", "head", "t1").name == "poor"  # family bands: 0.5 is below 0.585
    assert rec.grade(0.5, "ct", "head", "brain_window").name == "acceptable"  # general bands elsewhere
    assert rec.grade(0.5).name == "acceptable"

    # a family whose bands call everything below 0.999 poor: the runtime's grade and flag follow them
    harsh = FamilyCalibration("mr/head", 10, 0.999, 0.999, None, None)
    store_family_grades(name, {"mr/head": harsh}, registry_file)
    image = mr_slice(size=64)
    general = Assessor(name, classifier="mediqa-classifier-placeholder", device="cpu")
    calibrated = Assessor(
        name, classifier="mediqa-classifier-placeholder", device="cpu", registry=registry_file
    )
    a = general.score(image, modality="mr", region="head", type="t1")
    b = calibrated.score(image, modality="mr", region="head", type="t1")
    assert a.score == b.score < 0.999
    assert (a.grade, a.flagged) == ("good", False) and (b.grade, b.flagged) == ("poor", True)
    c = calibrated.score(image, modality="mr", region="breast", type="t1")
    assert c.grade == "good"  # no family bands for mr/breast: the general ones

    with pytest.raises(RegistryError, match="no model 'nope'"):
        store_family_grades("nope", {"mr": strict}, registry_file)
    record["grades_by_family"] = {"mr": [{"name": "poor", "lower": "low", "upper": 0.5}]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(RegistryError, match=r"grades_by_family\.mr: each band needs"):
        load_registry(bad)


def test_a_family_the_score_does_not_separate_gets_no_bands(tmp_path):
    """AUC below MIN_AUC: no bands of its own (stale ones removed), the reason kept in metrics.calibration."""
    registry_file = tmp_path / "models.json"
    shutil.copyfile(registry_path(), registry_file)
    name = "mediqa-scorer-placeholder"
    good = calibrate_family("mr", [0.1, 0.2, 0.97, 0.98, 0.99], [0.1, 0.2, 0.5, 0.8, 0.95])
    store_family_grades(name, {"mr/head": good}, registry_file)
    backwards = calibrate_family("mr", [0.9, 0.8, 0.3, 0.2, 0.1], [0.1, 0.2, 0.5, 0.8, 0.95])
    assert backwards.nondiagnostic is not None and backwards.nondiagnostic.auc < MIN_AUC
    store_family_grades(name, {"mr/head": backwards}, registry_file)
    record = next(m for m in json.loads(registry_file.read_text())["models"] if m["name"] == name)
    assert "mr/head" not in record.get("grades_by_family", {})
    stats = record["metrics"]["calibration"]["mr/head"]
    assert stats["stored"] is False and "AUC" in stats["why_not_stored"]
    assert (
        load_registry(registry_file).get(name, "scorer").grade(0.5, "mr", "head", "t1").name == "acceptable"
    )


def test_a_family_whose_good_images_are_not_separated_gets_no_bands(tmp_path):
    """Non-diagnostic images separated, good ones not: a good cut would leave no acceptable band, so none."""
    registry_file = tmp_path / "models.json"
    shutil.copyfile(registry_path(), registry_file)
    name = "mediqa-scorer-placeholder"
    mos = [0.1, 0.2, 0.5, 0.6, 0.7, 0.92, 0.95]
    cal = calibrate_family("ct", [0.1, 0.15, 0.9, 0.85, 0.8, 0.3, 0.4], mos)
    assert cal.nondiagnostic is not None and cal.nondiagnostic.auc >= MIN_AUC
    assert cal.good is not None and cal.good.auc < MIN_AUC
    store_family_grades(name, {"ct": cal}, registry_file)
    record = next(m for m in json.loads(registry_file.read_text())["models"] if m["name"] == name)
    assert "ct" not in record.get("grades_by_family", {})
    stats = record["metrics"]["calibration"]["ct"]
    assert stats["stored"] is False
    assert stats["why_not_stored"] == f"good AUC {cal.good.auc:.3f} < {MIN_AUC}: the score does not separate"
