"""The quantification panel: how much of each lung and zone is affected
(`lunglens.quant.summary.table_rows`, the one table of CLI, PDF and viewer), the severity score
with what it is, the quantification's warnings (e.g. involvement on slices the selector
discarded), and the switches for the lung contours and the lesion outlines on the slice."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lunglens.analysis.lesion_methods import LESION_METHOD_LABELS
from lunglens.quant.lungs import LUNG_MASK_LIMITS
from lunglens.quant.summary import ml_text, percent_text, table_rows, zone_definition_sentence
from lunglens.render.contours import LESION_CONTOURS, LUNG_CONTOURS
from lunglens.ui.state import ViewerState

#: Columns of `table_rows` shown in the narrow panel: region, affected %, GGO %, consolidation %,
#: zone score (the volumes are in the tooltips, the report and the CLI).
SHOWN_COLUMNS = (0, 3, 4, 5, 6)
COLUMN_TITLES = ("Region", "Affected %", "GGO %", "Cons. %", "Score")


def _swatch(rgb: tuple[int, int, int]) -> str:
    return f"<span style='color: rgb{rgb}'>■</span>"


class QuantPanel(QGroupBox):
    """Shows `state.analysis.quantification`; emits `contoursChanged()` when a switch moves."""

    contoursChanged = Signal()

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__("Quantification", parent)
        self.state = state
        self.table = QTableWidget(0, len(SHOWN_COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMN_TITLES)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setStyleSheet("font-size: 11px;")
        self.table.setWordWrap(False)
        self.score = QLabel()
        self.score.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #c05a00; font-weight: bold;")
        self.method = QLabel()
        self.method.setWordWrap(True)
        self.method.setStyleSheet("color: #666; font-size: 11px;")
        self.lungs = QCheckBox("Lung contours (L)")
        self.lesions = QCheckBox("Lesion outlines (G)")
        self.legend = QLabel(
            ", ".join(
                f"{_swatch(LESION_CONTOURS.colours[v])} {name}" for v, name in LESION_CONTOURS.names.items()
            )
            + f", {_swatch(LUNG_CONTOURS.colours[1])} {LUNG_CONTOURS.names[1]}"
        )
        layout = QVBoxLayout(self)
        for widget in (
            self.score,
            self.warnings,
            self.table,
            self.lungs,
            self.lesions,
            self.legend,
            self.method,
        ):
            layout.addWidget(widget)
        self.lungs.toggled.connect(self.contoursChanged)
        self.lesions.toggled.connect(self.contoursChanged)
        state.analysisChanged.connect(self.refresh)
        self.refresh()

    def quantification(self):
        analysis = self.state.analysis
        return analysis.quantification if analysis is not None else None

    def refresh(self) -> None:
        q = self.quantification()
        for widget in (self.table, self.lungs, self.lesions, self.legend, self.method, self.warnings):
            widget.setVisible(q is not None)
        if q is None:
            analysed = self.state.analysis is not None
            self.score.setText("No quantification for this analysis." if analysed else "Run the analysis.")
            return
        self.score.setText(
            f"<b>Severity score {q.score_text}</b> ({q.severity_score_name}); "
            f"{percent_text(q.total.affected_percent)} % of the lungs affected "
            f"({ml_text(q.total.affected_ml)} of {ml_text(q.total.volume_ml)} mL)"
        )
        self.warnings.setText("\n".join(f"⚠ {w}" for w in q.warnings))
        self.warnings.setVisible(bool(q.warnings))
        label = LESION_METHOD_LABELS.get(q.method, q.method)
        self.method.setText(
            f"Lesion method: {label} ({q.method}): {q.method_description}. {zone_definition_sentence(q)}. "
            f"{LUNG_MASK_LIMITS}."
        )
        rows = table_rows(q)[1:]
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, column in enumerate(SHOWN_COLUMNS):
                text = row[column].replace(" zone", "") if c == 0 else row[column]  # narrow panel
                item = QTableWidgetItem(text)
                item.setTextAlignment(
                    (Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight)
                    | Qt.AlignmentFlag.AlignVCenter
                )
                item.setToolTip(f"{row[0].strip()}: {row[1]} mL of lung, {row[2]} mL affected")
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        height = self.table.horizontalHeader().height() + sum(
            self.table.rowHeight(r) for r in range(len(rows))
        )
        self.table.setFixedHeight(height + 4)
        has_masks = q.masks is not None
        self.lungs.setEnabled(has_masks)
        self.lesions.setEnabled(has_masks)
