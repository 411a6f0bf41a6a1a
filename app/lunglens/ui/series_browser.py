"""The series browser: every series found in the folder with a thumbnail, its description,
slice count, thickness and warnings; series that cannot be analysed say why."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from lunglens.io import Discovery, SeriesRef

THUMBNAIL_PX = 64


def describe(ref: SeriesRef) -> str:
    """Two or more lines: description; slices and thickness; warnings or why not analysable."""
    thickness = f"{ref.slice_thickness_mm:.3g} mm" if ref.slice_thickness_mm else "? mm"
    lines = [
        ref.description or "(no description)",
        f"{ref.n_slices} slice{'s' if ref.n_slices != 1 else ''} · {thickness} · {ref.orientation}",
    ]
    if not ref.analysable:
        lines.append("Not analysable: " + "; ".join(ref.problems))
    lines.extend(f"⚠ {warning}" for warning in ref.warnings[:2])
    return "\n".join(lines)


def thumbnail_pixmap(grey: np.ndarray) -> QPixmap:
    """A uint8 (y, x) image as a THUMBNAIL_PX pixmap."""
    grey = np.ascontiguousarray(grey)
    image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(image.copy()).scaled(
        THUMBNAIL_PX,
        THUMBNAIL_PX,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


class SeriesBrowser(QListWidget):
    """Emits `seriesChosen(SeriesRef)` when the reader picks a series."""

    seriesChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setWordWrap(True)
        self.setSpacing(2)
        self.currentItemChanged.connect(self._chosen)
        self._refs: list[SeriesRef] = []

    def set_discovery(self, discovery: Discovery | None) -> None:
        self.blockSignals(True)
        self.clear()
        self._refs = list(discovery.series) if discovery is not None else []
        for ref in self._refs:
            item = QListWidgetItem(describe(ref))
            item.setToolTip(ref.summary() + "".join(f"\n{w}" for w in ref.warnings))
            if not ref.analysable:
                item.setForeground(QBrush(QColor("#a0a0a0")))
            self.addItem(item)
        self.blockSignals(False)

    def set_thumbnail(self, key: str, grey: np.ndarray) -> None:
        for row, ref in enumerate(self._refs):
            if ref.key == key:
                self.item(row).setIcon(QIcon(thumbnail_pixmap(grey)))

    def select(self, ref: SeriesRef) -> None:
        """Highlight `ref` without emitting."""
        self.blockSignals(True)
        self.setCurrentRow(self._refs.index(ref))
        self.blockSignals(False)

    def _chosen(self, current, _previous) -> None:
        if current is not None:
            self.seriesChosen.emit(self._refs[self.row(current)])
