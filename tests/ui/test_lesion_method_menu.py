"""Analysis ▸ Lesion method: the two methods with the default checked, the choice remembered in
the settings, the analysis run with the chosen method, a change of method that quantifies the
shown analysis again without running the classifier, and the fallback warning in the panel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from lunglens.analysis import DEFAULT_LESION_METHOD, LESION_METHODS, lesion_methods
from lunglens.analysis.lesion_methods import LESION_METHOD_LABELS
from lunglens.inference import ModelError
from lunglens.ui import controller as controller_module


def _open(qtbot, window, folder):
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)


def _analyse(qtbot, window):
    with qtbot.waitSignal(window.controller.analysisDone, timeout=120000):
        window.controller.run_analysis()
    return window.state.analysis


def test_the_menu_names_both_methods_and_checks_the_default(window):
    actions = window.lesion_method_actions
    assert list(actions) == list(LESION_METHODS)
    assert [name for name, action in actions.items() if action.isChecked()] == [DEFAULT_LESION_METHOD]
    assert "(default)" in actions[DEFAULT_LESION_METHOD].text()
    assert "classifier does not run again" in actions["hu_bands"].toolTip()


def test_the_choice_is_remembered(qtbot, window, tmp_path, tiny_model_card):
    from lunglens.ui.main_window import MainWindow

    other = next(name for name in LESION_METHODS if name != DEFAULT_LESION_METHOD)
    window.lesion_method_actions[other].trigger()
    assert window.controller.lesion_method == other
    assert window.settings.value("lesion_method") == other
    window.settings.sync()
    again = MainWindow(
        settings=QSettings(window.settings.fileName(), QSettings.Format.IniFormat),
        model_path=tiny_model_card,
        provider="cpu",
    )
    qtbot.addWidget(again)
    assert again.controller.lesion_method == other and again.lesion_method_actions[other].isChecked()


def test_an_unknown_remembered_method_gives_the_default(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("lesion_method", "grey")
    assert controller_module.remembered_lesion_method(settings) == DEFAULT_LESION_METHOD


@pytest.mark.parametrize("name", LESION_METHODS)
def test_the_analysis_quantifies_with_the_chosen_method(qtbot, window, small_patient, name):
    window.lesion_method_actions[name].trigger()
    _open(qtbot, window, small_patient)
    q = _analyse(qtbot, window).quantification
    assert q.method == name
    assert LESION_METHOD_LABELS[name] in window.quant_panel.method.text()


def test_changing_the_method_quantifies_again_without_the_classifier(
    qtbot, window, small_patient, monkeypatch
):
    window.lesion_method_actions["hu_bands"].trigger()
    _open(qtbot, window, small_patient)
    first = _analyse(qtbot, window)
    assert first.quantification.method == "hu_bands"

    def no_classifier(*args, **kwargs):
        raise AssertionError("the classifier ran again")

    monkeypatch.setattr(controller_module, "analyse", no_classifier)
    with qtbot.waitSignal(window.state.analysisChanged, timeout=60000):
        window.lesion_method_actions["learned"].trigger()
    again = window.state.analysis
    assert again.quantification.method == "learned"
    assert (again.p_covid[first.classified] == first.p_covid[first.classified]).all()
    assert (again.decision.k_positive, again.decision.covid) == (
        first.decision.k_positive,
        first.decision.covid,
    )
    assert LESION_METHOD_LABELS["learned"] in window.quant_panel.method.text()
    assert "did not run again" in window.analysis_panel.message.text()
    assert (
        window.controller.results[
            controller_module.session_key(window.state.series.ref)
        ].quantification.method
        == "learned"
    )


def test_an_unavailable_learned_map_is_said_in_the_panel(qtbot, window, small_patient, monkeypatch):
    def broken(card=None, provider="auto"):
        raise ModelError("/opt/lunglens/models/lunglens-lesion.json: the bundled lesion model is missing")

    monkeypatch.setattr(lesion_methods, "bundled_learned_method", broken)
    window.lesion_method_actions["learned"].trigger()
    _open(qtbot, window, small_patient)
    q = _analyse(qtbot, window).quantification
    assert q.method == "hu_bands"
    panel = window.quant_panel
    assert panel.warnings.isVisibleTo(panel) and "lunglens-lesion.json" in panel.warnings.text()
    assert LESION_METHOD_LABELS["hu_bands"] in panel.method.text()


def _hold_the_learned_map(window):
    """Make the viewer's learned map wait for `gate` after setting `started` (both returned)."""
    import threading

    import numpy as np

    from lunglens.quant.bands import ProbabilityMapMethod

    started, gate = threading.Event(), threading.Event()

    def held_probability(hu, lung_labels, voxel_mm, cancel=None):
        started.set()
        gate.wait(30)
        return np.zeros(hu.shape, np.float32)

    window.controller.lesion_methods = lesion_methods.LesionMethods(
        lambda: ProbabilityMapMethod(probability=held_probability, name="learned", description="held")
    )
    return started, gate


def test_a_method_chosen_while_the_map_runs_is_the_one_shown(qtbot, window, small_patient):
    """HU bands → learned → HU bands while the learned re-quantification runs: the menu and the
    shown quantification both end on the HU bands (the learned result landed and was shown)."""

    started, gate = _hold_the_learned_map(window)
    control = window.controller
    window.lesion_method_actions["hu_bands"].trigger()
    _open(qtbot, window, small_patient)
    assert _analyse(qtbot, window).quantification.method == "hu_bands"
    window.lesion_method_actions["learned"].trigger()
    qtbot.waitUntil(started.is_set, timeout=30000)
    window.lesion_method_actions["hu_bands"].trigger()
    with qtbot.waitSignal(control.analysisRunning, timeout=30000, check_params_cb=lambda on: not on):
        gate.set()
    assert window.lesion_method_actions["hu_bands"].isChecked()
    assert window.state.analysis.quantification.method == "hu_bands"
    assert (
        control.results[controller_module.session_key(window.state.series.ref)].quantification.method
        == "hu_bands"
    )
    assert LESION_METHOD_LABELS["hu_bands"] in window.quant_panel.method.text()
    assert "was not shown" in window.analysis_panel.message.text()


def test_a_running_analysis_greys_the_previous_verdict_and_export_waits(
    qtbot, window, small_patient, monkeypatch
):
    """While a re-run runs, the verdict shown is the previous one: greyed, struck through and
    said to be out of date; Export PDF (and sending results) wait for the new one."""
    import threading

    control = window.controller
    window.lesion_method_actions["hu_bands"].trigger()
    _open(qtbot, window, small_patient)
    _analyse(qtbot, window)
    panel = window.decision_panel
    assert window.export_action.isEnabled() and "#888" not in panel.verdict.styleSheet()
    gate, real = threading.Event(), controller_module.analyse

    def held_analyse(*args, **kwargs):
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(controller_module, "analyse", held_analyse)
    control.run_analysis()
    assert not window.export_action.isEnabled() and not window.hospital.send_action.isEnabled()
    assert "#888" in panel.verdict.styleSheet() and "line-through" in panel.verdict.styleSheet()
    assert "out of date" in panel.count.text()
    with qtbot.waitSignal(control.analysisDone, timeout=60000):
        gate.set()
    assert window.export_action.isEnabled()
    assert "#888" not in panel.verdict.styleSheet() and "out of date" not in panel.count.text()


def test_a_requantification_dropped_by_a_series_switch_is_made_when_the_series_comes_back(
    qtbot, window, small_patient, tmp_path
):
    """HU bands analysed, learned chosen, another series opened before the learned map is done
    (the job is dropped), the first series opened again: its analysis comes back and is quantified
    again by the learned method, so the figures agree with the menu."""

    from lunglens.synthetic import make_phantom, write_dicom_series

    other = make_phantom(n_slices=16, seed=5, covid_severity=0.0, size=128, pixel_spacing_mm=2.8)
    write_dicom_series(
        other.hu, other.positions_mm, 2.8, other.slice_thickness_mm, tmp_path / "other", seed=5
    )
    started, gate = _hold_the_learned_map(window)
    control = window.controller
    window.lesion_method_actions["hu_bands"].trigger()
    _open(qtbot, window, small_patient)
    key = _analyse(qtbot, window).series.key
    window.lesion_method_actions["learned"].trigger()
    qtbot.waitUntil(started.is_set, timeout=30000)
    _open(qtbot, window, tmp_path / "other")
    gate.set()
    assert window.state.analysis is None
    _open(qtbot, window, small_patient)
    qtbot.waitUntil(lambda: window.state.analysis.quantification.method == "learned", timeout=60000)
    shown = window.state.analysis
    assert shown.series.key == key and shown.quantification.method == "learned"
    assert window.lesion_method_actions["learned"].isChecked()
    assert LESION_METHOD_LABELS["learned"] in window.quant_panel.method.text()
    assert (
        control.results[controller_module.session_key(window.state.series.ref)].quantification.method
        == "learned"
    )
