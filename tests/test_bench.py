"""The performance harness's input generators and report renderer (bench/): shapes, realism, tables;
the CT noise estimator of bench/ct_noise_levels.py."""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import _inputs  # noqa: E402
import _render  # noqa: E402
from ct_noise_levels import noise_hu  # noqa: E402


def _gzip_ratio(array: np.ndarray) -> float:
    raw = np.ascontiguousarray(array).tobytes()
    return len(raw) / len(zlib.compress(raw, 6))


def test_ct_volume_is_int16_hu_with_anatomy_and_compresses_like_a_scan() -> None:
    vol = _inputs.ct_volume(n_slices=12, size=128, seed=0)
    assert vol.shape == (12, 128, 128) and vol.dtype == np.int16
    assert vol.min() == -1024 and vol.max() <= 3071  # outside the reconstruction circle / HU ceiling
    centre = vol[:, 48:80, 48:80]
    assert np.mean(centre > -500) > 0.3  # body, not air, in the middle of every slice set
    assert np.mean(vol < -950) > 0.2  # air around the body and in the lungs
    assert np.percentile(vol, 99.9) > 500  # bone (spine)
    # real 512x512 CT .nii.gz files compress about 2-3:1; random int16 ~1.2:1, a constant phantom > 20:1
    assert 1.8 < _gzip_ratio(vol) < 4.0
    assert np.array_equal(vol, _inputs.ct_volume(n_slices=12, size=128, seed=0))  # deterministic


def test_mr_volume_has_rician_background_and_a_head_in_most_slices() -> None:
    vol = _inputs.mr_volume(n_slices=20, size=64, seed=1)
    assert vol.shape == (20, 64, 64) and vol.dtype == np.int16
    assert vol.min() >= 0
    corner = vol[:, :4, :4].astype(float)
    assert 5 < corner.mean() < 30  # Rayleigh noise floor (sigma 12), not zeros
    head = [bool(np.mean(s > 200) > 0.05) for s in vol]
    assert 0.6 < np.mean(head) < 1.0  # empty slices above and below the head
    assert 1.5 < _gzip_ratio(vol) < 4.0


def test_fundus_image_is_an_rgb_disc_on_black() -> None:
    img = _inputs.fundus_image(size=128, seed=2)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert img[:3, :3].max() == 0  # outside the illuminated field
    r, g, b = (float(img[40:90, 40:90, c].mean()) for c in range(3))
    assert r > g > b  # orange-red retina


def test_nifti_writer_round_trips_through_the_runtime_in_display_orientation(tmp_path: Path) -> None:
    from mediqa_sdk.io import load_scan

    vol = _inputs.ct_volume(n_slices=6, size=64, seed=3)
    path = _inputs.write_nifti(tmp_path / "ct.nii.gz", vol, (2.0, 0.7, 0.7))
    scan = load_scan(path)
    assert scan.axis == "axial"
    assert scan.spacing == pytest.approx((2.0, 0.7, 0.7), rel=1e-5)
    assert np.array_equal(np.asarray(scan.slices), vol.astype(np.float32))


def test_dicom_series_writer_round_trips_in_hu(tmp_path: Path) -> None:
    from mediqa_sdk.io import load_scan

    vol = _inputs.ct_volume(n_slices=5, size=32, seed=4)
    files = _inputs.write_dicom_series(tmp_path / "series", vol, (1.25, 0.74, 0.74))
    assert len(files) == 5
    scan = load_scan(tmp_path / "series")
    assert scan.format == "dicom" and scan.metadata["modality"] == "ct"
    assert np.array_equal(np.asarray(scan.slices), vol.astype(np.float32))


def _sample_results() -> dict:
    stages = {"load": 0.5, "select": 0.05, "preprocess": 0.1, "classify": 0.02, "score": 0.1, "report": 0.0}
    return {
        "date": "2026-01-01 00:00 UTC",
        "command": "python bench/perf.py --quick",
        "quick": True,
        "provisional": True,
        "note": "a training job was running.",
        "machine": {"cpu": "Test CPU", "cores": 2, "load_before": [1.0, 1.0, 1.0], "load_after": [2, 2, 2]},
        "repeats": {"process": 2, "api": 3},
        "inputs": [
            {
                "name": "ct_nifti",
                "title": "chest CT 512x512x300 int16 .nii.gz",
                "bytes": 63 * 2**20,
                "floor": {"wall_s": 1.0, "rss_mib": 300},
                "cli": {
                    "wall_s": 1.2,
                    "rss_mib": 400,
                    "stages": {**stages, "total": 0.77},
                    "outside_s": 0.43,
                },
                "api": {"wall_s": 0.75, "stages": {**stages, "total": 0.77}},
                "ratio": 1.2,
                "target": 1.3,
            }
        ],
        "throughput": [
            {
                "title": "folder of 500 mixed 2D images",
                "scans": 500,
                "failed": 0,
                "wall_s": 10.0,
                "scans_per_s": 50.0,
                "input_slices_per_s": 50,
                "scored_slices_per_s": 55,
                "inference_share": 0.25,
                "load_share": 0.6,
            }
        ],
        "cold_start": {"help": {"wall_s": 0.1, "target": 0.3}, "score_2d": {"wall_s": 1.7, "target": 1.5}},
        "paper": {
            "config": "paper-vitb8",
            "params_m": 134.2,
            "paper_7_slices_s": 14.0,
            "paper_runs": 1,
            "shipped": "mediqa-scorer-cnn",
            "shipped_params_m": 2.0,
            "shipped_7_slices_s": 0.02,
            "shipped_runs": 9,
            "speedup": 700.0,
        },
    }


def test_renderer_writes_the_tables_from_the_json() -> None:
    page = _render.render_markdown(_sample_results())
    assert page.startswith("# Performance — provisional (machine busy)")
    assert (
        "| chest CT 512x512x300 int16 .nii.gz | 63.0 | 1.00 | 1.20 | 1.20 | 1.3 | 0.750 | 400 | 300 |" in page
    )
    assert "met (1.20x vs <= 1.3x)" in page  # the CT target
    assert "NOT met (1.70 s vs <= 1.5 s)" in page  # first 2D score above its target
    assert "| folder of 500 mixed 2D images | 500 | 0 | 10.00 | 50.00 | 50 | 55 | 25 % | 60 % |" in page
    assert "**700 x**" in page
    assert "No GPU was available in this session" in page


def test_renderer_keeps_hand_written_notes(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    data = _sample_results()
    _render.write_markdown(data, page)
    text = page.read_text().replace(
        f"{_render.NOTES_BEGIN}\n\n{_render.NOTES_END}",
        f"{_render.NOTES_BEGIN}\nWhy it is slow.\n{_render.NOTES_END}",
    )
    page.write_text(text)
    data["inputs"][0]["ratio"] = 1.25
    (tmp_path / "r.json").write_text(json.dumps(data))
    _render.main([str(tmp_path / "r.json"), str(page)])
    new = page.read_text()
    assert "Why it is slow." in new and "| 1.25 |" in new


def test_the_noise_estimate_of_bench_ct_noise_levels_reads_white_noise_in_soft_tissue() -> None:
    rng = np.random.default_rng(0)
    body = np.full((6, 96, 96), -1000.0, np.float32)
    body[:, 16:80, 16:80] = 40.0  # a soft-tissue block in air
    for sigma in (2.0, 8.0):
        noisy = body + rng.normal(0, sigma, body.shape).astype(np.float32)
        assert noise_hu(noisy) == pytest.approx(sigma, rel=0.15)
    assert noise_hu(body) == 0.0
    assert np.isnan(noise_hu(np.full((2, 64, 64), -1000.0, np.float32)))  # no soft tissue
