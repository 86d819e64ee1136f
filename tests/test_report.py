"""Per-scan reports: the montage shows what was scored, the page holds every fact, nothing is scored twice."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest

from mediqa_sdk.errors import ScanReadError
from mediqa_sdk.registry import GradeBand
from mediqa_sdk.report._text import header_facts, physics_phrase, round_sig, slugify
from mediqa_sdk.report.montage import MontageLayout, draw_montage, montage_thumbnail
from mediqa_sdk.result import PhysicsEstimate

from .io_fixtures import write_dicom_series
from .synthetic import ct_volume, fundus_photo

BANDS = (
    GradeBand("poor", 0.0, 0.4, True),
    GradeBand("acceptable", 0.4, 0.7, False),
    GradeBand("good", 0.7, 1.0, False),
)


def _nifti(path: Path, vol: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.int16), np.diag([1, 1, 2, 1.0])), path)
    return path


@pytest.fixture(scope="module")
def ct_file(tmp_path_factory) -> Path:
    return _nifti(tmp_path_factory.mktemp("ct") / "chest ct.nii.gz", ct_volume(16))


def _embedded_pngs(html: str) -> list[np.ndarray]:
    out = []
    for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html):
        out.append(cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR))
    return out


def test_report_writes_a_self_contained_page_and_the_montage(assessor, ct_file, tmp_path):
    result = assessor.score(ct_file, modality="ct", region="chest")
    files = assessor.report(result, tmp_path / "qc")
    assert files.html == tmp_path / "qc" / "chest_ct.html" and files.png == tmp_path / "qc" / "chest_ct.png"
    html = files.html.read_text(encoding="utf-8")
    # self-contained: no external resource
    assert not re.search(r'(src|href)="(https?:|//|file:)', html) and "<link" not in html
    [embedded] = _embedded_pngs(html)
    montage = cv2.imread(str(files.png), cv2.IMREAD_COLOR)
    assert np.array_equal(embedded, montage)
    # a chest CT is scored in two windows: two rows of 7 tiles of 224 px
    lay = MontageLayout(n_slices=7, n_rows=2)
    assert montage.shape == (lay.height, lay.width, 3)
    assert [w.type for w in result.windows] == ["lung_window", "soft_window"]
    # the page holds the facts a reader needs
    for text in (
        f"{result.score:.3f}",
        result.grade,
        "lung_window",
        "override",  # prompt sources
        "noise like ~",  # physics in physical units
        result.provenance.scorer.sha256,
        result.provenance.input_sha256,
        "CPUExecutionProvider",
    ):
        assert text in html, text
    assert html.count('class="gradescale"') == 1 and ">poor (flagged)<" in html


def test_montage_tiles_are_the_pixels_the_scorer_saw(assessor, ct_file):
    result = assessor.score(ct_file, modality="ct", region="abdomen")
    views = assessor.scored_views(result)
    [(window, pictures)] = views.windows
    assert window == "soft_window" and pictures.shape == (7, 224, 224) and pictures.dtype == np.uint8
    # the network input of the soft-tissue window (the one window of an abdomen), mapped back to 0..255
    _, [(_, x, _)] = assessor.network_inputs(ct_file, modality="ct", region="abdomen")
    pre = assessor.scorer.preprocess
    assert np.abs(pictures.astype(int) - np.round((x[:, 0] * pre.std[0] + pre.mean[0]) * 255)).max() <= 1
    montage = draw_montage(result, views, BANDS)
    lay = MontageLayout(n_slices=7, n_rows=1)
    for k in (0, 6):
        x0, y0 = lay.tile_origin(0, k)
        assert np.array_equal(montage[y0 : y0 + 224, x0 : x0 + 224, 0], pictures[k])
    thumb = montage_thumbnail(montage, 7, height=32)
    assert thumb.shape[0] == 32 and thumb.shape[1] > 7 * 32


def test_views_kept_after_scoring_equal_views_read_again(assessor, ct_file):
    from mediqa_sdk import Assessor

    result = assessor.score(ct_file, modality="ct", region="chest")
    kept = assessor.scored_views(result)
    again = Assessor(device="cpu").scored_views(result)  # a fresh Assessor has nothing kept: reads the file
    assert [w for w, _ in kept.windows] == [w for w, _ in again.windows]
    for (_, a), (_, b) in zip(kept.windows, again.windows, strict=True):
        assert np.array_equal(a, b)


def test_a_changed_input_is_not_drawn_as_if_it_were_the_scored_one(assessor, tmp_path):
    from mediqa_sdk import Assessor

    path = _nifti(tmp_path / "ct.nii.gz", ct_volume(12))
    result = assessor.score(path, modality="ct")
    _nifti(path, ct_volume(12, noise_hu=60, seed=3))
    with pytest.raises(ScanReadError, match="changed since it was scored"):
        Assessor(device="cpu").scored_views(result)


def test_array_results_need_the_array_once_their_pictures_are_gone(assessor, tmp_path):
    from mediqa_sdk import Assessor

    photo = fundus_photo()
    result = assessor.score(photo)
    other = Assessor(device="cpu")
    with pytest.raises(ValueError, match="source="):
        other.report(result, tmp_path)
    files = other.report(result, tmp_path / "fundus.html", source=photo)
    assert files.png == tmp_path / "fundus.png"
    assert cv2.imread(str(files.png)).shape[1] >= 224


def test_dicom_header_facts_and_instances_reach_the_report(assessor, tmp_path):
    vol = (ct_volume(10, 48) + 1024).astype(np.int16)
    files = write_dicom_series(
        tmp_path / "ser",
        vol,
        extra={"KVP": 120, "Exposure": 250, "CTDIvol": 12.5, "ConvolutionKernel": "B30f"},
        description="ABDOMEN 2mm",
    )
    result = assessor.score(tmp_path / "ser")
    views = assessor.scored_views(result)
    assert len(views.files) == len(files) and len(views.instance_uids) == 7
    html = assessor.report(result, tmp_path / "qc").html.read_text(encoding="utf-8")
    for text in ("120 kVp", "250 mAs", "12.5 mGy", "B30f", "2 mm", "ABDOMEN 2mm", "(header: 250 mAs)"):
        assert text in html, text


def test_text_helpers():
    assert [round_sig(v) for v in (206.4, 41.2, 0.483, 3.0, 1500.0)] == ["210", "41", "0.48", "3.0", "1500"]
    ct = PhysicsEstimate("ct_dose", 41.2, "mAs", 0.4)
    assert (
        physics_phrase(ct, {"kvp": 120.0, "exposure_mas": 250.0})
        == "noise like ~41 mAs at 120 kVp (header: 250 mAs)"
    )
    assert physics_phrase(ct, {}) == "noise like ~41 mAs"
    mr = PhysicsEstimate("mr_field_strength", 0.52, "T", 0.4)
    assert physics_phrase(mr, {"field_strength_t": 3.0}) == "SNR like ~0.52 T (header: 3 T)"
    facts = dict(
        header_facts(
            {"kvp": 120.0, "field_strength_t": 1.5, "series_uid": "1.2.3", "sop_instance_uids": ("1",)}
        )
    )
    assert facts == {"Tube voltage": "120 kVp", "Field strength": "1.5 T"}
    assert (
        slugify("ct scan é.nii.gz") == "ct_scan"
        and slugify("dir [series 3: CHEST 1mm]") == "dir_series_3_CHEST_1mm"
    )
    assert slugify("///") == "scan"


def test_reports_never_import_torch_or_matplotlib():
    code = (
        "import sys\n"
        "import mediqa_sdk.report.batch, mediqa_sdk.report.sr, mediqa_sdk.report.cli_outputs\n"
        "print([m for m in ('torch', 'matplotlib', 'highdicom') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
