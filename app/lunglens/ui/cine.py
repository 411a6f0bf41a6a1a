"""Cine: play through the slices at an adjustable rate. A controller (QTimer stepping the
viewer state's slice, wrapping at the end) and its controls (play/pause button and rate box,
with Space, [ and ] as window-wide keys)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QStyle, QWidget

from lunglens.ui.state import ViewerState

#: Slices per second: the range offered and where playback starts.
MIN_FPS, MAX_FPS, DEFAULT_FPS = 1, 30, 8


class CineController(QObject):
    """Steps `state` one slice every 1 / fps seconds while playing, from the last slice back to
    the first. Emits `playingChanged(bool)` and `fpsChanged(int)`."""

    playingChanged = Signal(bool)
    fpsChanged = Signal(int)

    def __init__(self, state: ViewerState, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.fps = DEFAULT_FPS
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._advance)
        state.seriesChanged.connect(self.stop)  # a new series never starts moving by itself

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_fps(self, fps: int) -> None:
        """Slices per second, clipped to MIN_FPS..MAX_FPS; takes effect at once."""
        self.fps = int(min(max(fps, MIN_FPS), MAX_FPS))
        self._timer.setInterval(round(1000 / self.fps))
        self.fpsChanged.emit(self.fps)

    def play(self) -> None:
        if self.state.n_slices < 2 or self.playing:
            return
        self._timer.start(round(1000 / self.fps))
        self.playingChanged.emit(True)

    def stop(self) -> None:
        if self.playing:
            self._timer.stop()
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def _advance(self) -> None:
        n = self.state.n_slices
        if n < 2:
            self.stop()
            return
        self.state.set_index((self.state.index + 1) % n)


class CineControls(QWidget):
    """Play/pause button and the rate in slices per second. Its actions (Space: play/pause,
    [ and ]: slower/faster) work anywhere in the window it is placed in."""

    def __init__(self, cine: CineController, parent: QWidget | None = None):
        super().__init__(parent)
        self.cine = cine
        self.button = QPushButton()
        self.button.setCheckable(True)
        self._show_playing(False)
        self.button.setToolTip("Play through the slices (Space)")
        self.rate = QSpinBox()
        self.rate.setRange(MIN_FPS, MAX_FPS)
        self.rate.setValue(cine.fps)
        self.rate.setSuffix(" slices/s")
        self.rate.setToolTip("Cine rate ([ slower, ] faster)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.rate)
        layout.addWidget(QLabel(""), 1)
        self.actions_by_key: dict[str, QAction] = {}
        for key, slot in (
            ("Space", cine.toggle),
            ("[", lambda: cine.set_fps(cine.fps - 1)),
            ("]", lambda: cine.set_fps(cine.fps + 1)),
        ):
            action = QAction(self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.actions_by_key[key] = action
        self.button.clicked.connect(lambda on: cine.play() if on else cine.stop())
        self.rate.valueChanged.connect(cine.set_fps)
        cine.playingChanged.connect(self._show_playing)
        cine.fpsChanged.connect(self._show_fps)

    def _show_playing(self, playing: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(playing)
        # the style's icons, not text glyphs: a font without U+23F8 drew an empty box
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.button.setIcon(self.style().standardIcon(icon))
        self.button.setText("Pause" if playing else "Cine")
        self.button.blockSignals(False)

    def _show_fps(self, fps: int) -> None:
        self.rate.blockSignals(True)
        self.rate.setValue(fps)
        self.rate.blockSignals(False)
