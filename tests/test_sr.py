"""DICOM Structured Reports: TID 1500 per series, re-read with pydicom, checked by dciodvfy when installed."""

from __future__ import annotations

import builtins
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main

from .io_fixtures import write_dicom_series
from .synthetic import ct_volume, mr_slice

pytest.importorskip("highdicom")


def _items(seq):
    return list(seq) if seq is not None else []


def _walk(items):
    """Every content item of an SR tree, depth first."""
    for item in _items(items):
        yield item
        yield from _walk(item.get("ContentSequence"))


def _named(ds, meaning: str):
    return [i for i in _walk(ds.ContentSequence) if i.ConceptNameCodeSequence[0].CodeMeaning == meaning]


@pytest.fixture()
def series(tmp_path: Path) -> tuple[Path, list[Path]]:
    vol = (ct_volume(10, 48) + 1024).astype(np.int16)
    files = write_dicom_series(
        tmp_path / "study" / "ct",
        vol,
        extra={
            "KVP": 120,
            "Exposure": 200,
            "PatientID": "QA-1",
            "StudyDate": "20240102",
            "StudyTime": "101500",
        },
        description="CHEST 2mm",
    )
    return tmp_path / "study", files


def _score_with_sr(*args: str):
    return CliRunner().invoke(main, ["score", "--format", "json", *args], catch_exceptions=False)


def test_sr_per_series_references_the_source_and_holds_score_grade_and_algorithm(series, tmp_path):
    import json

    import pydicom

    study, files = series
    out = tmp_path / "sr"
    res = _score_with_sr(str(study), "-r", "--dicom-sr", str(out))
    assert res.exit_code == 0, res.stderr
    result = json.loads(res.stdout)
    [path] = sorted(out.glob("*.sr.dcm"))
    ds = pydicom.dcmread(path)
    src = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.Modality == "SR" and ds.StudyInstanceUID == src.StudyInstanceUID and ds.PatientID == "QA-1"
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    # the evidence lists every instance of the source series
    [evidence] = ds.CurrentRequestedProcedureEvidenceSequence
    [ref_series] = evidence.ReferencedSeriesSequence
    assert ref_series.SeriesInstanceUID == src.SeriesInstanceUID
    sources = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
    assert {r.ReferencedSOPInstanceUID for r in ref_series.ReferencedSOPSequence} == sources
    # the score, referencing the salient slices it was computed on
    [rating] = _named(ds, "Image Quality Rating")
    value = rating.MeasuredValueSequence[0]
    assert float(value.NumericValue) == pytest.approx(result["score"], abs=1e-6)
    assert value.MeasurementUnitsCodeSequence[0].CodeValue == "1"
    salient = {
        i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for i in _walk(rating.ContentSequence)
        if "ReferencedSOPSequence" in i
    }
    assert salient and salient <= sources
    # the grade as a coded value
    [grade] = _named(ds, "Image Quality")
    code = grade.ConceptCodeSequence[0]
    expected = {"good": "RID12", "acceptable": "RID13", "poor": "RID14"}[result["grade"]]
    assert (code.CodingSchemeDesignator, code.CodeValue) == ("RADLEX", expected)
    # the model as algorithm identification
    names = {i.TextValue for i in _named(ds, "Algorithm Name")}
    versions = {i.TextValue for i in _named(ds, "Algorithm Version")}
    assert result["provenance"]["scorer"]["name"] in names
    assert result["provenance"]["scorer"]["version"] in versions
    params = {i.TextValue for i in _named(ds, "Algorithm Parameters")}
    assert f"sha256={result['provenance']['scorer']['sha256']}" in params
    # the physics estimate in UCUM units
    [dose] = _named(ds, "Noise-equivalent tube current-time product")
    assert dose.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "mA.s"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian: dicom3tools) not installed")
def test_sr_passes_dciodvfy(series, tmp_path):
    study, _ = series
    out = tmp_path / "sr"
    assert _score_with_sr(str(study), "-r", "--dicom-sr", str(out)).exit_code == 0
    [path] = sorted(out.glob("*.sr.dcm"))
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    report = done.stdout + done.stderr
    errors = [line for line in report.splitlines() if line.startswith("Error")]
    assert not errors, report
    assert "Comprehensive3DSR" in report


def test_non_dicom_inputs_get_a_note_and_no_sr(tmp_path):
    import cv2

    png = tmp_path / "slice.png"
    cv2.imwrite(str(png), (mr_slice(64) / 2.5).astype(np.uint16) * 100)
    res = _score_with_sr(str(png), "--dicom-sr", str(tmp_path / "sr"))
    assert res.exit_code == 0
    assert "slice.png: not DICOM, no DICOM SR written" in res.stderr
    assert not (tmp_path / "sr").exists() or not any((tmp_path / "sr").iterdir())


def test_missing_highdicom_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_highdicom(name, *args, **kwargs):
        if name == "highdicom" or name.startswith("highdicom."):
            raise ImportError("No module named 'highdicom'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_highdicom)
    res = CliRunner().invoke(main, ["score", str(tmp_path), "--dicom-sr", str(tmp_path / "sr")])
    assert res.exit_code == 2
    assert 'pip install "mediqa-sdk[sr]"' in res.output


def test_values_masked_by_anonymisers_do_not_break_the_sr(tmp_path):
    import warnings

    import pydicom

    vol = (ct_volume(8, 32) + 1024).astype(np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values, which is the point
        write_dicom_series(
            tmp_path / "anon",
            vol,
            extra={"PatientAge": "***", "StudyDate": "***", "PatientBirthDate": "19xx"},
        )
    out = tmp_path / "sr"
    res = _score_with_sr(str(tmp_path / "anon"), "--dicom-sr", str(out))
    assert res.exit_code == 0, res.stderr
    [path] = sorted(out.glob("*.sr.dcm"))
    ds = pydicom.dcmread(path)
    assert "PatientAge" not in ds and not ds.StudyDate and not ds.PatientBirthDate
    if shutil.which("dciodvfy"):
        done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        assert not [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]
