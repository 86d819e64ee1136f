"""Fuzzed inputs (short CI run): each one scores or raises a mediqa-sdk error with a one-line message, never
another exception and never a hang. The strategies live in ``tests/fuzz_loaders.py``, which also runs them for
as long as asked (``python -m tests.fuzz_loaders --minutes 10``); ``MEDIQA_FUZZ_EXAMPLES`` raises the number
of examples here."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

from .fuzz_loaders import check_bytes, damaged_files, dicom_datasets, nifti_headers

_CI = settings(
    max_examples=int(os.environ.get("MEDIQA_FUZZ_EXAMPLES", "40")),
    deadline=None,  # a hang is caught by the alarm in check_bytes, not by timing examples
    database=None,
    derandomize=True,  # the same examples on every CI run; long runs explore
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_CI
@given(damaged_files())
def test_damaged_files_score_or_are_refused(case: tuple[bytes, str]) -> None:
    assert check_bytes(*case) in ("scored", "refused")


@_CI
@given(nifti_headers())
def test_random_nifti_headers_score_or_are_refused(case: tuple[bytes, str]) -> None:
    assert check_bytes(*case) in ("scored", "refused")


@_CI
@given(dicom_datasets())
def test_random_dicom_tag_values_score_or_are_refused(case: tuple[bytes, str]) -> None:
    assert check_bytes(*case) in ("scored", "refused")
