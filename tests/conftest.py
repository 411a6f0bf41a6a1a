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


@pytest.fixture(autouse=True)
def cheap_learned_lesion_map(request, monkeypatch):
    """Every test starts with no lesion model loaded in its process, and the learned lesion method
    is the cheap stand-in of `tests/lesion_stand_in.py` (the real map of a series takes seconds to a
    minute), unless the test is marked `real_lesion_map`. Command-line runs in a subprocess and Dask
    workers are not reached: they use the real map unless they choose `--lesion-method hu_bands`."""
    from lunglens.analysis import lesion_methods
    from tests.lesion_stand_in import stand_in_learned_method

    monkeypatch.setattr(lesion_methods, "_SHARED", {})
    if request.node.get_closest_marker("real_lesion_map") is None:
        monkeypatch.setattr(lesion_methods, "bundled_learned_method", stand_in_learned_method)


@pytest.fixture(scope="session")
def small_patient(tmp_path_factory) -> Path:
    """A small synthetic COVID-19 patient (16 slices of 128 x 128 at 2.8 mm) as a DICOM folder."""
    from lunglens.synthetic import make_phantom, write_dicom_series

    phantom = make_phantom(n_slices=16, seed=2, covid_severity=0.6, size=128, pixel_spacing_mm=2.8)
    folder = tmp_path_factory.mktemp("patient") / "PAT"
    write_dicom_series(
        phantom.hu, phantom.positions_mm, phantom.pixel_spacing_mm, phantom.slice_thickness_mm, folder
    )
    return folder
