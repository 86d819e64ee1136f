"""Shared fixtures: tiny synthetic anatomy made in code, the default registry, paths to real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediqa_sdk.registry import Registry, load_registry

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def assessor():
    from mediqa_sdk import Assessor

    return Assessor(device="cpu")


@pytest.fixture()
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is not present")
    return REAL_DATA
