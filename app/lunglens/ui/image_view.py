"""The slice view: one pyqtgraph ImageItem showing the slice with its Grad-CAM blended in,
corner readouts and the mouse conventions of DESIGN.md section 5 (wheel = slice,
left-drag = window/level or pan, middle-drag = pan, right-drag = zoom)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

#: What a left drag does: adjust window/level (the radiology default) or pan.
LEFT_DRAG_MODES = ("window", "pan")


class _SliceViewBox(pg.ViewBox):
    """A ViewBox that turns the wheel into slice steps and a left drag into W/L changes."""

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
        super().mouseDragEvent(ev, axis)


def _corner_label(parent: QWidget, align: Qt.AlignmentFlag) -> QLabel:
    label = QLabel(parent)
    label.setAlignment(align)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.setStyleSheet("color: #f0e68c; background: transparent; font-size: 12px;")
    return label


class SliceView(QWidget):
    """Shows one slice (grey uint8 plus optional RGBA overlay) and the readouts around it.
    It keeps the HU slice only to read the value under the cursor."""

    sliceSteps = Signal(int)
    windowDrag = Signal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.box = _SliceViewBox()
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
            "color: #ffb347; background: rgba(0,0,0,150); font-size: 13px; font-weight: bold; padding: 3px;"
        )
        self.banner.hide()
        self._hu: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self.box.sliceSteps.connect(self.sliceSteps)
        self.box.windowDrag.connect(self.windowDrag)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    # --- showing ---------------------------------------------------------------------------
    def show_slice(self, hu: np.ndarray, frame: np.ndarray, overlay_shown: bool) -> None:
        """Show the RGBA uint8 (y, x, 4) `frame` (`DisplayCache.frame`); `hu` feeds the HU
        readout, `overlay_shown` says whether the Grad-CAM is blended in."""
        self._hu = hu
        self.overlay_shown = overlay_shown
        self.image.setImage(frame, autoLevels=False, levels=None)
        if self._shape != frame.shape[:2]:
            self._shape = frame.shape[:2]
            self.reset_view()

    def clear(self) -> None:
        self._hu, self._shape = None, None
        self.image.clear()
        self.overlay_shown = False
        self.banner.hide()
        for label in (self.top_left, self.top_right, self.bottom_left, self.bottom_right):
            label.clear()

    def set_banner(self, text: str) -> None:
        """A warning across the top of the image (e.g. a slice the selector discarded)."""
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        self._place_labels()

    def set_readouts(self, top_left: str, top_right: str, bottom_left: str) -> None:
        self.top_left.setText(top_left)
        self.top_right.setText(top_right)
        self.bottom_left.setText(bottom_left)

    def reset_view(self) -> None:
        self.box.autoRange(padding=0.0)

    # --- readouts and layout ---------------------------------------------------------------
    def _mouse_moved(self, position: QPointF) -> None:
        if self._hu is None:
            return
        point = self.image.mapFromScene(position)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, columns = self._hu.shape
        if 0 <= row < rows and 0 <= column < columns:
            self.bottom_right.setText(f"HU {int(self._hu[row, column])}\n(x {column}, y {row})")
        else:
            self.bottom_right.clear()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._place_labels()

    def _place_labels(self) -> None:
        margin, width, height = 8, self.width() // 2 - 12, 60
        bottom = self.height() - height - margin
        self.top_left.setGeometry(margin, margin, width, height)
        self.top_right.setGeometry(self.width() - width - margin, margin, width, height)
        self.bottom_left.setGeometry(margin, bottom, width, height)
        self.bottom_right.setGeometry(self.width() - width - margin, bottom, width, height)
        self.banner.adjustSize()
        self.banner.move((self.width() - self.banner.width()) // 2, margin + 40)
