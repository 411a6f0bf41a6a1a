"""`lunglens analyze --lesion-method {learned,hu_bands}`: the default comes from the one constant,
the JSON says which method ran, `hu` stays accepted, a learned map asked for by name whose model
cannot load stops the run naming the file, and the default falls back to the HU bands with a
warning. In process, with the cheap stand-in for the learned map (tests/lesion_stand_in.py)."""

from __future__ import annotations

import json

import pytest

from lunglens import cli
from lunglens.analysis import LESION_METHODS, lesion_methods
from lunglens.cli import common
from lunglens.inference import ModelError
from tests.lesion_stand_in import STAND_IN_DESCRIPTION
from tests.tiny_model import write_tiny_model


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def analyze(small_patient, card, tmp_path, *extra) -> tuple[int, dict | None]:
    out = tmp_path / "a.json"
    status = cli.main(["analyze", str(small_patient), "--model", str(card), "--json", str(out), *extra])
    return status, json.loads(out.read_text()) if out.exists() else None


def broken_lesion_model(card=None, provider="auto"):
    raise ModelError("/opt/lunglens/models/lunglens-lesion.json: the bundled lesion model is missing")


@pytest.mark.parametrize("default", LESION_METHODS)
def test_without_the_option_the_default_runs_and_the_json_names_it(
    small_patient, card, tmp_path, monkeypatch, capsys, default
):
    monkeypatch.setattr(common, "DEFAULT_LESION_METHOD", default)
    status, data = analyze(small_patient, card, tmp_path)
    assert status == 0
    assert data["quantification"]["method"] == default
    assert (data["quantification"]["method_description"] == STAND_IN_DESCRIPTION) == (default == "learned")
    assert f"Quantification, method {default}:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "ran"), [("learned", "learned"), ("hu_bands", "hu_bands"), ("hu", "hu_bands")]
)
def test_the_option_chooses_the_method(small_patient, card, tmp_path, option, ran):
    status, data = analyze(small_patient, card, tmp_path, "--lesion-method", option)
    assert status == 0 and data["quantification"]["method"] == ran


def test_an_unknown_method_is_refused(small_patient, card, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        analyze(small_patient, card, tmp_path, "--lesion-method", "grey")
    assert stop.value.code == 2 and "invalid choice: 'grey'" in capsys.readouterr().err


def test_a_learned_map_asked_for_by_name_that_cannot_load_stops_the_run(
    small_patient, card, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(lesion_methods, "bundled_learned_method", broken_lesion_model)
    status, data = analyze(small_patient, card, tmp_path, "--lesion-method", "learned")
    captured = capsys.readouterr()
    assert status == 2 and data is None and "verdict" not in captured.out
    assert "/opt/lunglens/models/lunglens-lesion.json" in captured.err and "Traceback" not in captured.err


def test_a_default_learned_map_that_cannot_load_falls_back_with_a_warning(
    small_patient, card, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(common, "DEFAULT_LESION_METHOD", "learned")
    monkeypatch.setattr(lesion_methods, "bundled_learned_method", broken_lesion_model)
    status, data = analyze(small_patient, card, tmp_path)
    assert status == 0 and data["quantification"]["method"] == "hu_bands"
    (warning,) = [w for w in data["quantification"]["warnings"] if "unavailable" in w]
    assert "/opt/lunglens/models/lunglens-lesion.json" in warning and "HU bands" in warning
    assert f"Warning: {warning}" in capsys.readouterr().out


def test_no_quantify_never_loads_the_lesion_model(small_patient, card, tmp_path, monkeypatch):
    monkeypatch.setattr(lesion_methods, "bundled_learned_method", broken_lesion_model)
    status, data = analyze(small_patient, card, tmp_path, "--lesion-method", "learned", "--no-quantify")
    assert status == 0 and data["quantification"] is None
