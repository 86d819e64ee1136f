"""Dose audit: the dose a CT's noise looks like, next to the exposure its DICOM header records.

    python examples/dose_audit.py ../shared/data/real/dcmqa-ct audit.csv

For every CT series the scorer estimates the tube current-time product whose noise the image resembles
(``ct_dose``, in effective mAs); the header gives the exposure (mAs), tube voltage and CTDIvol. A series that
looks much noisier than its exposure (ratio estimate / header below ``--low``) deserves a look at its
protocol, kernel or reconstruction. The estimate is a learned noise equivalent, not a dosimeter.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from mediqa_sdk import Assessor


def _ranks(values: list[float]) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder of CT scans (DICOM series, NIfTI; searched recursively)")
    parser.add_argument("out", nargs="?", default="dose_audit.csv", help="CSV to write")
    parser.add_argument("--low", type=float, default=0.5, help="flag estimate / header ratios below this")
    args = parser.parse_args(argv)

    assessor = Assessor(device="cpu")
    rows = []
    for outcome in assessor.iter_score([args.folder], recursive=True, modality="ct"):
        res = outcome.result
        if res is None:
            print(f"skipped {outcome.item.label}: {outcome.error}")
            continue
        estimate = next((p.value for p in res.physics if p.name == "ct_dose"), math.nan)
        header_mas = res.header.get("exposure_mas")
        ratio = estimate / header_mas if header_mas else math.nan
        rows.append(
            {
                "input": res.label,
                "score": round(res.score, 4),
                "estimated_mas": round(estimate, 1),
                "header_mas": header_mas if header_mas is not None else "",
                "kvp": res.header.get("kvp", ""),
                "ctdi_vol": res.header.get("ctdi_vol", ""),
                "kernel": res.header.get("convolution_kernel", ""),
                "ratio": round(ratio, 3) if math.isfinite(ratio) else "",
                "flag": "noisier than its dose" if math.isfinite(ratio) and ratio < args.low else "",
            }
        )
    with Path(args.out).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["input"])
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        print(
            f"{r['input']:<60} est {r['estimated_mas']:>7} mAs  "
            f"header {r['header_mas'] or '?':>7}  {r['flag']}"
        )
    paired = [(r["estimated_mas"], float(r["header_mas"])) for r in rows if r["header_mas"] != ""]
    if len(paired) >= 3:
        est, hdr = (list(v) for v in zip(*paired, strict=True))
        srcc = float(np.corrcoef(_ranks(est), _ranks(hdr))[0, 1])
        print(f"Spearman correlation of estimate and header mAs over {len(paired)} series: {srcc:.2f}")
    print(f"{len(rows)} CT scans -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
