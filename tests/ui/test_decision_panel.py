"""The decision panel: a slider drag lists every slice flipped since the drag began (not only
its last step), single steps list their own flips, exact entry sets the operating point the
slider cannot reach, and the reset goes back to the paper's 0.5 / 0.1."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lunglens.analysis import ModelRecord
from lunglens.core.decision import DecisionParams, SliceFlips, decide
from lunglens.ui.decision_panel import DecisionPanel
from lunglens.ui.state import ViewerState

P_COVID = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55, 0.2, 0.0003])
DEMO_MODEL = ModelRecord(
    name="lunglens-demo",
    version="1.2.0",
    sha256="0" * 64,
    class_names=("COVID-19", "normal"),
    covid_index=0,
    cam_size=(16, 16),
    intended_use="DEMONSTRATION MODEL ONLY - NOT FOR DIAGNOSIS OR ANY CLINICAL USE.",
)


class StandInAnalysis:
    """What the panel and the state read of an Analysis: `decision`, `verdict_caveat`, the
    series' `warnings` and `redecide`."""

    def __init__(self, params: DecisionParams, warnings: tuple[str, ...] = ()):
        self.decision = decide(P_COVID, np.ones(P_COVID.size, bool), params)
        self.series = SimpleNamespace(warnings=warnings)

    def verdict_caveat(self) -> str:
        return DEMO_MODEL.verdict_caveat()

    def redecide(self, params: DecisionParams) -> StandInAnalysis:
        return StandInAnalysis(params, self.series.warnings)


@pytest.fixture
def panel(qtbot):
    state = ViewerState()
    widget = DecisionPanel(state)
    qtbot.addWidget(widget)
    widget.paramsChanged.connect(state.set_params)  # as the controller does
    state.set_analysis(StandInAnalysis(state.params))
    return widget


def test_a_drag_lists_every_slice_flipped_since_it_began(qtbot, panel):
    panel.cutoff.setValue(92)
    assert panel.state.analysis.decision.positive.sum() == 1
    panel.cutoff.setSliderDown(True)
    with qtbot.waitSignal(panel.flipsChanged):
        for value in range(91, 49, -1):
            panel.cutoff.setValue(value)
    panel.cutoff.setSliderDown(False)
    assert panel.flip_list == SliceFlips(now_positive=(1, 2, 3, 4, 5))
    assert "now positive: 2, 3, 4, 5, 6" in panel.flips.text()
    panel.cutoff.setValue(49)  # a single key step after the drag: nothing more flips
    assert panel.flip_list == SliceFlips()
    panel.cutoff.setValue(58)  # a single step back lists its own flips
    assert panel.flip_list == SliceFlips(now_negative=(5,))


def test_exact_entry_reaches_values_the_slider_cannot(panel):
    panel.cutoff_spin.setValue(0.0002)
    assert panel.state.analysis.decision.params.slice_cutoff == 0.0002
    assert panel.state.analysis.decision.positive[-1]
    assert panel.cutoff.value() == 0
    panel.fraction_spin.setValue(0.3)
    assert panel.state.params == DecisionParams(slice_cutoff=0.0002, patient_fraction=0.3)
    assert panel.fraction.value() == 60
    panel.fraction.setValue(0)
    assert panel.fraction_spin.value() == 0 and "at least one slice" in panel.fraction_label.text()


def test_reset_goes_back_to_the_papers_operating_point(panel):
    panel.cutoff.setValue(10)
    panel.fraction.setValue(0)
    panel.reset.click()
    assert panel.state.params == DecisionParams(slice_cutoff=0.5, patient_fraction=0.1)
    assert (panel.cutoff.value(), panel.fraction.value()) == (50, 20)
    assert panel.flip_list.now_negative  # the slices between 0.1 and 0.5 flipped back


def test_a_new_analysis_forgets_the_flips(panel):
    panel.cutoff.setValue(10)
    assert panel.flip_list
    panel.state.set_analysis(StandInAnalysis(panel.state.params))
    assert panel.flip_list == SliceFlips() and panel.flips.text() == ""


def test_the_verdict_names_the_demonstration_model_and_what_it_cannot_tell(panel):
    """A "normal" of the demonstration model on a community-acquired pneumonia must not read as
    a clean bill of health."""
    panel.set_params(DecisionParams(1.0, 0.5))
    panel.reset_to_paper()
    caveat = panel.caveat.text()
    assert caveat == DEMO_MODEL.verdict_caveat()
    assert "Demonstration model lunglens-demo 1.2.0" in caveat and "other pneumonias" in caveat
    assert panel.caveat.isVisibleTo(panel)
    panel.state.set_analysis(None)
    assert panel.caveat.text() == ""


def test_the_series_warnings_stay_beside_the_verdict(panel):
    """A verdict on a series with files skipped beside it (perhaps slices of it) or gaps says so
    as long as it is shown, as the report does under "This series"."""
    assert not panel.series_warnings.isVisibleTo(panel)
    skipped = "20 entries in the series' folder skipped (file cut short: a.dcm, b.dcm, c.dcm and 17 more)"
    panel.state.set_analysis(StandInAnalysis(panel.state.params, ("1 gap(s) in the series", skipped)))
    assert panel.series_warnings.isVisibleTo(panel)
    assert panel.series_warnings.text() == f"⚠ This series: 1 gap(s) in the series\n⚠ This series: {skipped}"
    panel.cutoff.setValue(10)  # a new operating point keeps them
    assert skipped in panel.series_warnings.text()
    panel.state.set_analysis(None)
    assert not panel.series_warnings.isVisibleTo(panel)


def _wheel(widget, notches: int) -> bool:
    """Send a wheel event of `notches` to `widget`; whether it was accepted (a real event that
    is not goes on to the parent: a synthesized one is not propagated by Qt)."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_scrolls_the_panel_unless_a_slider_or_box_has_focus(qtbot):
    """Scrolling the side panel past the sliders must not move the operating point: without
    focus the widgets leave the wheel to the panel's scroll area."""
    state = ViewerState()
    panel = DecisionPanel(state)
    qtbot.addWidget(panel)
    panel.paramsChanged.connect(state.set_params)
    state.set_analysis(StandInAnalysis(state.params))
    panel.show()
    qtbot.waitExposed(panel)
    before = state.params
    for widget in (panel.cutoff, panel.fraction, panel.cutoff_spin, panel.fraction_spin):
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus
        assert not _wheel(widget, 1)
    assert state.params == before
    panel.activateWindow()
    panel.cutoff.setFocus()
    qtbot.waitUntil(panel.cutoff.hasFocus)
    assert _wheel(panel.cutoff, 1)
    assert state.params.slice_cutoff != before.slice_cutoff


def test_a_slider_sets_only_its_own_value_and_the_boxes_keep_every_value_exactly(panel):
    """A saved f above the slider's range (0.7) and a cut-off between its steps (0.0088) stay as
    they are when the other slider moves, and show without rounding; typed f = 0.333 is not moved
    to the fraction slider's 0.335 by a cut-off nudge."""
    panel.state.set_analysis(StandInAnalysis(DecisionParams(0.0088, 0.7)), at_its_params=True)
    assert panel.fraction.value() == 100  # pinned at its end
    panel.cutoff.setValue(60)
    assert panel.state.params == DecisionParams(slice_cutoff=0.6, patient_fraction=0.7)
    panel.state.set_analysis(StandInAnalysis(DecisionParams(0.0088, 0.7)), at_its_params=True)
    assert (panel.fraction_spin.text(), panel.cutoff_spin.text()) == ("0.7", "0.0088")
    assert panel.cutoff_label.text().endswith("≥ 0.0088") and "f = 0.7 —" in panel.fraction_label.text()
    panel.fraction.setValue(40)
    assert panel.state.params == DecisionParams(slice_cutoff=0.0088, patient_fraction=0.2)
    panel.fraction_spin.setValue(0.333)
    panel.cutoff.setValue(49)
    assert panel.state.params == DecisionParams(slice_cutoff=0.49, patient_fraction=0.333)
    panel.fraction_spin.setValue(0.3332)
    assert panel.fraction_spin.text() == "0.3332" and "f = 0.3332 —" in panel.fraction_label.text()
    assert panel.state.params.patient_fraction == 0.3332


def test_the_arrows_step_in_exact_decimals(panel):
    panel.fraction_spin.setValue(0.335)
    panel.fraction_spin.stepBy(-1)
    assert panel.fraction_spin.value() == 0.33 and panel.fraction_spin.text() == "0.33"
    panel.cutoff_spin.setValue(0.0088)
    panel.cutoff_spin.stepBy(1)
    assert panel.state.params.slice_cutoff == 0.0188
