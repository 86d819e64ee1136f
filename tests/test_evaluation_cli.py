"""``mediqa evaluate``: scores a manifest through the ONNX runtime, prints metrics, JSON, groups, a plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.evaluation import compute_metrics

from .synthetic import fundus_photo, mr_slice

FAST = ("--model", "mediqa-scorer-placeholder", "--classifier", "mediqa-classifier-placeholder")


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    """10 MR slices of rising noise, scored lower the noisier; one missing file; one unknown prompt."""
    rows = []
    for i in range(10):
        img = mr_slice(size=48, noise=2.0 + 8.0 * i, seed=i)
        cv2.imwrite(str(tmp_path / f"mr{i:02d}.png"), np.clip(img / 3, 0, 255).astype(np.uint8))
        rows.append([f"mr{i:02d}.png", 5.0 - 0.4 * i, "mr", "head", "t1" if i % 2 else "t2", f"p{i // 2}"])
    rows.append(["gone.png", 3.0, "mr", "head", "t1", "px"])
    rows.append(["mr00.png", 4.0, "xray", "head", "t1", "py"])
    path = tmp_path / "scores.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "modality", "region", "type", "group"])
        w.writerows(rows)
    return path


def _run(*args: str):
    return CliRunner().invoke(main, ["evaluate", *FAST, "--bootstrap", "100", *args], catch_exceptions=False)


def test_table_lists_metrics_groups_and_failures(manifest):
    res = _run(str(manifest), "--group-by", "modality,type")
    assert res.exit_code == 1  # two entries failed; the metrics use the rest
    out = res.stdout
    assert "scored:   10/12  (2 failed)" in out
    for name in ("srcc", "krcc", "plcc", "plcc_fitted", "rmse_fitted", "rmse", "overall", "95% CI"):
        assert name in out
    assert "by modality/type:" in out and "mr/t1" in out and "mr/t2" in out
    assert "gone.png: file not found" in out
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and any("gone.png: file not found" in e for e in errors)
    assert any("xray" in e for e in errors) and "Traceback" not in res.stderr


def test_json_schema_and_values_match_the_saved_scores(manifest, tmp_path):
    saved = tmp_path / "per_entry.csv"
    res = _run(str(manifest), "--format", "json", "--group-by", "type", "--save-scores", str(saved))
    data = json.loads(res.stdout)
    assert data["schema"] == "mediqa-evaluation/1"
    assert (data["entries"], data["scored"], data["failed"]) == (12, 10, 2)
    assert data["model"] == "mediqa-scorer-placeholder" and data["scale"] == [1.4, 5.0]
    assert set(data["overall"]) == {"n", "metrics", "ci95", "logistic", "notes"}
    assert set(data["overall"]["metrics"]) == {
        "srcc",
        "krcc",
        "plcc",
        "plcc_fitted",
        "rmse_fitted",
        "rmse",
        "overall",
    }
    assert set(data["groups"]) == {"t1", "t2"} and data["groups"]["t1"]["n"] == 5
    assert {f["path"].rsplit("/", 1)[-1] for f in data["failures"]} == {"gone.png", "mr00.png"}
    assert data["settings"]["bootstrap_resamples"] == 100 and data["ordinal"] is None

    with saved.open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["predicted"]]
    pred = [float(r["predicted"]) for r in rows]
    true = [float(r["true"]) for r in rows]
    again = compute_metrics(pred, true, n_resamples=100, seed=0).to_dict()
    for name, value in again["metrics"].items():
        assert data["overall"]["metrics"][name] == pytest.approx(value, abs=2e-6), name
    assert data["overall"]["ci95"]["srcc"] == pytest.approx(again["ci95"]["srcc"], abs=2e-6)
    # the noisier slices get the lower scores: the placeholder is a noise heuristic
    assert data["overall"]["metrics"]["srcc"] > 0.5


def test_scatter_plot_is_a_readable_png_with_points_and_curve(manifest, tmp_path):
    png = tmp_path / "scatter.png"
    _run(str(manifest), "--plot", str(png), "--limit", "10")
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (640, 800, 3)
    b, g, r = (img[..., k].astype(int) for k in range(3))
    assert ((r > 180) & (g < 90) & (b < 90)).sum() > 100  # the red logistic curve
    assert ((b > 140) & (r < 150)).sum() > 50  # blue points
    assert (img < 80).all(axis=2).sum() > 500  # dark axes, ticks and labels


def test_limit_and_group_by_validation(manifest):
    res = _run(str(manifest), "--limit", "4", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["entries"] == 4
    bad = CliRunner().invoke(main, ["evaluate", str(manifest), "--group-by", "scanner"])
    assert bad.exit_code == 2 and "choose from modality, region, type" in bad.output


def test_a_manifest_with_nothing_scoreable_exits_1(tmp_path):
    (tmp_path / "m.csv").write_text("path,score\na.png,1\nb.png,2\n")
    res = _run(str(tmp_path / "m.csv"))
    assert res.exit_code == 1 and "no entry could be scored" in res.stderr
    assert "correlations undefined" in res.stdout
    (tmp_path / "bad.csv").write_text("path,score\na.png,x\n")
    res = _run(str(tmp_path / "bad.csv"))
    assert res.exit_code == 1 and "is not a number" in res.stderr


def test_eyeq_manifest_reports_cross_calibrated_ordinal_accuracy(tmp_path):
    lines = [",image,quality"]
    for i in range(9):
        quality = i % 3  # 0 Good, 1 Usable, 2 Reject
        photo = fundus_photo(size=64, seed=i)
        photo = cv2.GaussianBlur(photo, (0, 0), 0.5 + 2.0 * quality)
        cv2.imwrite(str(tmp_path / f"{i}_left.jpeg"), np.clip(photo[..., ::-1], 0, 255).astype(np.uint8))
        lines.append(f"{i},{i}_left.jpeg,{quality}")
    (tmp_path / "Label_EyeQ_test.csv").write_text("\n".join(lines) + "\n")
    res = _run(str(tmp_path / "Label_EyeQ_test.csv"), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["manifest"] == "EyeQ" and data["scale"] == [0.0, 2.0]
    o = data["ordinal"]
    assert o["levels"] == [0.0, 0.5, 1.0] and len(o["thresholds"]) == 2 and o["folds"] == 5
    assert 0.0 <= o["accuracy"] <= 1.0 and sum(map(sum, o["confusion"])) == 9
    table = _run(str(tmp_path / "Label_EyeQ_test.csv")).stdout
    assert "ordinal accuracy" in table and "5-fold by group" in table
