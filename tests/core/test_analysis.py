"""The analysis pipeline: select, classify the kept slices, decide; JSON round trip;
re-deciding without a model call."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lunglens.core.analysis import Analysis, AnalysisOptions, analyze
from lunglens.core.decision import DecisionParams
from lunglens.inference import load_model
from lunglens.io import discover, load
from tests.factory import write_series
from tests.tiny_model import tiny_p_covid, write_tiny_model


class CountingModel:
    """Wraps a Model and counts its calls."""

    def __init__(self, model):
        self.model, self.calls = model, 0
        self.card, self.provider, self.batch_size = model.card, model.provider, model.batch_size

    def run(self, image):
        self.calls += 1
        return self.model.run(image)


@pytest.fixture
def series(tmp_path):
    """12 slices: 2 closed (no dark pixels) at each end, 8 lung-open ones whose soft tissue gets
    denser further down (so the tiny model's P(COVID) spreads across 0.5)."""
    stored = np.full((12, 512, 512), 24, np.uint16)  # outside air (raw)
    for i in range(12):
        stored[i, 128:, :] = 1064 + 30 * i  # body
        if 2 <= i < 10:
            stored[i, 200:380, 100:400] = 150  # lungs
    write_series(tmp_path / "s", stored, -2.0 * np.arange(12))
    return load(discover(tmp_path / "s").series[0])


@pytest.fixture
def model(tmp_path):
    return CountingModel(load_model(write_tiny_model(tmp_path / "m"), provider="cpu"))


def test_only_kept_slices_are_classified(series, model):
    result = analyze(series, model, AnalysisOptions(decision=DecisionParams(0.5, 0.0)))
    assert result.kept.tolist() == [False] * 2 + [True] * 8 + [False] * 2
    assert np.isnan(result.p_covid[~result.kept]).all()
    expected = tiny_p_covid(series.hu[result.kept])
    assert expected.min() < 0.5 < expected.max()
    assert np.allclose(result.p_covid[result.kept], expected, atol=1e-5)
    assert result.decision.n_kept == 8 and result.decision.k_positive == int((expected >= 0.5).sum())
    assert (result.cams[~result.kept] == 0).all() and result.cams.dtype == np.float16
    assert set(result.timings_s) == {"select", "classify", "decide"}
    assert result.provider["used"] == "CPUExecutionProvider"


def test_all_slices_option_classifies_discarded_slices_too(series, model):
    result = analyze(series, model, AnalysisOptions(all_slices=True))
    assert not np.isnan(result.p_covid).any()
    assert result.decision.n_kept == 8  # the decision still uses kept slices only


def test_redecide_needs_no_model_call(series, model):
    result = analyze(series, model, AnalysisOptions(decision=DecisionParams(0.5, 0.0)))
    calls = model.calls
    strict = result.redecide(DecisionParams(slice_cutoff=0.99, patient_fraction=0.5))
    assert model.calls == calls
    assert strict.decision.k_positive <= result.decision.k_positive
    assert strict.p_covid is result.p_covid and strict.cams is result.cams


def test_json_round_trip(series, model):
    result = analyze(series, model)
    text = result.to_json()
    back = Analysis.from_json(text)
    assert np.array_equal(back.kept, result.kept)
    assert np.allclose(back.p_covid, result.p_covid, equal_nan=True)
    assert np.array_equal(back.cams, result.cams)
    assert back.decision.params == result.decision.params
    assert back.decision.covid == result.decision.covid
    assert np.array_equal(back.decision.positive, result.decision.positive)
    assert back.to_json() == text
    data = json.loads(text)
    assert data["slices"][5]["kept"] is True and data["slices"][0]["p_covid"] is None
    assert data["model"]["sha256"] == model.card.sha256


def test_cams_of_a_600_slice_series_stay_small():
    # float16 at 32 x 32: 2 KiB a slice
    assert np.zeros((600, 32, 32), np.float16).nbytes < 1.3e6
