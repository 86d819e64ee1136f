"""Evaluation: IQA metrics, the logistic fit, bootstrap intervals, ordinal accuracy and grade calibration.

Everything is numpy (no scipy, no torch). Submodules not imported here, to keep this import light:
:mod:`.scoring` (scores a manifest through :class:`mediqa_sdk.Assessor`; ``mediqa evaluate``),
:mod:`.plot` (scatter plot with OpenCV) and :mod:`.classical` (CT noise level, MRIQC measures, sharpness).

>>> from mediqa_sdk.evaluation import compute_metrics
>>> m = compute_metrics([0.1, 0.4, 0.35, 0.8, 0.9], [0.0, 0.5, 0.25, 0.75, 1.0], n_resamples=0)
>>> round(m["srcc"], 2), round(m["krcc"], 2)
(1.0, 1.0)
"""

from __future__ import annotations

from .bootstrap import bootstrap_ci, bootstrap_cis
from .calibration import (
    BinaryThreshold,
    FamilyCalibration,
    calibrate_families,
    calibrate_family,
    family_key,
    store_family_grades,
    youden_threshold,
)
from .correlation import krcc, ldct_overall, plcc, rankdata, rmse, srcc, undefined_reason
from .logistic import Logistic4, fit_logistic4
from .ordinal import OrdinalResult, cross_calibrated_accuracy, fit_thresholds, predict_classes
from .report import EvaluationReport, MetricSet, compute_metrics, render_table

__all__ = [
    "BinaryThreshold",
    "EvaluationReport",
    "FamilyCalibration",
    "Logistic4",
    "MetricSet",
    "OrdinalResult",
    "bootstrap_ci",
    "bootstrap_cis",
    "calibrate_families",
    "calibrate_family",
    "compute_metrics",
    "cross_calibrated_accuracy",
    "family_key",
    "fit_logistic4",
    "fit_thresholds",
    "krcc",
    "ldct_overall",
    "plcc",
    "predict_classes",
    "rankdata",
    "render_table",
    "rmse",
    "srcc",
    "store_family_grades",
    "undefined_reason",
    "youden_threshold",
]
