"""The analysis pipeline: select (or take the caller's selection), classify the kept slices,
decide; the typed result and its JSON round trip; re-deciding without a model call."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from lunglens.analysis import (
    ANALYSIS_FORMAT,
    Analysis,
    AnalysisOptions,
    ModelRecord,
    NoVerdict,
    ProviderRecord,
    SeriesRecord,
    analyse,
    load_and_analyse,
)
from lunglens.core.decision import DecisionParams
from lunglens.core.selector import SelectorParams, select_slices
from lunglens.inference import load_model
from lunglens.io import discover, load
from tests.factory import write_series
from tests.tiny_model import tiny_p_covid, write_tiny_model


class CountingModel:
    """Wraps a Model and counts the slices it was run on."""

    def __init__(self, model):
        self.model, self.slices = model, 0
        self.card, self.provider, self.batch_size = model.card, model.provider, model.batch_size

    def run(self, image):
        self.slices += len(image)
        return self.model.run(image)


@pytest.fixture
def ref(tmp_path):
    """12 slices: 2 closed (no dark pixels) at each end, 8 lung-open ones whose soft tissue gets
    denser further down (so the tiny model's P(COVID) spreads across 0.5)."""
    stored = np.full((12, 512, 512), 24, np.uint16)  # outside air (raw)
    for i in range(12):
        stored[i, 128:, :] = 1064 + 30 * i  # body
        if 2 <= i < 10:
            stored[i, 200:380, 100:400] = 150  # lungs
    write_series(tmp_path / "s", stored, -2.0 * np.arange(12))
    return discover(tmp_path / "s").series[0]


@pytest.fixture
def series(ref):
    return load(ref)


@pytest.fixture
def model(tmp_path):
    return CountingModel(load_model(write_tiny_model(tmp_path / "m"), provider="cpu"))


KEPT = [False] * 2 + [True] * 8 + [False] * 2


def test_only_kept_slices_are_classified(series, model):
    result = analyse(series, model, AnalysisOptions(decision=DecisionParams(0.5, 0.0)))
    assert result.selection.kept.tolist() == KEPT
    kept = result.selection.kept
    assert np.isnan(result.p_covid[~kept]).all() and model.slices == 8
    expected = tiny_p_covid(series.hu[kept])
    assert expected.min() < 0.5 < expected.max()
    assert np.allclose(result.p_covid[kept], expected, atol=1e-5)
    assert result.decision.n_kept == 8 and result.decision.k_positive == int((expected >= 0.5).sum())
    assert (result.cams[~kept] == 0).all()
    assert list(result.timings_s) == ["select", "classify", "quantify", "decide"]
    assert result.provider == ProviderRecord("cpu", "CPUExecutionProvider", "CPU", "")


def test_the_callers_selection_is_used_not_recomputed(series, model):
    """The viewer selects at load; `analyse` takes that selection and does not select again."""
    made_at_load = select_slices(series.standard_hu)
    only_two = replace(made_at_load, kept=np.isin(np.arange(12), [4, 5]))  # not what the selector says
    result = analyse(series, model, selection=only_two)
    assert result.selection is only_two
    assert np.flatnonzero(result.classified).tolist() == [4, 5] and model.slices == 2
    assert result.decision.n_kept == 2
    assert "select" not in result.timings_s


@pytest.mark.parametrize(
    "selection_of",
    [
        lambda hu: select_slices(hu[:-1]),  # another series' length
        lambda hu: select_slices(hu, SelectorParams(divisor=3.0)),  # other parameters than the options'
    ],
)
def test_a_selection_that_does_not_fit_is_refused(series, model, selection_of):
    with pytest.raises(ValueError, match="is not the one"):
        analyse(series, model, selection=selection_of(series.hu))
    assert model.slices == 0


def test_load_and_analyse_times_each_step_in_order(ref, model):
    loaded = []
    series, result = load_and_analyse(ref, model, load_progress=lambda done, total: loaded.append(done))
    assert series.n_slices == 12 and loaded[-1] == 12
    assert list(result.timings_s) == ["load", "select", "classify", "quantify", "decide"]
    assert replace(result.series, warnings=()) == replace(SeriesRecord.of(series), warnings=())


def test_all_slices_option_classifies_discarded_slices_too(series, model):
    result = analyse(series, model, AnalysisOptions(all_slices=True))
    assert not np.isnan(result.p_covid).any() and model.slices == 12
    assert result.decision.n_kept == 8  # the decision still uses kept slices only


def test_redecide_needs_no_model_call(series, model):
    result = analyse(series, model, AnalysisOptions(decision=DecisionParams(0.5, 0.0)))
    slices = model.slices
    strict = result.redecide(DecisionParams(slice_cutoff=0.99, patient_fraction=0.5))
    assert model.slices == slices
    assert strict.decision.k_positive <= result.decision.k_positive
    assert strict.p_covid is result.p_covid and strict.cams is result.cams


def test_cams_are_kept_as_float16_at_the_cards_size(series, model):
    """2 bytes a cell at the card's 32 x 32: a 600-slice series' CAMs take 1.2 MB, not the
    300 MB of float32 maps at 512 x 512."""
    result = analyse(series, model)
    assert result.cams.shape == (12, 32, 32) and result.cams.dtype == np.float16
    assert result.cams.nbytes / series.n_slices * 600 < 1.3e6


def test_json_round_trip_keeps_the_typed_records(series, model):
    result = analyse(series, model)
    text = result.to_json()
    back = Analysis.from_json(text)
    assert back.series == result.series and isinstance(back.series, SeriesRecord)
    assert back.model == result.model == ModelRecord.of(model.card)
    assert back.provider == result.provider
    assert back.selection.params == result.selection.params
    assert back.selection.threshold == result.selection.threshold
    assert np.array_equal(back.selection.kept, result.selection.kept)
    assert np.array_equal(back.selection.dark_pixel_counts, result.selection.dark_pixel_counts)
    assert np.allclose(back.p_covid, result.p_covid, equal_nan=True)
    assert np.array_equal(back.cams, result.cams)
    assert back.decision.params == result.decision.params and back.decision.covid == result.decision.covid
    assert np.array_equal(back.decision.positive, result.decision.positive)
    assert back.to_json() == text
    data = json.loads(text)
    assert data["format"] == ANALYSIS_FORMAT
    assert data["slices"][5]["kept"] is True and data["slices"][0]["p_covid"] is None
    assert data["model"]["sha256"] == model.card.sha256
    assert data["series"]["n_slices"] == 12 and data["series"]["pixel_spacing_mm"] == list(
        series.pixel_spacing_mm
    )


def test_json_of_another_format_is_refused(series, model):
    data = analyse(series, model).to_dict()
    with pytest.raises(ValueError, match="format 1"):
        Analysis.from_dict({**data, "format": 1})


def test_a_series_without_lung_gets_no_verdict(tmp_path, model):
    """Soft tissue only (an abdomen-like block, air in the corners outside the selector's region):
    the selector keeps nothing, so neither "normal" nor any other verdict is given, quantified or not."""
    stored = np.full((6, 128, 128), 1064, np.uint16)
    stored[:, :8, :8] = 24  # air, -1000 HU
    write_series(tmp_path / "solid", stored, -2.0 * np.arange(6))
    series = load(discover(tmp_path / "solid").series[0])
    for options in (AnalysisOptions(), AnalysisOptions(quantify=False)):
        with pytest.raises(NoVerdict, match="no verdict"):
            analyse(series, model, options)


def test_a_series_whose_darkest_slice_shows_only_a_speck_of_air_gets_no_verdict(tmp_path, model):
    """Soft tissue with 9 pixels of air on one slice: the selector's relative threshold keeps that
    slice, but 9 of the 1550 pixels of its region (128 x 128 images) is no open lung: no verdict,
    quantified or not, with the numbers named."""
    stored = np.full((6, 128, 128), 1064, np.uint16)
    stored[3, 70:73, 50:53] = 24  # air, inside the selector's region (rows 60-84, columns 30-91)
    write_series(tmp_path / "speck", stored, -2.0 * np.arange(6))
    series = load(discover(tmp_path / "speck").series[0])
    assert select_slices(series.standard_hu).kept.tolist() == [False, False, False, True, False, False]
    for options in (AnalysisOptions(quantify=False), AnalysisOptions()):
        with pytest.raises(NoVerdict, match="no slice shows open lung") as caught:
            analyse(series, model, options)
        assert "9 dark pixels in the selector's region of 1550" in str(caught.value)


def test_the_neck_above_the_lungs_gets_no_verdict(covid_ct_md, tmp_path, model):
    """normal001's 9 most superior slices (neck, above the lung apices) hold 25 dark pixels at most
    in the selector's region: the relative threshold would keep that slice; no verdict is given,
    quantified or not, the series named."""
    headers = [
        pydicom.dcmread(path, stop_before_pixels=True) for path in (covid_ct_md / "normal001").glob("*.dcm")
    ]
    headers.sort(key=lambda ds: -float(ds.ImagePositionPatient[2]))
    for ds in headers[:9]:
        shutil.copy(ds.filename, tmp_path / Path(ds.filename).name)
    series = load(discover(tmp_path).series[0])
    assert select_slices(series.standard_hu).n_kept > 0
    for options in (AnalysisOptions(quantify=False), AnalysisOptions()):
        with pytest.raises(NoVerdict, match="ThorRoutine  2.0  D40s: no slice shows open lung") as caught:
            analyse(series, model, options)
        assert "25 dark pixels in the selector's region of 25000" in str(caught.value)


@pytest.mark.parametrize(
    "name, volume, reason",
    [
        ("air", lambda rng: np.full((8, 128, 128), 24, np.uint16), "no lung found"),
        ("noise", lambda rng: rng.integers(0, 2000, (8, 128, 128)).astype(np.uint16), "no lung found"),
    ],
)
def test_garbage_gets_no_verdict(tmp_path, model, name, volume, reason):
    """Uniform air (the selector's threshold is 0, so it keeps every slice) and noise (slices are
    kept, the classifier answers): there is no lung, so no verdict, the reason named."""
    write_series(tmp_path / name, volume(np.random.default_rng(0)), -2.0 * np.arange(8))
    series = load(discover(tmp_path / name).series[0])
    with pytest.raises(NoVerdict, match=reason):
        analyse(series, model, AnalysisOptions(lesion_method="hu_bands"))


def test_the_quantification_travels_in_the_analysis_and_its_json(model):
    from lunglens.synthetic import make_phantom
    from tests.quant.conftest import phantom_series

    phantom = make_phantom(n_slices=40, seed=5, covid_severity=0.6, size=256, pixel_spacing_mm=1.4)
    series = phantom_series(phantom.hu, 1.4, phantom.slice_thickness_mm)
    result = analyse(series, model)
    q = result.quantification
    assert q is not None and list(result.timings_s)[-2:] == ["quantify", "decide"]
    assert 0 < q.total.affected_percent < 100 and 0 <= q.severity_score <= q.severity_score_max == 30
    assert len(q.slices) == series.n_slices
    data = json.loads(result.to_json())
    assert data["quantification"]["severity_score"] == q.severity_score
    assert set(data["quantification"]["zones"]) == {
        f"{side}_{third}" for side in ("right", "left") for third in ("upper", "middle", "lower")
    }
    back = Analysis.from_dict(data).quantification
    assert back.to_dict() == q.to_dict()
    assert (back.masks.lung_labels() == q.masks.lung_labels()).all()
    assert not analyse(series, model, AnalysisOptions(quantify=False)).to_dict()["quantification"]


@pytest.mark.real_lesion_map
def test_the_learned_lesion_map_plugs_in_as_the_quantification_method(model, tmp_path):
    """The bundled lesion model through the options' name and the process's shared resolver."""
    from lunglens.synthetic import make_phantom
    from tests.quant.conftest import phantom_series

    phantom = make_phantom(n_slices=24, seed=5, covid_severity=0.6, size=256, pixel_spacing_mm=1.4)
    series = phantom_series(phantom.hu, 1.4, phantom.slice_thickness_mm)
    result = analyse(series, model, AnalysisOptions(lesion_method="learned"))
    q = result.quantification
    assert q.method == "learned" and "Polat" in q.method_description
    hu_bands = analyse(series, model, AnalysisOptions(lesion_method="hu_bands")).quantification
    assert hu_bands.method == "hu_bands" and q.lungs["right"].volume_ml == hu_bands.lungs["right"].volume_ml
    assert q.total.affected_ml != hu_bands.total.affected_ml  # another lesion map, the same lungs


def test_an_assumed_pixel_size_is_recorded_and_round_trips(ref, tmp_path, model):
    """DICOM without PixelSpacing: 1 mm is assumed, and the analysis record says it is assumed."""
    import pydicom

    for path, _ in ref.frames:
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(tmp_path / path.name)
    series = load(discover(tmp_path).series[0])
    assert not series.pixel_spacing_stated and series.pixel_spacing_mm == (1.0, 1.0)
    record = analyse(series, model, AnalysisOptions(quantify=False)).series
    assert not record.pixel_spacing_stated
    assert not Analysis.from_dict(
        json.loads(json.dumps(analyse(series, model, AnalysisOptions(quantify=False)).to_dict()))
    ).series.pixel_spacing_stated
    assert load(ref).pixel_spacing_stated


@pytest.mark.parametrize("spacing", [("0", "0"), ("-0.7", "0.7")])
def test_a_pixel_spacing_of_zero_or_below_is_taken_as_not_stated(ref, tmp_path, model, spacing):
    """PixelSpacing 0\\0 divided by zero in the lung segmentation (a traceback) and a negative one
    drew the report's key images upside down over the page: both describe no image."""
    import pydicom

    for path, _ in ref.frames:
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = list(spacing)
        ds.SliceThickness = "0"
        ds.save_as(tmp_path / path.name)
    (found,) = discover(tmp_path).series
    assert found.pixel_spacing_mm is None and found.slice_thickness_mm is None
    series = load(found)
    assert not series.pixel_spacing_stated and series.pixel_spacing_mm == (1.0, 1.0)
    assert any("no usable PixelSpacing" in warning for warning in series.warnings)
    assert analyse(series, model).quantification is not None  # the whole method runs


def test_a_cancel_after_the_classifier_stops_before_the_quantification(series, model):
    """The reader cancels while the last batch is classified: the pipeline stops before it
    quantifies (the quantification never checked the flag)."""
    from lunglens.inference import Cancelled

    class Methods:
        asked = 0

        def resolve(self, name):
            self.asked += 1
            raise AssertionError("quantified after the cancel")

    cancel, methods = threading.Event(), Methods()

    def progress(done, total):
        if done == total:
            cancel.set()

    with pytest.raises(Cancelled):
        analyse(series, model, progress=progress, cancel=cancel, lesion_methods=methods)
    assert methods.asked == 0


def test_the_verdict_caveat_names_a_demonstration_model_only(model):
    """Every verdict says it cannot tell other pneumonias; a demonstration model is named."""
    record = ModelRecord.of(model.card)
    assert not record.demonstration
    assert "other pneumonias" in record.verdict_caveat() and "Demonstration" not in record.verdict_caveat()
    demo = replace(record, intended_use="DEMONSTRATION MODEL ONLY - NOT FOR DIAGNOSIS.")
    assert demo.verdict_caveat().startswith(f"Demonstration model {record.name} {record.version}")
    assert record.label == f"{record.name} {record.version}"
    assert demo.label == f"{record.name} {record.version}, a demonstration model"


def test_a_verdict_from_a_series_the_lungs_run_off_says_so(series, model):
    """The selector keeping the first or last slice means the lungs go on beyond the series:
    the verdict reads part of them. A whole chest (closed slices at both ends) reads plainly."""
    whole = analyse(series, model, AnalysisOptions(quantify=False))
    assert whole.verdict_caveat() == whole.model.verdict_caveat()
    bases = dataclasses.replace(series, hu=series.hu[:6], positions_mm=series.positions_mm[:6])
    cut = analyse(bases, model, AnalysisOptions(quantify=False))
    assert cut.verdict_caveat().startswith(cut.model.verdict_caveat())
    assert "run off the series at its last slice" in cut.verdict_caveat()


def test_a_verdict_at_an_operating_point_that_ignores_the_images_says_so(series, model):
    """The viewer's sliders reach a cut-off of 0 (every kept slice positive) and f = 1 (k > n never
    holds): the verdict is then fixed whatever the images show, and its caveat, under it in the
    viewer, the PDF and the SR, says so; at any other point it says nothing of the kind."""
    analysis = analyse(series, model, AnalysisOptions(quantify=False))
    plain = analysis.verdict_caveat()
    every_slice = analysis.redecide(DecisionParams(slice_cutoff=0.0))
    assert every_slice.decision.covid and every_slice.verdict_caveat().startswith(plain)
    assert "the verdict is COVID-19 whatever the images show" in every_slice.verdict_caveat()
    no_patient = analysis.redecide(DecisionParams(slice_cutoff=0.0, patient_fraction=1.0))
    assert not no_patient.decision.covid
    assert no_patient.verdict_caveat().endswith("so the verdict is normal whatever the images show.")
    near = analysis.redecide(DecisionParams(slice_cutoff=0.001, patient_fraction=0.99))
    assert near.verdict_caveat() == plain


STORED_LAYOUTS = {
    "rows reversed": ((1, 0, 0, 0, -1, 0), lambda images: images[..., ::-1, :]),
    "prone (both reversed)": ((-1, 0, 0, 0, -1, 0), lambda images: images[..., ::-1, ::-1]),
    "transposed": ((0, 1, 0, 1, 0, 0), lambda images: np.swapaxes(images, -1, -2)),
}


@pytest.mark.parametrize("cam_pool", [(16, 16), (16, 32)], ids=["square CAM", "32 x 16 CAM"])
@pytest.mark.parametrize("name", STORED_LAYOUTS)
def test_the_method_sees_the_patient_the_same_way_however_the_slices_are_stored(tmp_path, name, cam_pool):
    """The selector's region and the classifier assume the patient's front at the top and the
    right on the image left: slices stored otherwise (their ImageOrientationPatient says how) are
    turned before counting and classifying, and the CAMs come back over the stored pixels.
    Before, P001 stored with its rows reversed kept 52 slices instead of 90."""
    orientation, store = STORED_LAYOUTS[name]
    model = load_model(write_tiny_model(tmp_path / "m", cam_pool=cam_pool), provider="cpu")
    standard = np.full((12, 512, 512), 24, np.uint16)
    for i in range(12):
        standard[i, 100:, :] = 1064 + 30 * i
        if 2 <= i < 10:
            standard[i, 260 - 10 * i : 330, 100 + 20 * i : 300] = 150  # lungs, off-centre and lopsided
    write_series(tmp_path / "standard", standard, -2.0 * np.arange(12))
    write_series(tmp_path / "stored", store(standard).copy(), -2.0 * np.arange(12), orientation=orientation)
    (standard_ref,) = discover(tmp_path / "standard").series
    (stored_ref,) = discover(tmp_path / "stored").series
    options = AnalysisOptions(quantify=False)
    expected = analyse(load(standard_ref), model, options)
    got = analyse(load(stored_ref), model, options)
    assert np.array_equal(got.selection.dark_pixel_counts, expected.selection.dark_pixel_counts)
    assert np.array_equal(got.selection.kept, expected.selection.kept)
    assert np.allclose(got.p_covid, expected.p_covid, equal_nan=True)
    assert np.array_equal(got.cams, store(expected.cams))
