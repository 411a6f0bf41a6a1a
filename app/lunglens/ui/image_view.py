"""The slice view: one pyqtgraph ImageItem showing the slice with its Grad-CAM blended in,
corner readouts on a dark backing (readable over bone), the HU under the cursor kept current
as the slice, series and window change, a hint on the empty screen, and the mouse conventions
of DESIGN.md section 5 (wheel = slice, left-drag = window/level or pan, middle-drag = pan,
right-drag = zoom at ZOOM_PER_100_PX)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

#: What a left drag does: adjust window/level (the radiology default) or pan.
LEFT_DRAG_MODES = ("window", "pan")
#: Zoom factor of a 100 screen-pixel right drag (up = in); pyqtgraph's own rate gave about 7x.
ZOOM_PER_100_PX = 2.0
#: How far a view zooms, as the image's width over the view's: out to a quarter of the view, in
#: to about 16 pixels of a 512-pixel slice across it.
ZOOM_LIMITS = (0.25, 32.0)
#: What the empty view says (links: "open", "demo").
START_HINT = (
    "<p style='font-size:15px'>No series open.</p>"
    "<p><a href='open' style='color:#7fc8ff'>Open a folder</a> of CT slices (Ctrl+O), drop one on this "
    "window, or <a href='demo' style='color:#7fc8ff'>try the synthetic demo patient</a>.</p>"
)
#: The dark backing of text drawn on the image (measurement labels, reformat markers).
LABEL_FILL = pg.mkBrush(0, 0, 0, 170)
_LABEL_STYLE = "color: #f0e68c; background: rgba(0, 0, 0, 160); font-size: 12px; padding: 2px 4px;"
#: Width kept free between the left and right corner readouts (screen pixels): the column of the
#: orientation letter at the middle of the top and bottom edges (`lunglens.ui.view_markers`).
LETTER_COLUMN_PX = 28
#: Gap between a corner readout and the view's edge (screen pixels).
CORNER_MARGIN_PX = 8


class SliceViewBox(pg.ViewBox):
    """A ViewBox with the viewer's mouse map: the wheel gives slice steps (a reformat's: plane
    steps), a left drag W/L changes (or pans, `left_drag`), a right drag zooms at
    ZOOM_PER_100_PX, a middle drag pans. The axial view and the reformats use it alike."""

    sliceSteps = Signal(int)
    windowDrag = Signal(float, float)
    """Mouse movement in screen pixels (dx right, dy up) during a window/level drag."""

    def __init__(self):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.left_drag = "window"
        self._wheel_remainder = 0

    def wheelEvent(self, ev, axis=None):
        # Trackpads send many small deltas; accumulate them to whole notches (120 units).
        self._wheel_remainder += ev.delta()
        steps = int(self._wheel_remainder / 120)
        self._wheel_remainder -= steps * 120
        if steps:
            self.sliceSteps.emit(-steps)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton and self.left_drag == "window":
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.windowDrag.emit(delta.x(), -delta.y())
            return
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.zoom(ZOOM_PER_100_PX ** ((delta.x() - delta.y()) / 100), self.mapToView(ev.buttonDownPos()))
            return
        super().mouseDragEvent(ev, axis)

    def zoom(self, factor: float, centre: QPointF | None = None) -> None:
        """Magnify by `factor` (> 1: in) about `centre` (view coordinates; None: the middle),
        up to ZOOM_LIMITS of the image's width, so the image never vanishes nor becomes a blur (a
        view already past a limit is never pushed further, nor turned the other way)."""
        images = [
            item for item in self.addedItems if isinstance(item, pg.ImageItem) and item.image is not None
        ]
        if images:
            width = images[0].mapRectToParent(images[0].boundingRect()).width()
            magnification = width / np.ptp(self.viewRange()[0])
            low, high = ZOOM_LIMITS
            if factor < 1:
                factor = max(factor, min(low / magnification, 1.0))
            else:
                factor = min(factor, max(high / magnification, 1.0))
        self.scaleBy((1 / factor, 1 / factor), center=centre)


def _corner_label(parent: QWidget, align: Qt.AlignmentFlag) -> QLabel:
    label = QLabel(parent)
    label.setAlignment(align)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.setStyleSheet(_LABEL_STYLE)
    label.setWordWrap(True)  # a narrow view wraps the text instead of overlapping the other corner
    label.hide()
    return label


def _natural_width(label: QLabel, text: str | None = None) -> int:
    """Width of a word-wrapped label's longest line (of its text, or of `text` in its font), with
    its padding (screen pixels)."""
    metrics = label.fontMetrics()
    lines = (label.text() if text is None else text).split("\n") or [""]
    margins = label.contentsMargins()
    return max(metrics.horizontalAdvance(line) for line in lines) + margins.left() + margins.right() + 10


class SliceView(QWidget):
    """Shows one slice (grey uint8 plus optional RGBA overlay) and the readouts around it.
    It keeps the HU slice only to read the value under the cursor."""

    sliceSteps = Signal(int)
    windowDrag = Signal(float, float)
    hintLinkActivated = Signal(str)
    """A link of the empty screen's hint ("open" or "demo")."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.box = SliceViewBox()
        self.graphics.setCentralItem(self.box)
        self.image = pg.ImageItem()
        self.box.addItem(self.image)
        self.overlay_shown = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        top_left, top_right = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
        self.top_left = _corner_label(self, top_left | Qt.AlignmentFlag.AlignTop)
        self.top_right = _corner_label(self, top_right | Qt.AlignmentFlag.AlignTop)
        self.bottom_left = _corner_label(self, top_left | Qt.AlignmentFlag.AlignBottom)
        self.bottom_right = _corner_label(self, top_right | Qt.AlignmentFlag.AlignBottom)
        self.banner = _corner_label(self, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.banner.setStyleSheet(
            "color: #ffb347; background: rgba(0,0,0,170); font-size: 13px; font-weight: bold; padding: 3px;"
        )
        self.banner.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)  # its tooltip
        self.hint = QLabel(START_HINT, self)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #ddd; background: transparent;")
        self.hint.linkActivated.connect(self.hintLinkActivated)
        self._hu: np.ndarray | None = None
        self._cursor: QPointF | None = None
        """The mouse's last scene position over the view (None: not over it)."""
        self._shape: tuple[int, int] | None = None
        self.box.sliceSteps.connect(self.sliceSteps)
        self.box.windowDrag.connect(self.windowDrag)
        self.box.sigRangeChanged.connect(lambda *_: self._show_hu())  # zoom, pan, reset: the mouse still
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.viewport().installEventFilter(self)

    # --- showing ---------------------------------------------------------------------------
    def show_slice(self, hu: np.ndarray, frame: np.ndarray, overlay_shown: bool) -> None:
        """Show the RGBA uint8 (y, x, 4) `frame` (`DisplayCache.frame`); `hu` feeds the HU
        readout, `overlay_shown` says whether the Grad-CAM is blended in."""
        self._hu = hu
        self.overlay_shown = overlay_shown
        self.hint.hide()
        self.image.setImage(frame, autoLevels=False, levels=None)
        if self._shape != frame.shape[:2]:
            self._shape = frame.shape[:2]
            self.reset_view()
        self._show_hu()

    def clear(self) -> None:
        """Nothing to show (a folder is being read, or none is open): the start hint when
        `hint` is on."""
        self._hu, self._shape = None, None
        self.image.clear()
        self.overlay_shown = False
        self.banner.hide()
        for label in (self.top_left, self.top_right, self.bottom_left, self.bottom_right):
            label.clear()
            label.hide()

    def show_hint(self, on: bool) -> None:
        self.hint.setVisible(on)

    def forget_slice(self) -> None:
        """The slice shown is no longer the state's (a new series is loading): no HU readout
        from it."""
        self._hu = None
        self._show_hu()

    def set_banner(self, text: str, details: str = "") -> None:
        """A warning across the top of the image (e.g. a slice the selector discarded), with
        `details` as its tooltip."""
        if (text, details) == (self.banner.text(), self.banner.toolTip()):
            return
        self.banner.setText(text)
        self.banner.setToolTip(details)
        self.banner.setVisible(bool(text))
        self._place_labels()

    def set_readouts(self, top_left: str, top_right: str, bottom_left: str) -> None:
        for label, text in (
            (self.top_left, top_left),
            (self.top_right, top_right),
            (self.bottom_left, bottom_left),
        ):
            if label.text() != text:
                label.setText(text)
                self._place_labels(label)
            label.setVisible(bool(text))

    def set_pixel_size(self, pixel_mm: tuple[float, float]) -> None:
        """Draw the slices in true proportion: a pixel `pixel_mm` (row spacing, column spacing)
        high and wide on screen (the view's aspect lock: image coordinates stay pixels)."""
        ratio = pixel_mm[1] / pixel_mm[0]  # screen size of a column step over a row step
        if self.box.state["aspectLocked"] != ratio:
            self.box.setAspectLocked(True, ratio=ratio)
            self.reset_view()

    def reset_view(self) -> None:
        self.box.autoRange(padding=0.0)

    def zoom(self, factor: float) -> None:
        """Magnify by `factor` about the middle of the view (keys + and -)."""
        self.box.zoom(factor)

    def pan(self, right: float, down: float) -> None:
        """Move the image by fractions of the visible width and height (Shift + arrows)."""
        (x0, x1), (y0, y1) = self.box.viewRange()
        self.box.translateBy(x=-right * (x1 - x0), y=-down * (y1 - y0))

    # --- readouts and layout ---------------------------------------------------------------
    def hu_readout(self) -> str:
        """The bottom-right text: HU and pixel under the cursor on the slice shown now."""
        return self.bottom_right.text() if self.bottom_right.isVisible() else ""

    def _mouse_moved(self, position: QPointF) -> None:
        self._cursor = position
        self._show_hu()

    def _show_hu(self) -> None:
        """Write the HU under the cursor of the slice shown now (after a move of the mouse, a
        new slice or series, a window change, or a zoom, pan or reset of the view), or nothing
        when it is not over the image. The cursor is mapped through the view's range as it is now
        (`mapSceneToView` applies a change the view would otherwise apply at its next paint)."""
        text = ""
        if self._hu is not None and self._cursor is not None:
            point = self.image.mapFromParent(self.box.mapSceneToView(self._cursor))
            row, column = int(np.floor(point.y())), int(np.floor(point.x()))
            rows, columns = self._hu.shape
            if 0 <= row < rows and 0 <= column < columns:
                value = f"HU {int(self._hu[row, column])}"
                text = f"{value}  (x {column + 1}, y {row + 1})"
                if _natural_width(self.bottom_right, text) > self.corner_width():
                    text = value  # a narrow view: the value alone, on one line
        if text != self.bottom_right.text():
            self.bottom_right.setText(text)
            self._place_labels(self.bottom_right)
        self.bottom_right.setVisible(bool(text))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._cursor = None
            self._show_hu()
        return False

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._place_labels()

    def readouts(self) -> tuple[QLabel, ...]:
        """The text drawn over the image (the corner readouts and the banner): what the
        orientation letters and the scale bar must not cover."""
        return (self.top_left, self.top_right, self.bottom_left, self.bottom_right, self.banner)

    def corner_width(self) -> int:
        """The widest a corner readout may be (screen pixels): left and right ones never meet,
        and the letter column between them stays free (LETTER_COLUMN_PX)."""
        return max((self.width() - LETTER_COLUMN_PX) // 2 - CORNER_MARGIN_PX, 40)

    def _place_labels(self, changed: QLabel | None = None) -> None:
        """Size the corner labels to their text (at most `corner_width`; only `changed` when
        just its text changed) and put them, the banner and the hint in place."""
        margin, w, h = CORNER_MARGIN_PX, self.width(), self.height()
        half = self.corner_width()
        for label in (self.top_left, self.top_right, self.bottom_left, self.bottom_right):
            if changed is None or label is changed:
                width = min(_natural_width(label), half)
                label.resize(width, label.heightForWidth(width))
        self.top_left.move(margin, margin)
        self.top_right.move(w - self.top_right.width() - margin, margin)
        self.bottom_left.move(margin, h - self.bottom_left.height() - margin)
        self.bottom_right.move(
            w - self.bottom_right.width() - margin, h - self.bottom_right.height() - margin
        )
        if changed is None or changed is self.top_left:  # the banner hangs below the top-left text
            self.banner.adjustSize()
            self.banner.move((w - self.banner.width()) // 2, margin + max(self.top_left.height(), 40) + 4)
            self.hint.setGeometry(w // 6, h // 3, 2 * w // 3, h // 3)
