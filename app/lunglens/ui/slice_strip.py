"""The slice strip beside the image: one row per slice (top = most superior), showing which
slices the selector kept, each slice's P(COVID) as a bar with the quantification's affected %
of the slice's lung as a thin bar beneath it, positive slices and slices that
flipped since the current operating-point move began (the decision panel's `flipsChanged`). Hover for the numbers; click or drag to jump."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QToolTip, QWidget

from lunglens.analysis import readout
from lunglens.core.decision import SliceFlips
from lunglens.ui.state import ViewerState

KEPT = QColor("#2f6f8f")
DISCARDED = QColor("#3a3a3a")
LOADING = QColor("#262626")
BAR = QColor("#9a9a9a")
POSITIVE = QColor("#ff4040")
FLIPPED = QColor("#ffd700")
AFFECTED = QColor("#39d0d0")
"""The quantification's affected % of the slice's lung, under the P(COVID) bar."""
CURRENT = QColor("#ffffff")


class SliceStrip(QWidget):
    """Reads everything from `state`; emits `sliceClicked(index)`."""

    sliceClicked = Signal(int)

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setMouseTracking(True)
        self.setMinimumWidth(70)
        self.flips = SliceFlips()
        """Slices flipped since the operating-point move began (`set_flips`)."""
        self._background: QPixmap | None = None
        """The rows as last drawn; redrawn only when the series, analysis or decision change."""
        for signal in (state.seriesChanged, state.analysisChanged, state.decisionChanged):
            signal.connect(self._invalidate)
        state.sliceChanged.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(90, 400)

    def set_flips(self, flips: SliceFlips) -> None:
        """Mark `flips` (the decision panel's `flipsChanged`) instead of the last ones."""
        self.flips = flips
        self._invalidate()

    # --- geometry --------------------------------------------------------------------------
    def _row_height(self) -> float:
        return self.height() / max(self.state.n_slices, 1)

    def index_at(self, y: float) -> int:
        return int(np.clip(y / self._row_height(), 0, max(self.state.n_slices - 1, 0)))

    # --- painting --------------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._background = None
        self.update()

    def resizeEvent(self, event):
        self._background = None
        super().resizeEvent(event)

    def paintEvent(self, event):
        if self._background is None or self._background.size() != self.size():
            self._background = QPixmap(self.size())
            self._paint_rows(QPainter(self._background))
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._background)
        if self.state.n_slices:
            h = self._row_height()
            painter.setPen(QPen(CURRENT, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(1, self.state.index * h - 1, self.width() - 2, max(h, 2.0) + 2))

    def _paint_rows(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), QColor("#111111"))
        n = self.state.n_slices
        if not n:
            painter.end()
            return
        h, w = self._row_height(), float(self.width())
        kept = self.state.kept_mask()
        analysis = self.state.analysis
        gap = 1.0 if h >= 3 else 0.0
        for i in range(n):
            y = i * h
            colour = LOADING if kept is None else (KEPT if kept[i] else DISCARDED)
            painter.fillRect(QRectF(8, y, w - 16, max(h - gap, 1.0)), colour)
            if analysis is not None and not np.isnan(analysis.p_covid[i]):
                p = float(analysis.p_covid[i])
                positive = bool(analysis.decision.positive[i])
                painter.fillRect(QRectF(8, y, (w - 16) * p, max(h - gap, 1.0)), POSITIVE if positive else BAR)
                if positive:
                    painter.fillRect(QRectF(0, y, 6, max(h - gap, 1.0)), POSITIVE)
        quantification = analysis.quantification if analysis is not None else None
        if quantification is not None and len(quantification.slices) == n:
            thin = max((h - gap) / 3, 1.0)
            for i, percent in enumerate(quantification.slices):
                if percent:
                    width = (w - 16) * min(percent, 100.0) / 100
                    painter.fillRect(QRectF(8, i * h + max(h - gap, 1.0) - thin, width, thin), AFFECTED)
        for i in self.flips.now_positive + self.flips.now_negative:
            painter.fillRect(QRectF(w - 6, i * h, 6, max(h - gap, 1.0)), FLIPPED)
        if analysis is not None:
            x = 8 + (w - 16) * analysis.decision.params.slice_cutoff
            painter.setPen(QPen(QColor("#80ffffff"), 1, Qt.PenStyle.DashLine))
            painter.drawLine(int(x), 0, int(x), self.height())
        painter.end()

    # --- mouse -----------------------------------------------------------------------------
    def describe(self, i: int) -> str:
        """The hover text for slice `i` (`readout.slice_tooltip`)."""
        state = self.state
        return readout.slice_tooltip(i, state.n_slices, state.selection, state.analysis, state.series is None)

    def mouseMoveEvent(self, event):
        if not self.state.n_slices:
            return
        i = self.index_at(event.position().y())
        QToolTip.showText(event.globalPosition().toPoint(), self.describe(i), self)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.sliceClicked.emit(i)

    def mousePressEvent(self, event):
        if self.state.n_slices and event.button() == Qt.MouseButton.LeftButton:
            self.sliceClicked.emit(self.index_at(event.position().y()))
