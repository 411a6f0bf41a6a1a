"""Every file of the DICOM torture set either loads as part of a series or is reported with a
specific reason; nothing raises anything else."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lunglens.io import LoadError, discover, load
from tests.conftest import SHARED_DATA

ROBUSTNESS = SHARED_DATA / "dicom-robustness"
FILES = sorted(p for p in ROBUSTNESS.rglob("*") if p.is_file()) if ROBUSTNESS.exists() else []


@pytest.fixture(scope="module")
def outcome(shared_data):
    """{file: ("skipped", reason) | ("series", ref, Series or LoadError message)}."""
    found = discover(shared_data / "dicom-robustness")
    result = {s.path: ("skipped", s.reason) for s in found.skipped}
    for ref in found.series:
        loaded = None
        if ref.modality == "CT":
            try:
                loaded = load(ref)
            except LoadError as exc:
                loaded = str(exc)
        for path, _ in ref.frames:
            result[path] = ("series", ref, loaded)
    return result


def test_the_torture_set_is_there():
    if not FILES and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing under CI: {ROBUSTNESS}")
    if not FILES:
        pytest.skip(f"not available: {ROBUSTNESS}")
    assert len(FILES) >= 69


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROBUSTNESS)))
def test_every_file_is_loaded_or_explained(outcome, path: Path):
    kind, *rest = outcome[path]
    if kind == "skipped":
        (reason,) = rest
        assert reason and len(reason) > 8
        return
    ref, loaded = rest
    if ref.modality != "CT":
        assert any("not CT" in p for p in ref.problems)
        return
    if isinstance(loaded, str):  # a CT series that cannot be decoded says why
        assert ref.description in loaded or ref.key in loaded
        return
    assert loaded.hu.ndim == 3 and loaded.hu.shape[0] >= 1 and loaded.hu.dtype == np.int16
    if ref.analysable:
        assert loaded.n_slices >= 3


def _hu(outcome, name):
    _, _, series = outcome[ROBUSTNESS / "wg04_dicom-test-files" / name]
    return series.hu[0]


@pytest.mark.parametrize("image", ["CT1", "CT2"])
@pytest.mark.parametrize("codec", ["J2KR", "JLSL", "JPLL", "RLE"])
def test_lossless_codecs_decode_to_the_uncompressed_hu(outcome, image, codec):
    assert np.array_equal(_hu(outcome, f"{image}_{codec}.dcm"), _hu(outcome, f"{image}_UNC.dcm"))


@pytest.mark.parametrize(
    "name, reason",
    [
        ("pydicom-3.0.2_test_files/rtstruct.dcm", "no pixel data"),
        ("pydicom-3.0.2_test_files/README_pydicom_test_files.txt", "not a DICOM or TIFF image"),
        ("pydicom-3.0.2_test_files/MR_small_bigendian.dcm", "not CT (modality MR)"),
        ("wg04_dicom-test-files/NM1_JPLL.dcm", "not CT (modality NM)"),
        ("pydicom-data-1.0.0/US1_J2KI.dcm", "colour images"),
        ("pydicom-data-1.0.0/RG1_J2KI.dcm", "not CT (modality CR)"),
        ("wg04_dicom-test-files/CT1_UNC.dcm", "only 1 slice(s)"),
    ],
)
def test_specific_reasons(outcome, name, reason):
    kind, *rest = outcome[ROBUSTNESS / name]
    text = rest[0] if kind == "skipped" else "; ".join(rest[0].problems)
    assert reason in text


def test_enhanced_ct_multiframe_loads_each_frame_as_a_slice(outcome):
    _, ref, series = outcome[ROBUSTNESS / "pydicom-data-1.0.0" / "eCT_Supplemental.dcm"]
    assert ref.n_slices == 2 and series.hu.shape == (2, 512, 512)
    assert series.positions_mm[0] > series.positions_mm[1]
    assert series.slice_spacing_mm == pytest.approx(10.0)


def test_three_slice_implicit_vr_series_with_padding(outcome):
    _, ref, series = outcome[ROBUSTNESS / "dcmqi_ct-3slice" / "01.dcm"]
    assert ref.analysable and series.hu.shape == (3, 512, 512)
    assert series.hu.min() == -1024  # padding -2000 shown as air, not -3024 HU
