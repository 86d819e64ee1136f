"""DICOM Structured Reports of quality results: a TID 1500 measurement report per DICOM series (highdicom).

Content (one image-level TID 1501 measurement group):

- measurement ``(111029, DCM, "Image Quality Rating")`` = the score (0..1, UCUM ``1``), referencing the
  salient slices it was computed on, with the scorer as algorithm identification (name, version;
  parameters: graph sha256, SDK version, scored windows);
- the physical estimates as measurements (private codes ``99MEDIQA``; units ``mA.s``, ``T``);
- qualitative evaluation ``(111101, DCM, "Image Quality")`` = the grade, coded from CID 7036 "Image Quality
  Assessment": good -> RID12 Diagnostic quality, acceptable -> RID13 Limited quality, poor -> RID14
  Non-diagnostic quality (other band names: private codes);
- observer: the device (mediqa-sdk and the scorer); the evidence lists every instance of the source series.

A new series in the source study holds each SR. Needs ``pip install "mediqa-sdk[sr]"``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import MissingDependencyError, ScanReadError
from ..io import DEFAULT_LIMITS
from ..result import QualityResult

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["GRADE_CODES", "PRIVATE_SCHEME", "SR_EXTRA", "require_highdicom", "write_sr"]

SR_EXTRA = 'pip install "mediqa-sdk[sr]"'
PRIVATE_SCHEME = "99MEDIQA"
# grade band name -> (code value, scheme, meaning) from CID 7036 Image Quality Assessment
GRADE_CODES = {
    "good": ("RID12", "RADLEX", "Diagnostic quality"),
    "acceptable": ("RID13", "RADLEX", "Limited quality"),
    "poor": ("RID14", "RADLEX", "Non-diagnostic quality"),
}
_PHYSICS_CODES = {
    "ct_dose": ("ct_dose", "Noise-equivalent tube current-time product"),
    "mr_field_strength": ("mr_field_strength", "SNR-equivalent main field strength"),
}
_PATIENT_STUDY_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
_DATE_TIME = {  # what a valid DA / TM value looks like (anonymisers write "***" and the like)
    "PatientBirthDate": r"(\d{8})?",
    "StudyDate": r"(\d{8})?",
    "StudyTime": r"(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?",
}
_UCUM = {"mAs": ("mA.s", "milliampere second"), "T": ("T", "Tesla")}


def require_highdicom() -> Any:
    """The highdicom module, or :class:`MissingDependencyError` naming the extra to install."""
    try:
        import highdicom
    except ImportError as err:
        raise MissingDependencyError(
            f"DICOM Structured Reports need highdicom, which is not installed: {SR_EXTRA}"
        ) from err
    return highdicom


def _headers(files: Sequence[Path], series_uid: str | None) -> list[Dataset]:
    """Headers (pixel data deferred) of the series' image instances, one per SOPInstanceUID."""
    from ..io._dicom_meta import read_header

    out: dict[str, Dataset] = {}
    for path in files:
        ds, _ = read_header(Path(path), DEFAULT_LIMITS)
        uid = str(ds.get("SOPInstanceUID", "") or "")
        if not uid or not ds.get("SOPClassUID"):
            continue
        if series_uid and str(ds.get("SeriesInstanceUID", "")) != series_uid:
            continue
        if "PixelData" in ds:
            del ds.PixelData  # the evidence needs the header only
        # anonymised files drop or mask these; the SR copies them (type 2), so they must be valid or empty
        for keyword in _PATIENT_STUDY_TYPE2:
            pattern = _DATE_TIME.get(keyword, ".*")
            if keyword not in ds or not re.fullmatch(pattern, str(ds.get(keyword) or "").strip(), re.S):
                setattr(ds, keyword, None)
        age = str(ds.get("PatientAge") or "").strip()
        if "PatientAge" in ds and not re.fullmatch(r"(\d{3}[DWMY])?", age):
            del ds.PatientAge  # type 3, copied into the SR; "***" is not an age string
        out.setdefault(uid, ds)
    return list(out.values())


def write_sr(
    result: QualityResult,
    files: Sequence[Path],
    out: str | Path,
    *,
    instance_uids: Sequence[str] = (),
    name: str | None = None,
) -> Path:
    """Write the SR of ``result`` (a DICOM series) and return its path.

    Args:
        result: the scored result of a DICOM input.
        files: the series' files (the evidence the SR references).
        out: a directory (created; the file is ``<name>.sr.dcm``) or a file path ending in ``.dcm``.
        instance_uids: SOPInstanceUID of each salient slice (referenced by the score).
        name: file stem (default: from the result's label).

    Raises:
        MissingDependencyError: highdicom is not installed.
        ScanReadError: the input is not DICOM or its files hold no image instance.
    """
    hd = require_highdicom()
    from pydicom.dataset import Dataset
    from pydicom.sr.coding import Code
    from pydicom.uid import generate_uid

    from ._text import slugify

    if result.provenance.input_format != "dicom":
        raise ScanReadError(f"{result.label}: not a DICOM input, so no DICOM SR can reference it")
    evidence = _headers(files, result.header.get("series_uid"))
    if not evidence:
        raise ScanReadError(f"{result.label}: no DICOM image instance to reference")
    classes = {str(ds.SOPInstanceUID): str(ds.SOPClassUID) for ds in evidence}
    scorer = result.provenance.scorer
    algorithm = hd.sr.AlgorithmIdentification(
        name=scorer.name,
        version=scorer.version,
        parameters=[
            f"sha256={scorer.sha256}",
            f"mediqa-sdk={__version__}",
            "windows=" + ",".join(w.type for w in result.windows),
        ],
    )
    salient = [
        hd.sr.SourceImageForMeasurement(classes[uid], uid)
        for uid in dict.fromkeys(instance_uids)
        if uid in classes
    ]
    measurements = [
        hd.sr.Measurement(
            name=Code("111029", "DCM", "Image Quality Rating"),
            value=float(result.score),
            unit=Code("1", "UCUM", "no units"),
            algorithm_id=algorithm,
            referenced_images=salient or None,
        )
    ]
    for estimate in result.physics:
        value, meaning = _PHYSICS_CODES.get(
            estimate.name, (estimate.name, estimate.description or estimate.name)
        )
        unit, unit_meaning = _UCUM.get(estimate.unit, ("1", "no units"))
        measurements.append(
            hd.sr.Measurement(
                name=Code(value[:16], PRIVATE_SCHEME, meaning[:64]),
                value=float(estimate.value),
                unit=Code(unit, "UCUM", unit_meaning),
                algorithm_id=algorithm,
            )
        )
    evaluations = []
    if result.grade not in ("", "ungraded"):
        code = GRADE_CODES.get(result.grade, (result.grade[:16], PRIVATE_SCHEME, result.grade[:64]))
        evaluations.append(
            hd.sr.QualitativeEvaluation(name=Code("111101", "DCM", "Image Quality"), value=Code(*code))
        )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="image quality"),
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
    )
    device = hd.sr.ObserverContext(
        observer_type=Code("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[scorer.sha256]),
            name="mediqa-sdk",
            manufacturer_name="mediqa-sdk",
            model_name=scorer.name,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=Code("133887000", "SCT", "Image quality analysis"),
        imaging_measurements=[group],
    )
    with warnings.catch_warnings():  # highdicom's remarks on the source's patient name are not ours to make
        warnings.simplefilter("ignore", UserWarning)
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence,
            content=report,
            series_instance_uid=generate_uid(),
            series_number=9901,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="mediqa-sdk",
            is_complete=True,
            is_final=False,
            is_verified=False,
        )
    if (
        str(sr.get("PatientIdentityRemoved", "")).upper() == "YES"
        and not sr.get("DeidentificationMethod")
        and not sr.get("DeidentificationMethodCodeSequence")
    ):  # required then (type 1C); some de-identified sources leave it empty
        sr.DeidentificationMethod = "not recorded in the source images"
    if PRIVATE_SCHEME in {m.name.scheme_designator for m in measurements}:
        scheme = Dataset()
        scheme.CodingSchemeDesignator = PRIVATE_SCHEME
        scheme.CodingSchemeName = "mediqa-sdk quality codes"
        scheme.CodingSchemeResponsibleOrganization = "mediqa-sdk"
        sr.CodingSchemeIdentificationSequence = [*sr.get("CodingSchemeIdentificationSequence", []), scheme]
    sr.SeriesDescription = f"Image quality ({scorer.name})"[:64]
    sr.SoftwareVersions = f"mediqa-sdk {__version__}"[:64]
    out = Path(out)
    path = out if out.suffix.lower() == ".dcm" else out / f"{name or slugify(result.label)}.sr.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(path)
    return path
