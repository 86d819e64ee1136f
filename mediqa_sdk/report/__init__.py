"""Quality-control outputs: per-scan reports (HTML + montage PNG), batch runs (JSONL, CSV, summary page) and
DICOM Structured Reports (:mod:`mediqa_sdk.report.sr`, needs the ``[sr]`` extra).

>>> from mediqa_sdk import Assessor
>>> assessor = Assessor()  # doctest: +SKIP
>>> result = assessor.score("scan.nii.gz")  # doctest: +SKIP
>>> assessor.report(result, "qc/")  # doctest: +SKIP
ReportFiles(html=PosixPath('qc/scan.html'), png=PosixPath('qc/scan.png'))
"""

from __future__ import annotations

from ._views import SliceViews
from .batch import QcRun, RunTotals
from .scan_report import ReportFiles, flag_reason, write_report

__all__ = ["QcRun", "ReportFiles", "RunTotals", "SliceViews", "flag_reason", "write_report"]
