"""The Python API end to end on arrays and small files: results, provenance, determinism, batching."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mediqa_sdk import QualityResult
from mediqa_sdk.errors import PromptError, ScanReadError

from .conftest import REPO
from .synthetic import ct_volume, fundus_photo, mr_slice


def _nifti(path: Path, vol_dhw: np.ndarray, spacing: float = 2.0) -> Path:
    """Write a [D, H, W] HU volume as an axial RAS NIfTI (x = columns, y = rows flipped, z = slices)."""
    data = np.transpose(vol_dhw, (2, 1, 0))[:, ::-1, :].astype(np.int16)
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.8, spacing, 1.0])), path)
    return path


def test_a_ct_volume_gets_a_complete_result(assessor):
    vol = ct_volume(n_slices=24)
    result = assessor.score(vol, modality="ct", region="chest")
    assert isinstance(result, QualityResult)
    assert 0.0 <= result.score <= 1.0 and result.dim == "3d"
    assert len(result.slice_indices) == 7 and all(3 <= i <= 20 for i in result.slice_indices)
    assert sum(result.slice_weights) == pytest.approx(1.0, abs=1e-5)
    assert [w.type for w in result.windows] == ["lung_window", "soft_window"]
    assert result.score == pytest.approx(np.mean([w.score for w in result.windows]), abs=1e-6)
    assert result.prompts["modality"].source == "override"
    assert [p.name for p in result.physics] == ["ct_dose"] and result.physics[0].unit == "mAs"
    prov = result.provenance
    assert prov.scorer.sha256 == assessor.scorer.sha256 and prov.providers == ("CPUExecutionProvider",)
    assert len(prov.input_sha256) == 64
    assert {"load", "select", "preprocess", "score", "total"} <= set(prov.timings)
    json.dumps(result.to_dict(), allow_nan=False)
    # honest about untrained weights: a placeholder model says so in every result
    assert any("placeholder" in w for w in result.warnings) == assessor.scorer.placeholder


def test_scores_are_bitwise_repeatable_and_independent_of_batch_company(assessor, tmp_path):
    paths = [
        _nifti(tmp_path / f"ct{i}.nii.gz", ct_volume(n_slices=16, noise_hu=5 + 20 * i, seed=i))
        for i in range(3)
    ]
    alone = [assessor.score(p, modality="ct") for p in paths]
    again = [assessor.score(p, modality="ct") for p in paths]
    batched = assessor.score_many(paths, batch_size=3, modality="ct")
    for a, b, c in zip(alone, again, batched, strict=True):
        assert a.score == b.score == c.score
        assert a.slice_scores == c.slice_scores and a.slice_indices == c.slice_indices


def test_the_shipped_scorer_ranks_noise_on_a_real_scan(assessor):
    from mediqa_sdk.io import load_scan

    scan = load_scan(REPO / "examples" / "data" / "head_ct.nii.gz")
    volume = np.stack([scan.slices[i] for i in range(scan.n_slices)])
    rng = np.random.default_rng(0)
    scores = [
        assessor.score(volume + rng.normal(0, n, volume.shape).astype(np.float32), modality="ct").score
        for n in (0.0, 10.0, 30.0)
    ]
    assert scores[0] > scores[1] > scores[2]


def test_a_constant_volume_is_flagged_not_trusted(assessor):
    result = assessor.score(np.full((10, 32, 32), -1000.0, np.float32), modality="ct")
    assert not result.reliable and result.flagged
    assert any("constant" in w for w in result.warnings)
    assert any("no slice has enough foreground" in w for w in result.warnings)


def test_a_colour_photo_is_recognised_as_fundus_by_the_classifier(assessor):
    result = assessor.score(fundus_photo())
    assert result.dim == "2d" and result.slice_indices == (0,)
    assert result.prompts["modality"].value == "fundus"
    assert result.prompts["modality"].source == "classifier"
    assert result.prompts["region"].value == "eye" and result.physics == ()
    assert result.provenance.classifier is not None


def test_mr_slice_with_overrides_skips_the_classifier(assessor):
    result = assessor.score(mr_slice(), modality="mr", region="head", type="t2")
    assert result.prompts["type"].value == "t2" and result.provenance.classifier is None
    assert [p.name for p in result.physics] == ["mr_field_strength"] and result.physics[0].unit == "T"


def test_bad_prompt_and_bad_array_raise_typed_errors(assessor):
    with pytest.raises(PromptError):
        assessor.score(mr_slice(), modality="xray")
    with pytest.raises(ScanReadError):
        assessor.score(np.full((8, 8), np.nan))


def test_score_many_skips_or_raises_on_failures(assessor, tmp_path):
    good = _nifti(tmp_path / "good.nii.gz", ct_volume(n_slices=12))
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    assert len(assessor.score_many([good, bad], on_error="skip", modality="ct")) == 1
    with pytest.raises(ScanReadError, match=r"bad\.nii\.gz"):
        assessor.score_many([good, bad], modality="ct")


def test_scoring_never_imports_torch(tmp_path):
    path = _nifti(tmp_path / "ct.nii.gz", ct_volume(n_slices=12))
    code = (
        "import sys; from mediqa_sdk import Assessor; "
        f"r = Assessor(device='cpu').score({str(path)!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(r.score)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert 0.0 <= float(done.stdout.strip()) <= 1.0


def test_an_assessor_is_safe_to_share_between_threads(assessor):
    from concurrent.futures import ThreadPoolExecutor

    vols = [ct_volume(n_slices=12, noise_hu=10 + 10 * i, seed=i) for i in range(4)]
    serial = [assessor.score(v, modality="ct").score for v in vols]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda v: assessor.score(v, modality="ct").score, vols * 3))
    assert threaded == serial * 3


def test_an_inference_failure_stays_with_its_own_scan(tmp_path, monkeypatch):
    from mediqa_sdk import Assessor

    local = Assessor(device="cpu")
    paths = [_nifti(tmp_path / f"ct{i}.nii.gz", ct_volume(n_slices=12, seed=i)) for i in range(3)]
    real_feeds = local._feeds

    def feeds(p, probs):
        if p.scan.label.startswith("ct1"):
            raise RuntimeError("simulated onnxruntime failure")
        return real_feeds(p, probs)

    monkeypatch.setattr(local, "_feeds", feeds)
    outcomes = list(local.iter_score(paths, batch_size=3, modality="ct"))
    assert [o.result is not None for o in outcomes] == [True, False, True]
    assert "ct1.nii.gz: could not be scored (RuntimeError" in str(outcomes[1].error)
