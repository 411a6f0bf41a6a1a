"""Measurements drawn on the slice view: distances (mm), elliptical and freehand (polygon)
regions with their HU statistics (`lunglens.core.measure`); lengths and areas in pixels, saying
so, where the files state no pixel size. Each belongs to the slice it was
drawn on, is shown only there, follows its handles as they are dragged, and can be listed and
deleted. Its label sits beside it, turned to the other side (or moved in) where it would
cross the edge of the view. Self-contained: give it the view's ViewBox and ImageItem and tell
it the slice."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from lunglens.core.measure import (
    NO_PIXEL_SIZE,
    MeasurementRecord,
    RegionStats,
    distance_mm,
    ellipse_mask,
    polygon_mask,
    region_stats,
)
from lunglens.ui.image_view import LABEL_FILL

#: Colour of measurement outlines and labels (readable on grey CT and on the inferno overlay).
PEN = pg.mkPen("#00e5ff", width=2)


@dataclass(eq=False)
class Measurement:
    """One measurement: its kind ("distance", "ellipse", "freehand"), the slice it belongs to
    (0-based), its ROI on the view, its label and the image point (x, y) it sits beside, and
    the last result (`length_mm` is nominal where the pixel size is assumed)."""

    kind: str
    slice_index: int
    roi: pg.ROI
    label: pg.TextItem
    anchor: tuple[float, float] = (0.0, 0.0)
    result: str = ""
    stats: RegionStats | None = None
    length_mm: float | None = None


@dataclass(frozen=True)
class KeptMeasurement:
    """A measurement set aside while another series is shown (`MeasurementLayer.kept`): its
    kind, slice, ROI state (`pg.ROI.saveState`), label point and last result."""

    kind: str
    slice_index: int
    roi_state: dict
    anchor: tuple[float, float]
    result: str
    stats: RegionStats | None
    length_mm: float | None


#: A new ROI of each kind, whose state `put_back` then sets.
_ROI_TYPES = {
    "distance": lambda: pg.LineSegmentROI([(0, 0), (1, 1)], pen=PEN),
    "ellipse": lambda: pg.EllipseROI([0, 0], [1, 1], pen=PEN),
    "freehand": lambda: pg.PolyLineROI([(0, 0), (1, 0), (0, 1)], closed=True, pen=PEN),
}


def _label() -> pg.TextItem:
    """A measurement's label (its text is the result)."""
    return pg.TextItem(anchor=(0, 1), color="#00e5ff", fill=LABEL_FILL)


class MeasurementLayer(QObject):
    """Creates, updates, lists and deletes measurements on `box` over `image` (image
    coordinates: x along columns, y along rows). Emits `changed()` after any of them changes."""

    changed = Signal()

    def __init__(self, box: pg.ViewBox, image: pg.ImageItem, parent: QObject | None = None):
        super().__init__(parent)
        self.box, self.image = box, image
        self.items: list[Measurement] = []
        self.index = 0
        self._hu: np.ndarray | None = None
        self._spacing: tuple[float, float] = (1.0, 1.0)
        self._spacing_stated = True
        box.sigRangeChanged.connect(self._place_labels)
        box.sigResized.connect(self._place_labels)

    # --- the slice ---------------------------------------------------------------------------
    def set_slice(
        self,
        index: int,
        hu: np.ndarray | None,
        pixel_spacing_mm: tuple[float, float],
        pixel_spacing_stated: bool = True,
    ) -> None:
        """Slice `index` (HU `hu`, spacing (row, column) mm) is on screen: show its measurements
        only, with results from its pixels (lengths and areas in pixels when the spacing is not
        stated by the files but assumed, `Series.pixel_spacing_stated`)."""
        self.index, self._hu, self._spacing = index, hu, tuple(pixel_spacing_mm)
        self._spacing_stated = pixel_spacing_stated
        for m in self.items:
            m.roi.setVisible(m.slice_index == index)
            m.label.setVisible(m.slice_index == index)
            if m.slice_index == index:
                self._update(m, emit=False)
        self.changed.emit()

    # --- creating ----------------------------------------------------------------------------
    def add_distance(self, start: tuple[float, float], end: tuple[float, float]) -> Measurement:
        """A ruler between image points `start` and `end` (x, y) on the current slice."""
        return self._add("distance", pg.LineSegmentROI([start, end], pen=PEN))

    def add_ellipse(
        self, centre: tuple[float, float], semi_axes: tuple[float, float], angle_deg: float = 0.0
    ) -> Measurement:
        """An elliptical region centred at image point `centre` with semi-axes (x, y) in pixels."""
        (cx, cy), (a, b) = centre, semi_axes
        roi = pg.EllipseROI([cx - a, cy - b], [2 * a, 2 * b], pen=PEN)
        if angle_deg:
            roi.setAngle(angle_deg, center=(0.5, 0.5))
        return self._add("ellipse", roi)

    def add_freehand(self, points: list[tuple[float, float]]) -> Measurement:
        """A region bounded by the closed outline through image points `points` (x, y)."""
        return self._add("freehand", pg.PolyLineROI(points, closed=True, pen=PEN))

    def default_placement(self) -> tuple[tuple[float, float], float]:
        """(centre (x, y), size in pixels) for a new measurement: the middle of what the view
        shows, an eighth of its width."""
        (x0, x1), (y0, y1) = self.box.viewRange()
        return ((x0 + x1) / 2, (y0 + y1) / 2), max(4.0, (x1 - x0) / 8)

    # --- removing ----------------------------------------------------------------------------
    def remove(self, measurement: Measurement) -> None:
        self.box.removeItem(measurement.roi)
        self.box.removeItem(measurement.label)
        self.items.remove(measurement)
        self.changed.emit()

    def kept(self) -> list[KeptMeasurement]:
        """Every measurement as it stands, to be put back by `put_back` (the reader comes back to
        the series)."""
        return [
            KeptMeasurement(
                m.kind, m.slice_index, m.roi.saveState(), m.anchor, m.result, m.stats, m.length_mm
            )
            for m in self.items
        ]

    def put_back(self, kept: list[KeptMeasurement]) -> None:
        """Add the measurements `kept` of this series (`kept()`), each with its result as it was:
        the caller puts them back only onto the images they were made on. Each is shown on its
        slice only."""
        for k in kept:
            roi = _ROI_TYPES[k.kind]()
            roi.setState(k.roi_state)
            m = self._attach(
                Measurement(k.kind, k.slice_index, roi, _label(), k.anchor, k.result, k.stats, k.length_mm)
            )
            m.label.setText(m.result.replace(" (", "\n("))
            self._place_label(m)
            m.roi.setVisible(m.slice_index == self.index)
            m.label.setVisible(m.slice_index == self.index)
        self.changed.emit()

    def clear(self) -> None:
        """Remove every measurement (a new series)."""
        for m in list(self.items):
            self.box.removeItem(m.roi)
            self.box.removeItem(m.label)
        self.items.clear()
        self.changed.emit()

    def records(self) -> list[MeasurementRecord]:
        """Every measurement of the series as the report lists them (`write_report(...,
        measurements=layer.records())`)."""
        return [MeasurementRecord(m.slice_index, m.kind, m.result) for m in self.items]

    def describe(self, measurement: Measurement) -> str:
        """One line for the list: slice number (1-based), kind and result."""
        return f"Slice {measurement.slice_index + 1} · {measurement.kind}: {measurement.result}"

    # --- internals ---------------------------------------------------------------------------
    def _add(self, kind: str, roi: pg.ROI) -> Measurement:
        measurement = self._attach(Measurement(kind, self.index, roi, _label()))
        self._update(measurement)
        return measurement

    def _attach(self, measurement: Measurement) -> Measurement:
        """Put `measurement` on the view and in the list; it follows its ROI's handles."""
        self.box.addItem(measurement.roi)
        self.box.addItem(measurement.label)
        self.items.append(measurement)
        measurement.roi.sigRegionChanged.connect(lambda _roi, m=measurement: self._update(m))
        return measurement

    def _points(self, roi: pg.ROI) -> list[tuple[float, float]]:
        """The ROI's handle positions in image coordinates."""
        return [self._to_image(roi, pos) for _name, pos in roi.getLocalHandlePositions()]

    def _to_image(self, roi: pg.ROI, local: QPointF) -> tuple[float, float]:
        point = self.image.mapFromItem(roi, QPointF(local))
        return (point.x(), point.y())

    def _update(self, m: Measurement, emit: bool = True) -> None:
        if m.kind == "distance":
            start, end = self._points(m.roi)
            m.length_mm = distance_mm(start, end, self._spacing)
            m.result = (
                f"{m.length_mm:.1f} mm"
                if self._spacing_stated
                else f"{distance_mm(start, end, (1.0, 1.0)):.1f} pixels ({NO_PIXEL_SIZE})"
            )
            m.anchor = end
        else:
            if self._hu is None or m.slice_index != self.index:
                return
            mask, m.anchor = self._mask(m)
            m.stats = region_stats(self._hu, mask, self._spacing)
            m.result = m.stats.text(self._spacing_stated)
        m.label.setText(m.result.replace(" (", "\n("))
        self._place_label(m)
        if emit:
            self.changed.emit()

    def _place_labels(self) -> None:
        """The view was panned, zoomed or resized: keep the labels shown inside it."""
        for m in self.items:
            if m.slice_index == self.index:
                self._place_label(m)

    def _place_label(self, m: Measurement) -> None:
        """Put the label above and right of its anchor point, or below / left of it where it
        would cross the top / right edge of the view, and moved in where it still would (a view
        narrower than the label). The label keeps its size on screen (scene pixels) whatever
        the zoom. A point outside the view keeps its label above and right of it."""
        point = self.box.mapViewToScene(QPointF(*m.anchor))
        view = self.box.sceneBoundingRect()
        if not view.contains(point):
            m.label.setAnchor((0, 1))
            m.label.setPos(*m.anchor)
            return
        size = m.label.textItem.boundingRect()
        width, height = size.width(), size.height()
        left = point.x() if point.x() + width <= view.right() else point.x() - width
        top = point.y() - height if point.y() - height >= view.top() else point.y()
        left = max(view.left(), min(left, view.right() - width))
        top = max(view.top(), min(top, view.bottom() - height))
        m.label.setAnchor((0, 0))
        m.label.setPos(self.box.mapSceneToView(QPointF(left, top)))

    def _mask(self, m: Measurement) -> tuple[np.ndarray, tuple[float, float]]:
        shape = self._hu.shape
        if m.kind == "freehand":
            points = self._points(m.roi)
            return polygon_mask(shape, points), max(points, key=lambda p: p[0])
        width, height = m.roi.size()
        centre = self._to_image(m.roi, QPointF(width / 2, height / 2))
        along_x = self._to_image(m.roi, QPointF(width, height / 2))
        along_y = self._to_image(m.roi, QPointF(width / 2, height))
        a = math.dist(centre, along_x)
        b = math.dist(centre, along_y)
        # counter-clockwise on screen (y down) from the image x axis
        angle = math.degrees(math.atan2(-(along_x[1] - centre[1]), along_x[0] - centre[0]))
        return ellipse_mask(shape, centre, (a, b), angle), (along_x[0], centre[1] - b)


class MeasurementList(QWidget):
    """The measurements of the series as a list with Delete and Clear; double-click emits
    `sliceRequested(index)` to go to the measurement's slice."""

    sliceRequested = Signal(int)

    def __init__(self, layer: MeasurementLayer, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer = layer
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.delete_button = QPushButton("Delete")
        self.clear_button = QPushButton("Clear all")
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.delete_button.clicked.connect(self.delete_selected)
        self.clear_button.clicked.connect(layer.clear)
        self.list.itemDoubleClicked.connect(
            lambda item: self.sliceRequested.emit(item.data(Qt.ItemDataRole.UserRole).slice_index)
        )
        self.list.installEventFilter(self)
        layer.changed.connect(self.refresh)
        self.refresh()

    def eventFilter(self, watched, event) -> bool:
        """Delete or Backspace in the list deletes the selected measurements."""
        if (
            watched is self.list
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
        ):
            self.delete_selected()
            return True
        return super().eventFilter(watched, event)

    def refresh(self) -> None:
        self.list.clear()
        for m in self.layer.items:
            item = QListWidgetItem(self.layer.describe(m))
            item.setData(Qt.ItemDataRole.UserRole, m)
            self.list.addItem(item)
        self.delete_button.setEnabled(bool(self.layer.items))
        self.clear_button.setEnabled(bool(self.layer.items))

    def delete_selected(self) -> None:
        for item in self.list.selectedItems():
            self.layer.remove(item.data(Qt.ItemDataRole.UserRole))
