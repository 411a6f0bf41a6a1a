"""Shared fixtures. Real data lives outside the project (../shared/data, or the folder named by
LUNGLENS_SHARED_DATA). Tests that need it skip when it is absent, except under CI=true, where
its absence is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LUNGLENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real test data missing under CI: {path}")
    pytest.skip(f"real test data not available: {path}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The root of the real CT data (covid-ct-md, dicom-robustness, covid19-ny-sbu, ...)."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def covid_ct_md(shared_data) -> Path:
    """Folder holding P001/, normal001/, cap001/ and slice_labels.csv."""
    return _require(shared_data / "covid-ct-md")
