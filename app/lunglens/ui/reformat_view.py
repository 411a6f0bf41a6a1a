"""A coronal or sagittal reformat of the open axial series beside the axial view: drawn at its
true aspect (`lunglens.core.reformat`), in the current window, with the Grad-CAM of the
analysed slices drawn as on the axial view (`lunglens.render.overlay`: each row weighted by
its slice's P(COVID), none on cold rows, inside the body), the current slice as a line, the
slices the selector discarded shaded, a gap in the slice positions as a red line (the slices are
stacked evenly, so the plane jumps there), the other reformat's plane as a cross line, and
orientation markers with a scale bar. Reads the viewer state; a click asks for the slice
and the crossing plane under the mouse; the rest of the mouse is the axial view's
(`SliceViewBox`: the wheel steps this view's plane, left drag windows, right drag zooms)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lunglens.analysis import readout
from lunglens.core.reformat import coronal, runs, sagittal
from lunglens.core.windowing import to_grey
from lunglens.io.geometry import gaps_after
from lunglens.render.overlay import (
    DEFAULT_STYLE,
    OverlayStyle,
    coarse_body,
    plane_body_mask,
    plane_fraction,
    plane_overlay_rgb,
    slice_weight,
)
from lunglens.ui.image_view import LABEL_FILL, SliceViewBox
from lunglens.ui.state import ViewerState
from lunglens.ui.view_markers import ViewMarkers

SLICE_PEN = pg.mkPen("#ffd700", width=1)
CROSS_PEN = pg.mkPen("#00e5ff", width=1, style=Qt.PenStyle.DashLine)
DISCARDED_BRUSH = pg.mkBrush(0, 0, 0, 140)
GAP_PEN = pg.mkPen("#ff4040", width=2, style=Qt.PenStyle.DashLine)


class ReformatView(QWidget):
    """`axis` "coronal" (one image row through every slice) or "sagittal" (one image column).
    Emits `sliceClicked(index)` and `crossPicked(position)`: the column (coronal) or row
    (sagittal) clicked, which is where the other reformat's plane should go."""

    sliceClicked = Signal(int)
    crossPicked = Signal(int)

    def __init__(self, axis: str, state: ViewerState, parent: QWidget | None = None):
        super().__init__(parent)
        if axis not in ("coronal", "sagittal"):
            raise ValueError(f"axis must be coronal or sagittal, got {axis!r}")
        self.axis, self.state = axis, state
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.box = SliceViewBox()
        self.graphics.setCentralItem(self.box)
        self.image = pg.ImageItem()
        self.box.addItem(self.image)
        self.slice_line = pg.InfiniteLine(angle=0, movable=False, pen=SLICE_PEN)
        self.cross_line = pg.InfiniteLine(angle=90, movable=False, pen=CROSS_PEN)
        for line in (self.slice_line, self.cross_line):
            self.box.addItem(line, ignoreBounds=True)
        self.bands: list[pg.LinearRegionItem] = []
        self.gap_lines: list[pg.InfiniteLine] = []
        self.markers = ViewMarkers(self.graphics, self.box)
        self.note = QLabel(self)
        self.note.setStyleSheet("color: #aaa;")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        layout.addWidget(self.note)
        self.plane_index: int | None = None
        """The image row (coronal) or column (sagittal) the plane runs through."""
        self.cross: int | None = None
        self.aspect = 1.0
        self.style: OverlayStyle = DEFAULT_STYLE
        self.overlay_shown = False
        self._body: np.ndarray | None = None
        """Coarse body masks (`coarse_body`) of the open series' slices, made once for each slice
        the first time it has a Grad-CAM to draw (`_body_done`)."""
        self._body_done = np.zeros(0, bool)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        state.seriesChanged.connect(self._series)
        for signal in (
            state.windowChanged,
            state.overlayChanged,
            state.decisionChanged,
            state.analysisChanged,
        ):
            signal.connect(self._draw)
        state.sliceChanged.connect(self._move_slice_line)
        state.analysisChanged.connect(self._shade_discarded)
        self._series()

    # --- what is shown -----------------------------------------------------------------------
    def available(self) -> bool:
        """Whether the open series has a reformat: a loaded axial stack of two or more slices."""
        series = self.state.series
        return series is not None and series.ref.orientation == "axial" and series.n_slices >= 2

    def set_plane_index(self, index: int) -> None:
        """Run the plane through image row (coronal) or column (sagittal) `index`."""
        if not self.available():
            return
        size = self.state.series.hu.shape[1 if self.axis == "coronal" else 2]
        self.plane_index = int(np.clip(index, 0, size - 1))
        self._draw()

    def set_cross(self, position: int) -> None:
        """Mark where the other reformat's plane crosses this one (column or row)."""
        self.cross = int(position)
        self.cross_line.setPos(self.cross + 0.5)
        self.cross_line.setVisible(self.available())

    def _plane(self):
        series = self.state.series
        make = coronal if self.axis == "coronal" else sagittal
        return make(
            series.hu,
            self.plane_index,
            series.pixel_spacing_mm,
            series.slice_spacing_mm,
            series.orientation_cosines,
        )

    def _series(self) -> None:
        self._body = None
        if not self.available():
            self.plane_index = None
            self.image.clear()
            for item in (self.slice_line, self.cross_line):
                item.setVisible(False)
            self._clear_bands()
            self._mark_gaps()
            self.markers.set_geometry(None, None)
            series = self.state.series
            self.note.setText(
                ""
                if series is None
                else f"No {self.axis} reformat: only an axial stack of 2 or more slices has one"
            )
            self.note.setVisible(series is not None)
            return
        self.note.hide()
        _, rows, columns = self.state.series.hu.shape
        self.plane_index = (rows if self.axis == "coronal" else columns) // 2
        self.set_cross((columns if self.axis == "coronal" else rows) // 2)
        plane = self._plane()
        self.aspect = plane.aspect
        self.image.setTransform(QTransform.fromScale(1.0, self.aspect))
        self.markers.set_series_geometry(self.state.series, plane.labels, plane.pixel_mm[1])
        self._draw()
        self._move_slice_line(self.state.index)
        self._shade_discarded()
        self._mark_gaps()
        self.reset_view()

    def reset_view(self) -> None:
        """Show the whole plane (no zoom, no pan)."""
        self.box.autoRange(padding=0)

    def set_style(self, style: OverlayStyle) -> None:
        """Draw the Grad-CAM with `style` (fill or outline, hiding cold slices) from now on."""
        self.style = style
        self._draw()

    def _draw(self) -> None:
        if self.plane_index is None or not self.available():
            return
        plane = self._plane()
        grey = to_grey(plane.image, self.state.window)
        rgb = self._overlay(grey)
        self.overlay_shown = rgb is not None
        self.image.setImage(grey if rgb is None else rgb, autoLevels=False, levels=(0, 255))

    def _overlay(self, grey: np.ndarray) -> np.ndarray | None:
        """The plane with the Grad-CAM blended in, or None when the state shows none here."""
        state, analysis = self.state, self.state.analysis
        if analysis is None or not state.overlay_visible or state.overlay_opacity <= 0:
            return None
        style = replace(self.style, opacity=state.overlay_opacity)
        cutoff = analysis.decision.params.slice_cutoff
        weights = np.array(
            [
                slice_weight(float(p), cutoff, style) if classified else 0.0
                for p, classified in zip(analysis.p_covid, analysis.classified, strict=True)
            ]
        )
        if not weights.any():
            return None
        hu = self.state.series.hu
        if self._body is None:
            self._body = np.zeros((len(hu), *coarse_body(hu[0]).shape), np.uint8)
            self._body_done = np.zeros(len(hu), bool)
        for i in np.flatnonzero((weights > 0) & ~self._body_done):  # only slices drawn, once each
            self._body[i] = coarse_body(hu[i])
            self._body_done[i] = True
        shape = hu.shape[1:]
        region = plane_body_mask(self._body, self.axis, self.plane_index, shape)
        fraction = plane_fraction(analysis.cams, self.axis, self.plane_index, shape)
        return plane_overlay_rgb(grey, fraction, weights, region, style)

    def _move_slice_line(self, index: int) -> None:
        self.slice_line.setVisible(self.available())
        self.slice_line.setPos((index + 0.5) * self.aspect)

    def _mark_gaps(self) -> None:
        """A red line, labelled with the step (mm), between the slices either side of each
        gap in the slice positions (`gaps_after`); none when no reformat is shown."""
        for line in self.gap_lines:
            self.box.removeItem(line)
        self.gap_lines.clear()
        if not self.available():
            return
        positions = self.state.series.positions_mm
        for i in gaps_after(positions):
            line = pg.InfiniteLine(
                pos=(i + 1) * self.aspect,
                angle=0,
                movable=False,
                pen=GAP_PEN,
                label=f"gap: slices {i + 1} and {i + 2} are {positions[i] - positions[i + 1]:.1f} mm apart",
                labelOpts={
                    "position": 0.02,
                    "anchors": [(0, 1), (0, 1)],
                    "color": "#ff8080",
                    "fill": LABEL_FILL,
                },
            )
            self.box.addItem(line, ignoreBounds=True)
            self.gap_lines.append(line)

    def _clear_bands(self) -> None:
        for band in self.bands:
            self.box.removeItem(band)
        self.bands.clear()

    def _shade_discarded(self) -> None:
        """Shade the rows of the slices the selector discarded (lung closed)."""
        self._clear_bands()
        kept = self.state.kept_mask() if self.available() else None
        if kept is None:
            return
        for first, last in runs(~np.asarray(kept, bool)):
            band = pg.LinearRegionItem(
                values=(first * self.aspect, (last + 1) * self.aspect),
                orientation="horizontal",
                movable=False,
                brush=DISCARDED_BRUSH,
                pen=pg.mkPen(None),
            )
            band.setToolTip(f"Slices at these levels {readout.DISCARDED}")
            self.box.addItem(band, ignoreBounds=True)
            self.bands.append(band)

    # --- clicks ------------------------------------------------------------------------------
    def position_at(self, scene_pos) -> tuple[int, int] | None:
        """(slice index, in-plane column or row) under a scene point, None outside the plane."""
        if self.image.image is None:
            return None
        point = self.image.mapFromScene(scene_pos)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, columns = self.image.image.shape[:2]
        return (row, column) if 0 <= row < rows and 0 <= column < columns else None

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        where = self.position_at(event.scenePos())
        if where is not None:
            self.sliceClicked.emit(where[0])
            self.crossPicked.emit(where[1])
