"""The lesion methods by name, the one default, the resolver (the lesion model loaded once per
process) and the fallback rule (HU bands with a warning, never silently)."""

from __future__ import annotations

import threading

import pytest

from lunglens.analysis import AnalysisOptions, analyse, lesion_methods
from lunglens.analysis.lesion_methods import (
    DEFAULT_LESION_METHOD,
    LESION_METHODS,
    LesionMethods,
    lesion_method_name,
    shared_lesion_methods,
)
from lunglens.inference import ModelError, load_model
from lunglens.quant import HUBandMethod
from lunglens.synthetic import make_phantom
from tests.lesion_stand_in import STAND_IN_DESCRIPTION, stand_in_learned_method
from tests.quant.conftest import phantom_series
from tests.tiny_model import write_tiny_model


@pytest.mark.parametrize(
    ("asked", "canonical"), [("learned", "learned"), ("hu_bands", "hu_bands"), ("hu", "hu_bands")]
)
def test_names_and_the_alias(asked, canonical):
    assert lesion_method_name(asked) == canonical
    assert AnalysisOptions(lesion_method=asked).lesion_method == canonical


def test_an_unknown_name_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="learned, hu_bands"):
        AnalysisOptions(lesion_method="grey")


def test_the_default_is_one_of_the_methods_and_the_options_default():
    assert DEFAULT_LESION_METHOD in LESION_METHODS
    assert AnalysisOptions().lesion_method == DEFAULT_LESION_METHOD


def test_the_learned_method_is_built_once_whoever_asks_and_hu_bands_never_builds_it():
    built = []

    def make():
        built.append(1)
        return stand_in_learned_method()

    methods = LesionMethods(make)
    assert isinstance(methods.resolve("hu_bands").method, HUBandMethod) and methods.loads == 0
    threads = [threading.Thread(target=methods.resolve, args=("learned",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    first, second = methods.resolve("learned"), methods.resolve("learned")
    assert first.method is second.method and not first.warning
    assert len(built) == 1 and methods.loads == 1


def test_the_process_keeps_one_resolver_per_lesion_model_and_provider(tmp_path):
    assert shared_lesion_methods() is shared_lesion_methods(provider="auto")
    assert shared_lesion_methods(provider="cpu") is not shared_lesion_methods()
    assert shared_lesion_methods(tmp_path / "other.json") is not shared_lesion_methods()


def test_an_unavailable_learned_map_falls_back_to_hu_bands_with_a_warning():
    def broken():
        raise ModelError("/models/lunglens-lesion.json: the bundled lesion model is missing")

    methods = LesionMethods(broken)
    resolved = methods.resolve("learned")
    assert isinstance(resolved.method, HUBandMethod)
    assert "learned lesion map" in resolved.warning and "/models/lunglens-lesion.json" in resolved.warning
    methods.resolve("learned")
    assert methods.loads == 1  # the failed load is not retried for every analysis
    with pytest.raises(ModelError, match="lunglens-lesion.json"):
        methods.learned()  # what a command that was asked for the learned map explicitly checks


@pytest.fixture(scope="module")
def phantom():
    made = make_phantom(n_slices=16, seed=3, covid_severity=0.6, size=128, pixel_spacing_mm=2.8)
    return phantom_series(made.hu, 2.8, made.slice_thickness_mm)


@pytest.fixture
def model(tmp_path):
    return load_model(write_tiny_model(tmp_path / "m"), provider="cpu")


@pytest.mark.parametrize("name", LESION_METHODS)
def test_the_pipeline_runs_the_method_the_options_name(phantom, model, name):
    q = analyse(phantom, model, AnalysisOptions(lesion_method=name)).quantification
    assert q.method == name
    assert (STAND_IN_DESCRIPTION in q.method_description) == (name == "learned")
    assert not any("unavailable" in w for w in q.warnings)


def test_the_pipeline_loads_the_learned_method_once_for_many_analyses(phantom, model, monkeypatch):
    built = []

    def counting(card=None, provider="auto"):
        built.append(provider)
        return stand_in_learned_method()

    monkeypatch.setattr(lesion_methods, "bundled_learned_method", counting)
    for _ in range(3):
        analyse(phantom, model, AnalysisOptions(lesion_method="learned"))
    assert built == ["cpu"]  # on the classifier's provider, once


def test_the_fallback_is_written_in_the_quantification_not_hidden(phantom, model):
    def broken():
        raise ModelError("/x/lunglens-lesion.onnx: not a loadable ONNX model")

    result = analyse(
        phantom, model, AnalysisOptions(lesion_method="learned"), lesion_methods=LesionMethods(broken)
    )
    q = result.quantification
    assert q.method == "hu_bands" and "threshold estimate" in q.method_description
    assert any("/x/lunglens-lesion.onnx" in w and "HU bands" in w for w in q.warnings)
    assert any("/x/lunglens-lesion.onnx" in w for w in result.to_dict()["quantification"]["warnings"])


@pytest.mark.real_lesion_map
def test_a_lesion_model_that_cannot_load_is_named(tmp_path):
    (tmp_path / "lesion.json").write_text("{not json")
    resolved = shared_lesion_methods(tmp_path / "lesion.json", provider="cpu").resolve("learned")
    assert isinstance(resolved.method, HUBandMethod)
    assert str(tmp_path / "lesion.json") in resolved.warning


def test_requantify_changes_the_method_without_running_the_classifier(phantom, model):
    from lunglens.analysis import requantify

    def never():
        raise AssertionError("the HU bands built the learned method")

    first = analyse(phantom, model, AnalysisOptions(lesion_method="hu_bands"))
    model.run = lambda image: pytest.fail("the classifier ran again")
    again = requantify(first, phantom, "learned")
    assert first.quantification.method == "hu_bands" and again.quantification.method == "learned"
    assert again.p_covid is first.p_covid and again.decision == first.decision
    for side in ("right", "left"):  # the same lungs, another lesion map
        assert again.quantification.lungs[side].volume_ml == first.quantification.lungs[side].volume_ml
    assert again.quantification.total.affected_ml != first.quantification.total.affected_ml
    assert list(again.timings_s) == list(first.timings_s)
    back = requantify(again, phantom, "hu", lesion_methods=LesionMethods(never))
    assert back.quantification.to_dict() == first.quantification.to_dict()


def test_requantify_refuses_another_series(phantom, model):
    from dataclasses import replace

    from lunglens.analysis import requantify

    first = analyse(phantom, model, AnalysisOptions(lesion_method="hu_bands"))
    other = replace(phantom, hu=phantom.hu[:-1], positions_mm=phantom.positions_mm[:-1])
    with pytest.raises(ValueError, match="is not the series of this analysis"):
        requantify(first, other, "learned")
    mirrored = replace(phantom, hu=phantom.hu[:, :, ::-1].copy())  # same key and length, other images
    with pytest.raises(ValueError, match="is not the series of this analysis"):
        requantify(first, mirrored, "learned")


def test_a_learned_map_records_its_lesion_model_and_older_results_load_without_it(phantom, model, tmp_path):
    import json

    from lunglens.analysis import Analysis
    from lunglens.inference.lesion_model import load_lesion_model
    from lunglens.quant.lesion_map import learned_method
    from lunglens.quant.result import LesionModelRecord
    from tests.tiny_lesion_model import write_tiny_lesion_model

    lesion_model = load_lesion_model(write_tiny_lesion_model(tmp_path / "lesion"), provider="cpu")
    methods = LesionMethods(lambda: learned_method(lesion_model))
    result = analyse(phantom, model, AnalysisOptions(lesion_method="learned"), lesion_methods=methods)
    card = lesion_model.card
    expected = LesionModelRecord(card.name, card.version, card.sha256)
    assert result.quantification.lesion_model == expected
    data = json.loads(result.to_json())
    assert data["quantification"]["lesion_model"]["sha256"] == card.sha256
    assert Analysis.from_dict(data).quantification.lesion_model == expected
    del data["quantification"]["lesion_model"]  # a result written before the model was recorded
    assert Analysis.from_dict(data).quantification.lesion_model is None
    bands = analyse(phantom, model, AnalysisOptions(lesion_method="hu_bands")).quantification
    assert bands.lesion_model is None and bands.to_dict()["lesion_model"] is None
