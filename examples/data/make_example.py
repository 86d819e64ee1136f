"""How ``head_ct.nii.gz`` was made from the BSD-2 dcm_qa_ct GE head CT (kept for provenance; needs ../shared).

The source series (28 slices, GE HiSpeed Dual, 120 kVp, gantry tilt 18.5 degrees) has two slice spacings; the
example keeps the 14 supratentorial slices (7 mm, 160 mA), crops each slice to the head's bounding box plus a
margin, and stores HU as int16 with the sheared (tilted) affine taken from the DICOM positions. Pixel values
are unchanged: the noise of the original scan is what the example is scored on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "dcmqa-ct" / "GE"
TARGET = Path(__file__).with_name("head_ct.nii.gz")


def main(source: Path = SOURCE, target: Path = TARGET) -> None:
    files = sorted(source.glob("*.dcm"), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    slices = [pydicom.dcmread(f) for f in files]
    slices = [d for d in slices if float(d.SliceThickness) == 7.0]
    vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in slices])
    body = (vol > -500).any(axis=0)
    rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    r0, r1 = max(rows[0] - 8, 0), min(rows[-1] + 9, vol.shape[1])
    c0, c1 = max(cols[0] - 8, 0), min(cols[-1] + 9, vol.shape[2])
    vol = vol[:, r0:r1, c0:c1]
    first = slices[0]
    dr, dc = (float(v) for v in first.PixelSpacing)
    rowcos = np.array(first.ImageOrientationPatient[:3], float)  # along increasing column index
    colcos = np.array(first.ImageOrientationPatient[3:], float)  # along increasing row index
    origin = np.array(first.ImagePositionPatient, float) + c0 * dc * rowcos + r0 * dr * colcos
    step = (
        np.array(slices[-1].ImagePositionPatient, float) - np.array(first.ImagePositionPatient, float)
    ) / (len(slices) - 1)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = rowcos * dc, colcos * dr, step, origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    data = np.transpose(vol, (2, 1, 0)).astype(np.int16)  # (col, row, slice)
    img = nib.Nifti1Image(data, ras)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = b"dcm_qa_ct GE head CT, BSD-2, 120 kVp 160 mA"
    nib.save(img, target)
    print(f"wrote {target}: {data.shape}, {target.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
