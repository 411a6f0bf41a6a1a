"""The window's status bar: its passing messages and the model line never end cut off mid-word
(a message cut after "no" of "no verdict" says the opposite): what does not fit ends in "…", and
the whole text is then the tooltip."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget


class ElidedLabel(QLabel):
    """A one-line label showing as much of its text as its width holds, ending in "…" where
    it is cut; its tooltip is then the whole text (or `details` where given, always). It asks for
    its text's width but takes less where there is no room."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._text, self._details = "", ""
        self.set_text(text)

    def set_text(self, text: str, details: str = "") -> None:
        """Show `text` (elided to the width); `details`: the tooltip ("" : the whole text when it is cut)."""
        self._text, self._details = text, details
        self.updateGeometry()
        self._elide()

    def full_text(self) -> str:
        return self._text

    def sizeHint(self) -> QSize:
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._text) + margins.left() + margins.right()
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(
            self._text, Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )
        super().setText(shown)
        self.setToolTip(self._details or (self._text if shown != self._text else ""))


class MessageBar(QStatusBar):
    """A QStatusBar whose messages (`showMessage`, `clearMessage`, `currentMessage`, as Qt's)
    show in an `ElidedLabel` taking the room left of the permanent widgets."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = ElidedLabel()
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.addWidget(self.note, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    def showMessage(self, text: str, timeout: int = 0) -> None:
        """Show `text` for `timeout` ms (0: until replaced or cleared)."""
        self.note.set_text(text)
        self._timer.stop()
        if timeout > 0:
            self._timer.start(timeout)

    def clearMessage(self) -> None:
        self._timer.stop()
        self.note.set_text("")

    def currentMessage(self) -> str:
        """The whole message shown, however much of it fits."""
        return self.note.full_text()
