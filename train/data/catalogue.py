"""Catalogue of clean anatomy: real scans under ``../shared/data/real`` and procedural phantom kinds.

Each real entry records modality, region, prompt type, licence and a ``group`` (the patient or physical
object it shows): splits are made by group, so two files of one person never land in different sets.
Entries with ``use=False`` are listed for the record (noise-only, phantom-only, duplicates, burned-in
overlays) and never sampled. Dose / field strength: ``None`` means "read the header, else the default"
(200 mAs for CT, 3 T for MR; see :mod:`.labels`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PHANTOMS", "REAL_SOURCES", "PhantomKind", "RealSource", "data_root", "real_sources"]


@dataclass(frozen=True)
class RealSource:
    """One real scan (file or DICOM series directory) usable as clean anatomy."""

    source_id: str
    group: str
    path: str
    modality: str
    region: str
    type: str
    dim: str
    licence: str
    commercial: bool = True
    dose_mas: float | None = None
    field_t: float | None = None
    physical_phantom: bool = False
    use: bool = True
    note: str = ""


@dataclass(frozen=True)
class PhantomKind:
    """A procedural phantom family (see :mod:`.phantoms`)."""

    kind: str
    modality: str
    region: str
    types: tuple[str, ...]


PHANTOMS: tuple[PhantomKind, ...] = (
    PhantomKind("ct_chest", "ct", "chest", ("lung_window", "soft_window")),
    PhantomKind("ct_abdomen", "ct", "abdomen", ("soft_window",)),
    PhantomKind("ct_head", "ct", "head", ("brain_window", "bone_window")),
    PhantomKind("mr_brain", "mr", "head", ("t1", "t2", "flair", "pd")),
    PhantomKind("mr_breast", "mr", "breast", ("t1", "t2")),
    PhantomKind("fundus", "fundus", "eye", ("color",)),
)

_TS = "Apache-2.0 (TotalSegmentator repo; image provenance not stated)"
_BSD2 = "BSD-2-Clause"
_NC = "CC BY-NC 4.0"
_HRF = "CC BY 4.0 (HRF, Budai et al. 2013)"
R = RealSource
REAL_SOURCES: tuple[RealSource, ...] = (
    # ---- CT
    R(
        "ts-ct-abdomen",
        "ts-patient-a",
        "totalsegmentator/example_ct.nii.gz",
        "ct",
        "abdomen",
        "soft_window",
        "3d",
        _TS,
    ),
    R(
        "ts-ct-abdomen-slab",
        "ts-patient-a",
        "totalsegmentator/example_ct_sm.nii.gz",
        "ct",
        "abdomen",
        "soft_window",
        "3d",
        _TS,
        note="probably a crop of example_ct: same group",
    ),
    R(
        "ts-ct-aorta",
        "ts-aorta",
        "totalsegmentator/aorta_report/ct_cropped.nii.gz",
        "ct",
        "chest",
        "soft_window",
        "3d",
        _TS,
        note="CTA crop",
    ),
    R(
        "ts-ct-pulmonary",
        "ts-pulmonary",
        "totalsegmentator/pulmonary_report/ct_cropped.nii.gz",
        "ct",
        "chest",
        "lung_window",
        "3d",
        _TS,
    ),
    R(
        "ts-ct-dicom",
        "ts-dicom",
        "totalsegmentator/example_ct_dicom",
        "ct",
        "abdomen",
        "soft_window",
        "3d",
        _TS,
        note="Siemens Biograph40 mCT, JPEG 2000 lossless",
    ),
    R(
        "dcmqa-ct-ge-head",
        "ge-head",
        "dcmqa-ct/GE",
        "ct",
        "head",
        "brain_window",
        "3d",
        _BSD2,
        note="gantry tilt, variable spacing",
    ),
    R(
        "dcmqa-ct-philips-5mm",
        "philips-head-phantom",
        "dcmqa-ct/Philips/S21570/S2010",
        "ct",
        "head",
        "brain_window",
        "3d",
        _BSD2,
        physical_phantom=True,
        note="physical head phantom, STD 5 mm",
    ),
    R(
        "dcmqa-ct-philips-idose",
        "philips-head-phantom",
        "dcmqa-ct/Philips/S21570/S2020",
        "ct",
        "head",
        "brain_window",
        "3d",
        _BSD2,
        physical_phantom=True,
        note="iDose iterative reconstruction",
    ),
    R(
        "dcmqa-ct-philips-bone",
        "philips-head-phantom",
        "dcmqa-ct/Philips/S21570/S2030",
        "ct",
        "head",
        "bone_window",
        "3d",
        _BSD2,
        physical_phantom=True,
        note="bone kernel",
    ),
    R(
        "niivue-ct-shear",
        "philips-head-phantom",
        "niivue/shear.nii.gz",
        "ct",
        "head",
        "brain_window",
        "3d",
        "BSD-2-Clause (niivue repo)",
        physical_phantom=True,
        note="same phantom as dcmqa-ct Philips",
    ),
    R(
        "nema-ct1-chest",
        "nema-ct1",
        "dicomparser/CT1_UNC.explicit_little_endian.dcm",
        "ct",
        "chest",
        "soft_window",
        "2d",
        "MIT (NEMA sample)",
        note="-3024 HU padding outside the FOV",
    ),
    R(
        "nema-ct0012-head",
        "nema-ct0012",
        "dicomparser/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm",
        "ct",
        "head",
        "brain_window",
        "2d",
        "MIT (NEMA sample)",
        note="enhanced CT, rescale in functional groups",
    ),
    R(
        "dicomparser-ct1-jpegls",
        "nema-ct1",
        "dicomparser/encapsulated/single-frame/CT1_UNC.not_fragmented_bot_jpeg_ls.80.dcm",
        "ct",
        "chest",
        "soft_window",
        "2d",
        "MIT",
        use=False,
        note="JPEG-LS twin of nema-ct1-chest",
    ),
    # ---- MR
    R(
        "sag-anon-t1",
        "sag-anon",
        "sag-anon/dicom",
        "mr",
        "head",
        "t1",
        "3d",
        "MIT",
        field_t=3.0,
        note="Siemens Skyra 3 T MPRAGE, 3-year-old",
    ),
    R(
        "niivue-mr-gd",
        "figshare-mrgd",
        "niivue-images/MR_Gd.nii.gz",
        "mr",
        "head",
        "t1",
        "3d",
        "figshare 7472168 (licence unverified)",
        commercial=False,
        note="skull-stripped contrast T1",
    ),
    R(
        "rorden-t1",
        "rorden",
        "niivue-images/chris_t1.nii.gz",
        "mr",
        "head",
        "t1",
        "3d",
        _NC,
        commercial=False,
        note="8-bit",
    ),
    R(
        "rorden-pd",
        "rorden",
        "niivue-images/chris_PD.nii.gz",
        "mr",
        "head",
        "pd",
        "3d",
        _NC,
        commercial=False,
    ),
    R(
        "rorden-mra",
        "rorden",
        "niivue-images/chris_MRA.nii.gz",
        "mr",
        "head",
        "other_mr",
        "3d",
        _NC,
        commercial=False,
        note="TOF angiography",
    ),
    R(
        "rorden-trio-epi",
        "rorden",
        "dcmqa-siemens/Orientation/ax/axasc35/6_ax_asc_35sl.nii",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        field_t=3.0,
        note="EPI acquired by C. Rorden: grouped with his scans",
    ),
    R(
        "stroke-t1",
        "stroke",
        "volumerenderingdata/stroke/T1.nii.gz",
        "mr",
        "head",
        "t1",
        "3d",
        "MIT",
        field_t=3.0,
        note="skull-stripped, 8-bit",
    ),
    R(
        "stroke-t2",
        "stroke",
        "volumerenderingdata/stroke/T2.nii.gz",
        "mr",
        "head",
        "t2",
        "3d",
        "MIT",
        field_t=3.0,
    ),
    R(
        "stroke-flair",
        "stroke",
        "volumerenderingdata/stroke/FLAIR.nii.gz",
        "mr",
        "head",
        "flair",
        "3d",
        "MIT",
        field_t=3.0,
    ),
    R("seg3d-t1", "seg3d-electrodes", "volumerenderingdata/seg3D/MR.nii.gz", "mr", "head", "t1", "3d", "MIT"),
    R(
        "pyrad-brain1",
        "pyrad-brain1",
        "pyradiomics/brain1_image.nrrd",
        "mr",
        "head",
        "t1",
        "3d",
        "BSD-3-style",
        note="T1 post-contrast, tumour",
    ),
    R(
        "pyrad-brain2",
        "pyrad-brain2",
        "pyradiomics/brain2_image.nrrd",
        "mr",
        "head",
        "t1",
        "3d",
        "BSD-3-style",
    ),
    R(
        "pyrad-breast1",
        "pyrad-breast1",
        "pyradiomics/breast1_image.nrrd",
        "mr",
        "breast",
        "t1",
        "3d",
        "BSD-3-style",
        note="small crop; contrast assumed T1",
    ),
    R(
        "sct-t1",
        "sct-errsm30",
        "sct-testing-data/t1/t1w.nii.gz",
        "mr",
        "other",
        "t1",
        "3d",
        "MIT",
        note="cervical spine",
    ),
    R("sct-t2", "sct-errsm30", "sct-testing-data/t2/t2.nii.gz", "mr", "other", "t2", "3d", "MIT"),
    R(
        "sct-t2s",
        "sct-errsm30",
        "sct-testing-data/t2s/t2s_uncropped.nii.gz",
        "mr",
        "other",
        "other_mr",
        "3d",
        "MIT",
    ),
    R("xa30-t1", "xa30-t1", "dcmqa-xa30/5_anat-T1w_acq-tfl", "mr", "head", "t1", "3d", _BSD2, field_t=3.0),
    R(
        "toshiba-dti-b0",
        "toshiba-dti",
        "dcmqa-toshiba/Galan/7006_DTI_ortho",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        field_t=3.0,
    ),
    R(
        "canon-dti",
        "canon-dti",
        "dcmqa-canon/3000_DTI_PA-ortho_cl.nii.gz",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        field_t=3.0,
    ),
    R(
        "nih-ge-epi",
        "nih-ge-epi",
        "dcmqa-nih/DCM2NIIX_regression_test_4.nii",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
    ),
    R(
        "philips-pcasl",
        "philips-pcasl",
        "dcmqa-philips-enh/1903_WIP_SOURCE_-_3DpCASL_enh.nii.gz",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        field_t=3.0,
    ),
    R(
        "niivue-dwi-b0",
        "niivue-sub01",
        "niivue/sub-01_ses-01_dwi_desc-b0_dwi.nii.gz",
        "mr",
        "head",
        "other_mr",
        "3d",
        "BSD-2-Clause (niivue repo)",
    ),
    R(
        "niivue-asl",
        "niivue-asl",
        "niivue/mpld_asl.nii.gz",
        "mr",
        "head",
        "other_mr",
        "3d",
        "BSD-2-Clause (niivue repo)",
    ),
    R(
        "niivue-avanto-t1",
        "niivue-avanto",
        "niivue/dicom",
        "mr",
        "head",
        "t1",
        "3d",
        "BSD-2-Clause (niivue repo)",
        field_t=1.5,
        note="3 slices of a Siemens Avanto 1.5 T T1 MPR",
    ),
    R(
        "seg3d-cardiac",
        "seg3d-cardiac",
        "seg3ddata/example_dicom",
        "mr",
        "chest",
        "other_mr",
        "2d",
        "MIT",
        field_t=3.0,
        note="5 non-contiguous slices, IR late enhancement",
    ),
    R(
        "ts-mr-abdomen",
        "ts-mr",
        "totalsegmentator/example_mr_sm.nii.gz",
        "mr",
        "abdomen",
        "other_mr",
        "3d",
        _TS,
    ),
    R(
        "niivue-flair-nrrd",
        "stroke",
        "niivue/FLAIR.nrrd",
        "mr",
        "head",
        "flair",
        "3d",
        "BSD-2",
        use=False,
        note="duplicate of stroke-flair",
    ),
    R(
        "dcmqa-ge-noise",
        "dcmqa-ge",
        "dcmqa-ge/01_Ax_DWI_TENSOR_R2",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="no subject: noise and artefacts only",
    ),
    R(
        "dcmqa-philips-object",
        "dcmqa-philips",
        "dcmqa-philips/EPI_asc_CLEAR_201.nii",
        "mr",
        "other",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="small phantom object",
    ),
    R(
        "dcmqa-enh-phantoms",
        "dcmqa-enh",
        "dcmqa-enh/Philips/IM_0027_fMAP.dcm",
        "mr",
        "other",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="phantoms only",
    ),
    R(
        "dcmqa-uih-dti",
        "uih-dti",
        "dcmqa-uih/dti_tra_dir16_PA_rot_SaveBySlc__134057",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="mosaic DICOM: left out until the runtime loader un-mosaics",
    ),
    R(
        "dcmqa-ts-epi",
        "rorden",
        "dcmqa-ts",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="same EPI as rorden-trio-epi in 9 transfer syntaxes",
    ),
    R(
        "dcmqa-12bit-epi",
        "rorden",
        "dcmqa-12bit/12bitUnsigned.dcm",
        "mr",
        "head",
        "other_mr",
        "3d",
        _BSD2,
        use=False,
        note="mosaic",
    ),
    # ---- fundus
    *(
        R(
            f"hrf-{k}",
            f"hrf-{k}",
            f"fundus-hrf/{k}.jpg",
            "fundus",
            "eye",
            "color",
            "2d",
            _HRF,
            note="downscaled, recompressed JPEG",
        )
        for k in ("01_h", "02_h", "07_h", "10_h", "12_h", "13_h", "14_h", "15_h")
    ),
    R(
        "skimage-retina",
        "skimage-retina",
        "fundus-skimage/retina.jpg",
        "fundus",
        "eye",
        "color",
        "2d",
        "CC0",
        note="also shipped as skimage.data.retina()",
    ),
    *(
        R(
            f"idrid-{k}",
            f"idrid-{k}",
            f"fundus-idrid/IDRiD_{k}.jpg",
            "fundus",
            "eye",
            "color",
            "2d",
            "CC BY 4.0 (IDRiD)",
            use=False,
            note="burned-in optic-disc outline: not clean",
        )
        for k in ("01", "19", "31", "54")
    ),
)
del R


def data_root() -> Path:
    """Folder of the real scans: ``$MEDIQA_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    env = os.environ.get("MEDIQA_REAL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def real_sources(*, include_unused: bool = False, root: Path | None = None) -> list[RealSource]:
    """Catalogued real sources (``use=True`` ones unless ``include_unused``) whose files exist."""
    base = root or data_root()
    out = []
    for src in REAL_SOURCES:
        if not (src.use or include_unused):
            continue
        if (base / src.path).exists() or src.source_id == "skimage-retina":
            out.append(src)
    return out
