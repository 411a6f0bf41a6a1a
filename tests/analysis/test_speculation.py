"""Decoding and inference overlapped (lunglens.analysis.speculation) give exactly the sequential
Analysis (same selection, same per-slice P(COVID) and CAMs bit for bit, same decision), on a
phantom and on P001; `load_and_analyse` overlaps them on a GPU provider only."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from lunglens.analysis import AnalysisOptions, load_and_analyse
from lunglens.core.decision import DecisionParams
from lunglens.inference import load_model
from lunglens.inference.session import CUDA
from lunglens.io import discover
from lunglens.synthetic import make_phantom, write_dicom_series

SPECULATION_THREAD = "lunglens-speculative-classify"


class _CountingModel:
    """The demo model counting the slices it classifies in each thread; `used` is the provider it
    says it runs on."""

    def __init__(self, model, used: str | None = None):
        self.card, self.batch_size, self._model = model.card, model.batch_size, model
        self.provider = model.provider if used is None else replace(model.provider, used=used)
        self.slices = Counter()

    def run(self, image: np.ndarray):
        self.slices[threading.current_thread().name] += len(image)
        return self._model.run(image)


def _comparable(analysis) -> dict:
    """The analysis but for its timings, its date and the provider the counting model claims."""
    data = analysis.to_dict()
    for varying in ("timings_s", "created", "provider"):
        data.pop(varying)
    return data


def _assert_same(ref, model, options) -> dict:
    """Analyses `ref` both ways; returns the slices classified ahead, and of them the slices not
    used (their batch was not one the selection made)."""
    _, sequential = load_and_analyse(ref, model, options)
    counting = _CountingModel(model, used=CUDA)  # the path taken on a GPU
    _, overlapped = load_and_analyse(ref, counting, options)
    assert _comparable(overlapped) == _comparable(sequential)
    np.testing.assert_array_equal(overlapped.cams, sequential.cams)
    np.testing.assert_array_equal(overlapped.p_covid, sequential.p_covid)
    assert list(overlapped.timings_s)[:2] == ["load and classify ahead", "select"]
    ahead = counting.slices[SPECULATION_THREAD]
    run_after = sum(counting.slices.values()) - ahead
    used_ahead = sequential.decision.n_kept - run_after
    assert 0 <= used_ahead <= ahead
    return {"ahead": ahead, "used": used_ahead}


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
    assert counts["used"] > 0  # the overlap did happen


def test_overlapped_equals_sequential_on_a_prone_stored_phantom(demo_model, tmp_path):
    """Slices stored with both axes reversed (ImageOrientationPatient -1,0,0,0,-1,0) are turned
    alike by the speculation and by the sequential path (else its batches would not match)."""
    from tests.factory import write_series

    phantom = make_phantom(n_slices=40, size=512, seed=7, covid_severity=0.6)
    stored = np.clip(phantom.hu[:, ::-1, ::-1] + 1024, 0, 4095).astype(np.uint16)
    write_series(tmp_path / "p", stored, phantom.positions_mm, orientation=(-1, 0, 0, 0, -1, 0))
    ref = discover(tmp_path / "p").series[0]
    counts = _assert_same(ref, demo_model, AnalysisOptions(decision=DecisionParams(patient_fraction=0.0)))
    assert counts["used"] > 0


def test_decoding_and_inference_overlap_by_default_on_a_gpu_only(covid_ct_md, demo_model):
    """On the CPU both would contend for the same cores (measured slower), on a GPU they do not."""
    ref = discover(covid_ct_md / "P001").series[0]
    on_cpu = _CountingModel(demo_model)
    _, analysis = load_and_analyse(ref, on_cpu, AnalysisOptions(quantify=False))
    assert on_cpu.slices[SPECULATION_THREAD] == 0
    assert "load" in analysis.timings_s
    on_gpu = _CountingModel(demo_model, used=CUDA)
    _, analysis = load_and_analyse(ref, on_gpu, AnalysisOptions(quantify=False))
    assert on_gpu.slices[SPECULATION_THREAD] > 0
    assert "load and classify ahead" in analysis.timings_s


def test_all_slices_and_multi_frame_series_are_not_classified_ahead(demo_model, tmp_path):
    """Speculation predicts the selector's kept slices and matches them by file: an analysis of
    every slice, or a series in one multi-frame file, loads first, as without overlap."""
    from tests.dicomout.unusable import PHANTOM, multi_frame

    enhanced = multi_frame(tmp_path)  # one file made of the slices it writes in tmp_path / "slices"
    for folder, options in (
        (tmp_path / "slices", AnalysisOptions(all_slices=True, quantify=False)),
        (enhanced, AnalysisOptions(quantify=False)),
    ):
        counting = _CountingModel(demo_model, used=CUDA)
        _, analysis = load_and_analyse(discover(folder).series[0], counting, options)
        assert counting.slices[SPECULATION_THREAD] == 0, folder
        assert counting.slices["MainThread"] == int(analysis.classified.sum()) > 0
        assert list(analysis.timings_s)[0] == "load"
    assert analysis.series.n_slices == len(PHANTOM.hu)
