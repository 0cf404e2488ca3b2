"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OFFICIAL = Path(os.environ.get("EIBENCH_OFFICIAL_DIR", REPO.parent / "shared" / "eibench-official"))


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The official EIBench data beside the repo; tests that need it skip when it is absent."""
    if not (OFFICIAL / "test").is_dir():
        pytest.skip("official EIBench data not found (../shared/eibench-official)")
    return OFFICIAL
