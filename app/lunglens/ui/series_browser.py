"""The series browser: the folder's series as a tree patient → study → series
(`lunglens.io.grouping`), each series with a thumbnail, its number, description, slice count,
thickness and warnings; series that cannot be analysed say why."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from lunglens.io import Discovery, SeriesRef
from lunglens.io.grouping import Patient, Study, group_series

THUMBNAIL_PX = 64
_REF_ROLE = Qt.ItemDataRole.UserRole


def describe(ref: SeriesRef) -> str:
    """Two or more lines: number and description; slices and thickness; warnings or why not
    analysable."""
    thickness = f"{ref.slice_thickness_mm:.3g} mm" if ref.slice_thickness_mm else "? mm"
    number = f"#{ref.series_number} " if ref.series_number is not None else ""
    lines = [
        number + (ref.description or "(no description)"),
        f"{ref.n_slices} slice{'s' if ref.n_slices != 1 else ''} · {thickness} · {ref.orientation}",
    ]
    if not ref.analysable:
        lines.append("Not analysable: " + "; ".join(ref.problems))
    lines.extend(f"⚠ {warning}" for warning in ref.warnings[:2])
    return "\n".join(lines)


def patient_text(patient: Patient) -> str:
    studies = len(patient.studies)
    return f"{patient.title()}\n{studies} stud{'ies' if studies != 1 else 'y'}, {patient.n_series} series"


def study_text(study: Study) -> str:
    return study.title()


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


class SeriesBrowser(QTreeWidget):
    """Emits `seriesChosen(SeriesRef)` when the reader picks a series (patient and study rows
    only fold and unfold)."""

    seriesChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setWordWrap(False)  # one line per fact, cut with "…" in a narrow dock; tooltips hold all
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setUniformRowHeights(False)
        self.setIndentation(12)
        self.currentItemChanged.connect(self._chosen)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._refs: dict[str, SeriesRef] = {}

    def set_discovery(self, discovery: Discovery | None) -> None:
        self.blockSignals(True)
        self.clear()
        self._items.clear()
        self._refs.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        for patient in group_series(discovery.series) if discovery is not None else ():
            patient_item = QTreeWidgetItem(self, [patient_text(patient)])
            patient_item.setFont(0, bold)
            patient_item.setToolTip(0, patient_text(patient))
            patient_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for study in patient.studies:
                study_item = QTreeWidgetItem(patient_item, [study_text(study)])
                study_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                study_item.setToolTip(
                    0, study.title() + (f"\nStudy {study.uid}" if study.uid else "\nNo StudyInstanceUID")
                )
                for ref in study.series:
                    self._add_series(study_item, ref)
        self.expandAll()
        self.blockSignals(False)

    def _add_series(self, parent: QTreeWidgetItem, ref: SeriesRef) -> None:
        item = QTreeWidgetItem(parent, [describe(ref)])
        item.setData(0, _REF_ROLE, ref.key)
        item.setToolTip(0, describe(ref) + "\n" + ref.summary() + "".join(f"\n{w}" for w in ref.warnings))
        if not ref.analysable:
            item.setForeground(0, QBrush(QColor("#a0a0a0")))
        self._items[ref.key] = item
        self._refs[ref.key] = ref

    def series_items(self) -> list[QTreeWidgetItem]:
        """The series rows in reading order (patient, study date, series number)."""
        return list(self._items.values())

    def set_thumbnail(self, key: str, grey: np.ndarray) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setIcon(0, QIcon(thumbnail_pixmap(grey)))

    def select(self, ref: SeriesRef) -> None:
        """Highlight `ref` without emitting."""
        self.blockSignals(True)
        self.setCurrentItem(self._items[ref.key])
        self.blockSignals(False)

    def _chosen(self, current, _previous) -> None:
        key = current.data(0, _REF_ROLE) if current is not None else None
        if key is not None:
            self.seriesChosen.emit(self._refs[key])
