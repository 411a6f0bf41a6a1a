"""The decision panel: the verdict, k of n kept slices positive, and the operating point as two
sliders (patient fraction f, with f = 0 meaning "at least one slice"; slice cut-off on
P(COVID)). Moving a slider asks for a re-decision at once; the panel shows what flipped."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSlider, QVBoxLayout, QWidget

from lunglens.analysis import readout
from lunglens.core.decision import DecisionParams
from lunglens.ui.state import ViewerState

FRACTION_STEPS = 100
"""The fraction slider runs over 0..0.5 in steps of 0.005 (the paper uses 0 and 0.1)."""
FRACTION_MAX = 0.5


class DecisionPanel(QGroupBox):
    """Emits `paramsChanged(DecisionParams)` on every slider move; shows `state`'s decision."""

    paramsChanged = Signal(object)

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__("Decision", parent)
        self.state = state
        self.verdict = QLabel("Not analysed")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setStyleSheet("font-size: 20px; font-weight: bold; padding: 4px;")
        self.count = QLabel("")
        self.count.setWordWrap(True)
        self.fraction = QSlider(Qt.Orientation.Horizontal)
        self.fraction.setRange(0, FRACTION_STEPS)
        self.fraction_label = QLabel()
        self.cutoff = QSlider(Qt.Orientation.Horizontal)
        self.cutoff.setRange(0, 100)
        self.cutoff_label = QLabel()
        self.flips = QLabel("")
        self.flips.setWordWrap(True)
        self.flips.setStyleSheet("color: #b8860b;")
        form = QFormLayout()
        form.addRow(self.fraction_label)
        form.addRow(self.fraction)
        form.addRow(self.cutoff_label)
        form.addRow(self.cutoff)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self.count)
        layout.addLayout(form)
        layout.addWidget(self.flips)
        self.set_params(state.params)
        self.fraction.valueChanged.connect(self._moved)
        self.cutoff.valueChanged.connect(self._moved)
        state.decisionChanged.connect(self.refresh)
        state.analysisChanged.connect(self.refresh)
        self.refresh()

    def params(self) -> DecisionParams:
        return DecisionParams(
            slice_cutoff=self.cutoff.value() / 100,
            patient_fraction=round(self.fraction.value() * FRACTION_MAX / FRACTION_STEPS, 4),
        )

    def set_params(self, params: DecisionParams) -> None:
        """Put the sliders at `params` without emitting."""
        for slider, value in (
            (self.fraction, round(params.patient_fraction / FRACTION_MAX * FRACTION_STEPS)),
            (self.cutoff, round(params.slice_cutoff * 100)),
        ):
            slider.blockSignals(True)
            slider.setValue(value)
            slider.blockSignals(False)
        self._label(self.params())

    def _moved(self) -> None:
        params = self.params()
        self._label(params)
        self.paramsChanged.emit(params)

    def _label(self, params: DecisionParams) -> None:
        self.fraction_label.setText(readout.fraction_label(params))
        self.cutoff_label.setText(readout.cutoff_label(params))

    def refresh(self) -> None:
        analysis = self.state.analysis
        self.fraction.setEnabled(analysis is not None)
        self.cutoff.setEnabled(analysis is not None)
        if analysis is None:
            self.verdict.setText("Not analysed")
            self.verdict.setStyleSheet("font-size: 20px; font-weight: bold; padding: 4px; color: #888;")
            self.count.setText("Run the analysis to classify the kept slices.")
            self.flips.clear()
            return
        decision = analysis.decision
        colour = "#e03030" if decision.covid else "#2e9d4f"
        self.verdict.setText(decision.verdict)
        self.verdict.setStyleSheet(f"font-size: 20px; font-weight: bold; padding: 4px; color: {colour};")
        self.count.setText(readout.decision_count(decision))
        self.flips.setText(readout.flips(self.state.flips.now_positive, self.state.flips.now_negative))
