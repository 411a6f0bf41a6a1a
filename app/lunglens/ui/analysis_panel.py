"""Run/cancel with a progress bar, and the Grad-CAM overlay controls (toggle, opacity, colour
bar). Buttons only emit; the controller starts and stops the work."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lunglens.render.overlay import DEFAULT_STYLE, OverlayStyle, colour_bar_rgb
from lunglens.ui.state import ViewerState


def colour_bar(width: int = 200, height: int = 12, style: OverlayStyle = DEFAULT_STYLE) -> QPixmap:
    """The overlay colour map from low (left) to high (right) Grad-CAM activation, as `style`
    draws it (`lunglens.render.overlay.colour_bar_rgb`, the PDF's colours)."""
    rgb = np.ascontiguousarray(colour_bar_rgb(width, height, style))
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class AnalysisPanel(QGroupBox):
    """Emits `runRequested`, `cancelRequested` and `styleChanged(OverlayStyle)` (outline mode or
    hiding below the cut-off switched; `style` holds the current one, opacity aside)."""

    runRequested = Signal()
    cancelRequested = Signal()
    styleChanged = Signal(object)

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__("Analysis", parent)
        self.state = state
        self.problems: tuple[str, ...] = ()
        self.run_button = QPushButton("Run analysis")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m slices")
        self.progress.hide()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.overlay = QCheckBox("Grad-CAM overlay (H)")
        self.overlay.setChecked(state.overlay_visible)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(state.overlay_opacity * 100))
        self.style = DEFAULT_STYLE
        self.outline = QCheckBox("Outline (isolines)")
        self.outline.setToolTip("Draw the Grad-CAM as contour lines, so the tissue under it stays visible")
        self.hide_cold = QCheckBox("Hide on slices below the cut-off")
        self.hide_cold.setToolTip(
            "No Grad-CAM on a slice whose P(COVID) is below the slice cut-off; elsewhere it is drawn "
            "as strongly as the slice's P(COVID)"
        )
        self.outline.setChecked(self.style.outline)
        self.hide_cold.setChecked(self.style.hide_below_cutoff)
        self.bar = bar = QLabel()
        bar.setPixmap(colour_bar(style=self.style))
        bar.setScaledContents(True)
        bar.setFixedHeight(12)
        ends = QHBoxLayout()
        ends.addWidget(QLabel("low"))
        ends.addStretch()
        ends.addWidget(QLabel("high activation"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.overlay)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity)
        layout.addLayout(opacity_row)
        layout.addWidget(self.outline)
        layout.addWidget(self.hide_cold)
        layout.addWidget(bar)
        layout.addLayout(ends)
        legend = QLabel(
            "Slice strip: <span style='color:#2f6f8f'>■</span> kept, <span style='color:#555'>■</span> "
            "discarded by the selector, bar = P(COVID), <span style='color:#39d0d0'>■</span> affected % of the "
            "slice's lung (quantification), <span style='color:#e03030'>■</span> positive, "
            "<span style='color:#c9a800'>■</span> flipped since the slider move began. Click to jump; N = next "
            "positive."
        )
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.overlay.toggled.connect(lambda on: state.set_overlay(visible=on))
        self.opacity.valueChanged.connect(lambda value: state.set_overlay(opacity=value / 100))
        state.overlayChanged.connect(self._show_overlay_state)
        self.outline.toggled.connect(self._style_switched)
        self.hide_cold.toggled.connect(self._style_switched)

    def _style_switched(self) -> None:
        self.style = replace(
            self.style, outline=self.outline.isChecked(), hide_below_cutoff=self.hide_cold.isChecked()
        )
        self.bar.setPixmap(colour_bar(style=self.style))
        self.styleChanged.emit(self.style)

    def _show_overlay_state(self) -> None:
        for widget, value in (
            (self.overlay, self.state.overlay_visible),
            (self.opacity, round(self.state.overlay_opacity * 100)),
        ):
            widget.blockSignals(True)
            widget.setChecked(value) if widget is self.overlay else widget.setValue(value)
            widget.blockSignals(False)

    def set_series(self, problems: tuple[str, ...]) -> None:
        """A new series is open: clear the last message; no running unless it is analysable."""
        self.problems = problems
        self.set_running(False)
        self.message.setText("Cannot analyse this series: " + "; ".join(problems) if problems else "")

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and not self.problems)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.message.setText("Analysing…")

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
