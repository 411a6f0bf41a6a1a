"""The decision panel: the verdict with what it cannot tell (`Analysis.verdict_caveat`), k of n
kept slices positive, and the operating point as two sliders with exact entry beside them
(patient fraction f, with f = 0 meaning "at least one slice"; slice cut-off on P(COVID)) and a
reset to the paper's operating point. Moving either
asks for a re-decision at once; the panel shows what flipped since the drag began. A slider sets
only its own value; the boxes hold the operating point exactly (a saved f = 0.7, beyond the
slider's range, or a cut-off 0.0088 between its steps, stays as it is). The wheel moves a slider
or box only once the reader has clicked into it; otherwise it scrolls the panel."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lunglens.analysis import readout
from lunglens.core.decision import DecisionParams, SliceFlips, exact_text, flips_since
from lunglens.ui.state import ViewerState

FRACTION_STEPS = 100
"""The fraction slider runs over 0..0.5 in steps of 0.005 (the paper uses 0 and 0.1); exact
entry goes up to 1 (the slider then stays at its end)."""
FRACTION_MAX = 0.5
CUTOFF_STEPS = 100
"""The cut-off slider runs over 0..1 in steps of 0.01; exact entry takes any value between."""
PAPER = DecisionParams()
"""The paper's operating point: cut-off 0.5 (arg-max), f = 0.1 (its tables)."""


class ExactSpin(QDoubleSpinBox):
    """A box over 0..1 that holds any value the analysis can (a float's shortest decimal form,
    `exact_text`) and shows it with as many decimals as it has, no more (0.7, 0.0088, 0.3332);
    its arrows step in exact decimals (0.335 - 0.005 is 0.33, not 0.33000000000000007)."""

    def __init__(self, step: float):
        super().__init__()
        self.setRange(0.0, 1.0)
        self.setDecimals(20)  # Qt rounds every value to this many decimals: enough for any float here
        self.setSingleStep(step)
        self.setKeyboardTracking(False)  # typed digits apply on Enter, not one by one
        self.setFixedWidth(96)

    def textFromValue(self, value: float) -> str:
        return self.locale().toString(value, "f", len(exact_text(value).partition(".")[2]))

    def stepBy(self, steps: int) -> None:
        self.setValue(float(Decimal(repr(self.value())) + steps * Decimal(repr(self.singleStep()))))


def _set_quietly(widget: QSlider | QDoubleSpinBox, value: float) -> None:
    """Set a slider or box without it emitting."""
    widget.blockSignals(True)
    widget.setValue(value)
    widget.blockSignals(False)


class WheelOnlyWithFocus(QObject):
    """An event filter that keeps the wheel from changing a slider or spin box the reader has not
    clicked into: without focus the wheel event goes on to the parent (the panel scrolls)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()
            return True
        return False


class DecisionPanel(QGroupBox):
    """Emits `paramsChanged(DecisionParams)` on every move and `flipsChanged(SliceFlips)` when
    the slices flipped since the current drag (or the last single step) began change; shows
    `state`'s decision."""

    paramsChanged = Signal(object)
    flipsChanged = Signal(object)

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__("Decision", parent)
        self.state = state
        self.flip_list = SliceFlips()
        self.running = False
        """Whether an analysis runs: the verdict shown is then the previous one, greyed."""
        self._anchor = None
        """The per-slice positive flags where the current drag or step began (None: none yet)."""
        self.verdict = QLabel("Not analysed")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setStyleSheet("font-size: 20px; font-weight: bold; padding: 4px;")
        self.caveat = QLabel("")
        """Which model made the verdict when it is a demonstration model, and what it cannot tell."""
        self.caveat.setWordWrap(True)
        self.caveat.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caveat.setStyleSheet("font-size: 11px; color: #888;")
        self.count = QLabel("")
        self.count.setWordWrap(True)
        self.series_warnings = QLabel("")
        """The analysed series' warnings (gaps, files skipped beside its own: the verdict may read a
        series with slices missing), as the report lists them under "This series"."""
        self.series_warnings.setWordWrap(True)
        self.series_warnings.setStyleSheet("color: #c05a00;")
        self.fraction = QSlider(Qt.Orientation.Horizontal)
        self.fraction.setRange(0, FRACTION_STEPS)
        self.fraction_spin = ExactSpin(FRACTION_MAX / FRACTION_STEPS)
        self.fraction_label = QLabel()
        self.cutoff = QSlider(Qt.Orientation.Horizontal)
        self.cutoff.setRange(0, CUTOFF_STEPS)
        self.cutoff_spin = ExactSpin(1 / CUTOFF_STEPS)
        self.cutoff_label = QLabel()
        for label in (self.fraction_label, self.cutoff_label):
            label.setWordWrap(True)
        self.reset = QPushButton(
            f"Paper's operating point (cut-off {PAPER.slice_cutoff:g}, f = {PAPER.patient_fraction:g})"
        )
        self.reset.setToolTip(
            f"Rahimzadeh et al.: a slice is positive at {PAPER.slice_rule()}; the tables use "
            f"f = {exact_text(PAPER.patient_fraction)}"
        )
        self.flips = QLabel("")
        self.flips.setWordWrap(True)
        self.flips.setStyleSheet("color: #b8860b;")
        grid = QGridLayout()
        grid.addWidget(self.fraction_label, 0, 0, 1, 2)
        grid.addWidget(self.fraction, 1, 0)
        grid.addWidget(self.fraction_spin, 1, 1)
        grid.addWidget(self.cutoff_label, 2, 0, 1, 2)
        grid.addWidget(self.cutoff, 3, 0)
        grid.addWidget(self.cutoff_spin, 3, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self.caveat)
        layout.addWidget(self.count)
        layout.addWidget(self.series_warnings)
        layout.addLayout(grid)
        layout.addWidget(self.reset)
        layout.addWidget(self.flips)
        self.set_params(state.params)
        self.fraction.valueChanged.connect(self._fraction_moved)
        self.cutoff.valueChanged.connect(self._cutoff_moved)
        for slider in (self.fraction, self.cutoff):
            slider.sliderPressed.connect(self._drag_began)
        for spin in (self.fraction_spin, self.cutoff_spin):
            spin.valueChanged.connect(self._entered)
        self._wheel_filter = WheelOnlyWithFocus(self)
        for widget in (self.fraction, self.cutoff, self.fraction_spin, self.cutoff_spin):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel gives no focus
            widget.installEventFilter(self._wheel_filter)
        self.reset.clicked.connect(self.reset_to_paper)
        state.decisionChanged.connect(self.refresh)
        state.analysisChanged.connect(self._new_analysis)
        self.refresh()

    def params(self) -> DecisionParams:
        """The operating point as entered (the exact-entry boxes hold the values)."""
        return DecisionParams(
            slice_cutoff=self.cutoff_spin.value(), patient_fraction=self.fraction_spin.value()
        )

    def set_params(self, params: DecisionParams) -> None:
        """Put the sliders and boxes at `params` without emitting (the fraction slider at its end
        for f above its range)."""
        for widget, value in (
            (self.fraction_spin, params.patient_fraction),
            (self.cutoff_spin, params.slice_cutoff),
            (
                self.fraction,
                round(min(params.patient_fraction, FRACTION_MAX) / FRACTION_MAX * FRACTION_STEPS),
            ),
            (self.cutoff, round(params.slice_cutoff * CUTOFF_STEPS)),
        ):
            _set_quietly(widget, value)
        self._label(self.params())

    def reset_to_paper(self) -> None:
        """Back to the paper's operating point (cut-off 0.5, f = 0.1), as one step."""
        self.set_params(PAPER)
        self._changed()

    # --- moves -----------------------------------------------------------------------------
    def _drag_began(self) -> None:
        self._anchor = self._positive_now()

    def _fraction_moved(self, position: int) -> None:
        """The fraction slider moved: f follows it; the cut-off stays as it is."""
        _set_quietly(self.fraction_spin, position * FRACTION_MAX / FRACTION_STEPS)
        self._changed()

    def _cutoff_moved(self, position: int) -> None:
        """The cut-off slider moved: the cut-off follows it; f stays as it is."""
        _set_quietly(self.cutoff_spin, position / CUTOFF_STEPS)
        self._changed()

    def _entered(self) -> None:
        self.set_params(self.params())  # the sliders follow the typed values
        self._changed()

    def _changed(self) -> None:
        dragging = self.fraction.isSliderDown() or self.cutoff.isSliderDown()
        if not dragging or self._anchor is None:
            self._anchor = self._positive_now()  # a single step is its own "drag"
        params = self.params()
        self._label(params)
        self.paramsChanged.emit(params)

    def _positive_now(self):
        analysis = self.state.analysis
        return analysis.decision.positive.copy() if analysis is not None else None

    def _new_analysis(self) -> None:
        self._anchor = None
        self.refresh()

    def _label(self, params: DecisionParams) -> None:
        self.fraction_label.setText(readout.fraction_label(params))
        self.cutoff_label.setText(readout.cutoff_label(params))

    # --- showing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        analysis = self.state.analysis
        if self.params() != self.state.params:  # the operating point of a saved analysis
            self.set_params(self.state.params)
        for widget in (self.fraction, self.cutoff, self.fraction_spin, self.cutoff_spin, self.reset):
            widget.setEnabled(analysis is not None)
        self._set_flips(
            flips_since(self._anchor, analysis.decision)
            if analysis is not None
            and self._anchor is not None
            and self._anchor.shape == analysis.decision.positive.shape
            else SliceFlips()
        )
        if analysis is None:
            self.verdict.setText("Not analysed")
            self.verdict.setStyleSheet("font-size: 20px; font-weight: bold; padding: 4px; color: #888;")
            self.caveat.setText("")
            self.count.setText("Run the analysis to classify the kept slices.")
            self._set_series_warnings(())
            return
        decision = analysis.decision
        # while an analysis runs the verdict shown is the previous one: greyed and struck through
        colour, struck = (
            ("#888", "line-through") if self.running else ("#e03030" if decision.covid else "#2e9d4f", "none")
        )
        self.verdict.setText(decision.verdict)
        self.verdict.setStyleSheet(
            f"font-size: 20px; font-weight: bold; padding: 4px; color: {colour}; text-decoration: {struck};"
        )
        self.caveat.setText(analysis.verdict_caveat())
        self.count.setText(
            "Previous result, out of date: an analysis is running."
            if self.running
            else readout.decision_count(decision)
        )
        self._set_series_warnings(analysis.series.warnings)

    def _set_series_warnings(self, warnings) -> None:
        self.series_warnings.setText("\n".join(f"⚠ This series: {w}" for w in warnings))
        self.series_warnings.setVisible(bool(warnings))

    def set_running(self, running: bool) -> None:
        """An analysis started (the shown verdict is greyed as out of date) or ended."""
        self.running = running
        self.refresh()

    def _set_flips(self, flips: SliceFlips) -> None:
        self.flips.setText(readout.flips(flips.now_positive, flips.now_negative))
        if flips != self.flip_list:
            self.flip_list = flips
            self.flipsChanged.emit(flips)
