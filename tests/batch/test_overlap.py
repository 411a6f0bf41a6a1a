"""Decoding and inference overlapped give exactly the sequential Analysis (same selection, same
per-slice P(COVID) and CAMs bit for bit, same decision), on a phantom and on P001."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.analysis import AnalysisOptions, load_and_analyse
from lunglens.batch.overlap import load_and_analyse_overlapped
from lunglens.core.decision import DecisionParams
from lunglens.inference import load_model
from lunglens.io import discover
from lunglens.synthetic import make_phantom, write_dicom_series


def _comparable(analysis) -> dict:
    data = analysis.to_dict()
    for varying in ("timings_s", "created"):
        data.pop(varying)
    return data


def _assert_same(ref, model, options):
    _, sequential = load_and_analyse(ref, model, options)
    series, overlapped, counts = load_and_analyse_overlapped(ref, model, options)
    assert _comparable(overlapped) == _comparable(sequential)
    np.testing.assert_array_equal(overlapped.cams, sequential.cams)
    np.testing.assert_array_equal(overlapped.p_covid, sequential.p_covid)
    assert counts["reused"] + counts["discarded"] == counts["speculatively_classified"]
    assert counts["reused"] <= sequential.decision.n_kept
    return counts


@pytest.fixture(scope="module")
def demo_model():
    return load_model(provider="cpu")


def test_overlapped_equals_sequential_on_a_phantom(demo_model, tmp_path):
    phantom = make_phantom(n_slices=60, size=512, seed=7, covid_severity=0.6)
    write_dicom_series(
        phantom.hu, phantom.positions_mm, phantom.pixel_spacing_mm, phantom.slice_thickness_mm, tmp_path / "p"
    )
    ref = discover(tmp_path / "p").series[0]
    _assert_same(ref, demo_model, AnalysisOptions(decision=DecisionParams(patient_fraction=0.0)))


def test_overlapped_equals_sequential_on_p001(covid_ct_md, demo_model):
    ref = discover(covid_ct_md / "P001").series[0]
    counts = _assert_same(ref, demo_model, AnalysisOptions())
    assert counts["reused"] > 0  # the overlap did happen


def test_overlapped_equals_sequential_on_a_prone_stored_phantom(demo_model, tmp_path):
    """Slices stored with both axes reversed (ImageOrientationPatient -1,0,0,0,-1,0) are turned
    alike by the speculation and by the sequential path (else its batches would not match)."""
    from tests.factory import write_series

    phantom = make_phantom(n_slices=40, size=512, seed=7, covid_severity=0.6)
    stored = np.clip(phantom.hu[:, ::-1, ::-1] + 1024, 0, 4095).astype(np.uint16)
    write_series(tmp_path / "p", stored, phantom.positions_mm, orientation=(-1, 0, 0, 0, -1, 0))
    ref = discover(tmp_path / "p").series[0]
    counts = _assert_same(ref, demo_model, AnalysisOptions(decision=DecisionParams(patient_fraction=0.0)))
    assert counts["reused"] > 0
