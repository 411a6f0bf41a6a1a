"""The About dialog (the model card and its intended use) and the DICOM tag viewer."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lunglens import RESEARCH_ONLY, __version__
from lunglens.io.dicom import read_dataset


def _readable(value, depth: int = 0) -> str:
    """A card field in a line or two: numbers to 3 significant digits, nested mappings one level
    deep, lists by their length (the full card is the .json file beside the model)."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        if depth > 1:
            return "…"
        return "; ".join(f"{k}: {_readable(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return f"{len(value)} entries" if depth else ", ".join(_readable(v, depth + 1) for v in value)
    return str(value)


def about_html(card, provider: str) -> str:
    """Rich text for the About dialog; `card` is a ModelCard or None when no model loaded."""
    parts = [
        f"<h2>LungLens {__version__}</h2>",
        "<p>Chest CT viewer with a COVID-19 slice classifier (Rahimzadeh et al.). "
        f"<b>{RESEARCH_ONLY.capitalize()}; not a medical device.</b></p>",
    ]
    if card is None:
        parts.append(f"<p><b>No model loaded.</b> {html.escape(provider)}</p>")
        return "".join(parts)
    rows = [
        ("Model", f"{card.name} {card.version}"),
        ("Intended use", card.intended_use),
        ("Classes", ", ".join(card.class_names)),
        ("Grad-CAM size", f"{card.cam_size[0]} × {card.cam_size[1]}"),
        ("Provenance", _readable(card.provenance)),
        ("Metrics", _readable(card.metrics) or "not stated"),
        ("Licence", card.licence),
        ("SHA-256", card.sha256[:16] + "…"),
        ("Runs on", provider),
    ]
    table = "".join(
        f"<tr><td valign='top'><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    parts.append(f"<table cellspacing='4'>{table}</table>")
    return "".join(parts)


class AboutDialog(QDialog):
    def __init__(self, card, provider: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About LungLens")
        self.text = QLabel(about_html(card, provider))
        self.text.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidget(self.text)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.resize(640, 560)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(buttons)


def dicom_tags(path: Path) -> str:
    """The header of one DICOM file as text (`read_dataset` without pixels: bounded, a pipe or a
    device is refused, never waited on)."""
    try:
        return str(read_dataset(path, pixels=False))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        return f"{path}: cannot read the header ({exc})"


class TagDialog(QDialog):
    """The DICOM header of the current slice, with a filter (tag, name or value)."""

    def __init__(self, path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"DICOM tags — {path.name}")
        self.resize(760, 620)
        self.lines = dicom_tags(path).splitlines()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter (e.g. Window, 0028, Kernel)")
        self.text = QPlainTextEdit("\n".join(self.lines))
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(str(path)))
        layout.addWidget(self.filter)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.filter.textChanged.connect(self._filter)

    def _filter(self, text: str) -> None:
        needle = text.lower()
        self.text.setPlainText("\n".join(line for line in self.lines if needle in line.lower()))
