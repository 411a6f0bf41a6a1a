"""Orientation markers and a scale bar over a pyqtgraph image view: the patient direction at
the middle of each edge (`lunglens.core.reformat.EdgeLabels`, e.g. R on the left, L on the
right of an axial slice) and a bar of a round length in mm that follows the zoom. Both are
labels on the view widget (they stay put while the image pans), with a dark backing so they
read over bright bone. Neither is drawn from a guess: no letters where the files do not state
the orientation, no bar (a note in its place) where they do not state the pixel size. Neither
covers the view's own readouts (`avoid`): in a view too narrow for both, a letter or the bar
that would overlap one is not drawn, and the note shortens to NO_SCALE_SHORT."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QFrame, QLabel, QWidget

from lunglens.core.reformat import EdgeLabels, orientation_stated
from lunglens.io.series import Series

#: Bar lengths offered (mm): the longest not exceeding the target width on screen is used.
BAR_LENGTHS_MM = (1, 2, 5, 10, 20, 50, 100, 200, 500)
#: The bar aims at about this many screen pixels.
BAR_TARGET_PX = 120
#: In the bar's place when the files state no pixel size (a bar from the 1 mm assumed would lie).
NO_SCALE_TEXT = "no scale: pixel size not stated"
#: The note where NO_SCALE_TEXT would run over a readout of the view or past its edge.
NO_SCALE_SHORT = "no scale"
MARGIN_PX = 8
_STYLE = (
    "color: #f0e68c; background: rgba(0, 0, 0, 150); font-size: 13px; font-weight: bold; padding: 1px 3px;"
)


def bar_length_mm(mm_per_screen_pixel: float, target_px: int = BAR_TARGET_PX) -> float:
    """The longest of BAR_LENGTHS_MM that fits in `target_px` screen pixels at this zoom (the
    shortest when none fits)."""
    fitting = [length for length in BAR_LENGTHS_MM if length / mm_per_screen_pixel <= target_px]
    return float(fitting[-1] if fitting else BAR_LENGTHS_MM[0])


class ViewMarkers(QObject):
    """Edge letters and a scale bar on `widget` (the GraphicsView showing `box`). Call
    `set_geometry` when the series (orientation, pixel spacing) changes; the bar follows the
    zoom and the view's size by itself. `avoid`: widgets over the view (its corner readouts, in
    the view's coordinates) that come first: a letter, the bar or its label overlapping one of
    them is hidden while it would, placed again whenever one of them moves, resizes, shows or
    hides."""

    def __init__(
        self,
        widget: QWidget,
        box: pg.ViewBox,
        parent: QObject | None = None,
        avoid: Sequence[QWidget] = (),
    ):
        super().__init__(parent)
        self.widget, self.box, self.avoid = widget, box, tuple(avoid)
        self.edges = {side: self._label() for side in ("left", "right", "top", "bottom")}
        self.bar = QFrame(widget)
        self.bar.setStyleSheet("background: #f0e68c; border: 1px solid rgba(0, 0, 0, 200);")
        self.bar.setFixedHeight(5)
        self.bar.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.bar_label = self._label()
        self.column_spacing_mm: float | None = None
        self.no_scale_note = ""
        self.bar_mm = 0.0
        # after the view box has its new size: a resize of the widget that keeps the range (the
        # aspect locked, both sides scaled alike) still changes the screen size of a pixel
        box.sigRangeChanged.connect(self.place)
        box.sigResized.connect(self.place)
        for other in self.avoid:
            other.installEventFilter(self)
        self.set_geometry(None, None)

    def eventFilter(self, watched, event) -> bool:
        if event.type() in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide):
            self.place()
        return False

    def _label(self) -> QLabel:
        label = QLabel(self.widget)
        label.setStyleSheet(_STYLE)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        return label

    def set_series_geometry(
        self, series: Series, labels: EdgeLabels | None, column_spacing_mm: float
    ) -> None:
        """`set_geometry` for a loaded series whose view has edge `labels` and columns
        `column_spacing_mm` apart: the letters only where the files state the orientation
        (`orientation_stated`), the bar only where they state the pixel size (NO_SCALE_TEXT in
        its place where they do not)."""
        stated = series.pixel_spacing_stated
        self.set_geometry(
            labels if orientation_stated(series) else None,
            column_spacing_mm if stated else None,
            "" if stated else NO_SCALE_TEXT,
        )

    def set_geometry(
        self, labels: EdgeLabels | None, column_spacing_mm: float | None, no_scale_note: str = ""
    ) -> None:
        """Edge letters (None: hide them, e.g. a TIFF stack whose orientation is only assumed)
        and the column spacing in mm (None: no scale bar, the size is unknown; `no_scale_note`
        is then written in the bar's place)."""
        for side, label in self.edges.items():
            text = getattr(labels, side) if labels is not None else ""
            label.setText(text)
            label.adjustSize()
        self.column_spacing_mm = column_spacing_mm
        self.no_scale_note = no_scale_note
        self.place()

    def place(self) -> None:
        """Put the letters at the middle of each edge and size the bar for the current zoom;
        what would overlap a widget of `avoid` is hidden."""
        self._place()
        for label in self.edges.values():
            if self._overlaps(label):
                label.hide()
        if self._overlaps(self.bar) or self._overlaps(self.bar_label):
            self.bar.hide()
            self.bar_label.hide()

    def _overlaps(self, part: QWidget) -> bool:
        """Whether `part`, shown, overlaps a shown widget of `avoid`."""
        return not part.isHidden() and any(
            not other.isHidden() and part.geometry().intersects(other.geometry()) for other in self.avoid
        )

    def _place(self) -> None:
        w, h = self.widget.width(), self.widget.height()
        for label in self.edges.values():
            label.setVisible(bool(label.text()))
        left, right, top, bottom = (self.edges[s] for s in ("left", "right", "top", "bottom"))
        left.move(MARGIN_PX, (h - left.height()) // 2)
        right.move(w - right.width() - MARGIN_PX, (h - right.height()) // 2)
        top.move((w - top.width()) // 2, MARGIN_PX)
        bottom.move((w - bottom.width()) // 2, h - bottom.height() - MARGIN_PX)
        # image columns per screen pixel from the range and the box's width: pyqtgraph's
        # viewPixelSize is cached and was found stale after the window's first layout (a
        # coronal 100 mm bar 11 % short)
        (x0, x1), _ = self.box.viewRange()
        box_px = self.box.width()
        pixel = (x1 - x0) / box_px if self.column_spacing_mm and box_px > 0 else 0.0
        if not pixel:
            self.bar.hide()
            self.bar_label.setVisible(bool(self.no_scale_note))
            for note in (self.no_scale_note, NO_SCALE_SHORT):  # the short one where the whole is in the way
                self.bar_label.setText(note)
                self.bar_label.adjustSize()
                x = w - self.bar_label.width() - MARGIN_PX
                self.bar_label.move(x, h - bottom.height() - 4 * MARGIN_PX)
                if x >= MARGIN_PX and not self._overlaps(self.bar_label):
                    break
            return
        mm_per_screen_pixel = pixel * self.column_spacing_mm
        # at most a quarter of the view: in a narrow view the bar stays clear of the corner text
        self.bar_mm = bar_length_mm(mm_per_screen_pixel, min(BAR_TARGET_PX, w // 4))
        length_px = max(1, round(self.bar_mm / mm_per_screen_pixel))
        if length_px > w // 2:  # zoomed in so far that even the shortest bar would not fit
            self.bar.hide()
            self.bar_label.hide()
            return
        self.bar.setFixedWidth(length_px)
        x = w - length_px - 3 * MARGIN_PX
        y = h - bottom.height() - 4 * MARGIN_PX
        self.bar.move(x, y)
        self.bar_label.setText(f"{self.bar_mm:g} mm")
        self.bar_label.adjustSize()
        label_x = x + (length_px - self.bar_label.width()) // 2
        label_x = min(label_x, w - self.bar_label.width() - MARGIN_PX)  # never cut by the view's edge
        self.bar_label.move(label_x, y - self.bar_label.height() - 2)
        self.bar.show()
        self.bar_label.show()
