"""The "Open worklist…" dialog: a batch's `DIR/worklist.csv` (`lunglens.batch.worklist`) as a
sortable, filterable table. Numeric columns (P(COVID), affected %, score, ...) sort as numbers,
empty cells last in either direction; the filter box matches the text shown in any column;
"Failed only" keeps the jobs that failed. Double-clicking a finished row asks to open its series
with its SAVED analysis (`openRequested(where, analysis, saved_as)`, `where` the row's folder
column: a folder, or the series' DICOMweb address for a batch over a PACS): no model runs.

The P(COVID) columns are the model's slice probabilities over the kept slices (largest and mean;
the Model column names the model: the bundled demonstration model unless the batch named another), the
verdict is its reading at the batch's operating point, affected % and the score come from the
six-zone quantification: none of them is a diagnosis.

A row holding values no batch writes (`lunglens.batch.worklist.row_problems`: the file was edited)
is shaded, says what is wrong in its "Invalid values" column, and a line above the table names the
file and the lines."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
)

from lunglens.analysis import Analysis
from lunglens.batch.worklist import (
    LINE,
    PROBLEMS,
    RESULT_LIMIT_BYTES,
    SEVERITY_SCORE_MAX,
    WORKLIST_NAME,
    invalid_rows_message,
    read_worklist,
    result_problem,
)
from lunglens.io.files import read_text
from lunglens.pacs.address import SeriesAddress
from lunglens.quant.summary import percent_text

SORT_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class Column:
    """One shown column: the worklist field, its header and whether it sorts as a number."""

    field: str
    header: str
    numeric: bool = False
    tooltip: str = ""
    shown: Callable[[float], str] | None = None
    """How a numeric column shows its value (None: as written in the CSV)."""


COLUMNS = (
    Column("patient", "Patient"),
    Column("study_date", "Study date"),
    Column("series_number", "Series", True),
    Column("series_description", "Description"),
    Column("status", "Status"),
    Column(
        PROBLEMS,
        "Invalid values",
        tooltip="Values no batch writes (the file was edited): the row's other cells are not to be trusted",
    ),
    Column(
        "verdict", "Verdict", tooltip="The model's reading at the batch's operating point (not a diagnosis)"
    ),
    Column("k_positive", "k positive", True, "Kept slices read as COVID-19"),
    Column("n_kept", "n kept", True, "Slices kept by the selector (lung open) and classified"),
    Column(
        "max_p_covid", "P(COVID) max", True, "Largest slice probability over the kept slices", "{:.4f}".format
    ),
    Column(
        "mean_p_covid", "P(COVID) mean", True, "Mean slice probability over the kept slices", "{:.4f}".format
    ),
    Column(
        "affected_percent",
        "Affected %",
        True,
        "Total affected lung volume (%), six-zone quantification",
        percent_text,
    ),
    Column(
        "severity_score",
        "Score",
        True,
        f"Six-zone severity score (0-{SEVERITY_SCORE_MAX}), a zone score, not a lobe score",
    ),
    Column(
        "lungs_scanned",
        "Lungs scanned",
        tooltip="part: the lungs run off the series (at its first or last slice), so the verdict, the "
        "affected % and the score read the part scanned",
    ),
    Column(
        "lesion_method",
        "Lesion method",
        tooltip="How the quantification found lesions: learned (the lesion patch model's map) or "
        "hu_bands (a threshold estimate)",
    ),
    Column("model", "Model", tooltip="The classifier that gave the verdict and the P(COVID) columns"),
    Column(
        "folder",
        "Series at",
        tooltip="The series' folder, or its DICOMweb address for a batch over a PACS (retrieved when opened)",
    ),
    Column("error", "Error"),
)
#: Width of the "Series at" column (pixels): long paths and addresses are elided in the middle
#: (the whole text is the cell's tooltip).
LOCATION_WIDTH = 260
#: Background of a row marked invalid.
INVALID_COLOUR = QColor(255, 205, 205)


def load_saved_analysis(folder: Path, row: dict) -> Analysis:
    """The analysis a worklist row names (`folder/<result>`, only the job's result file:
    `result_problem`; a regular file of RESULT_LIMIT_BYTES at most, never a pipe or a device).
    Raises ValueError (named)."""
    if row.get("status") != "done" or not row.get("result"):
        where = row.get("folder") or f"{Path(folder) / WORKLIST_NAME}, line {row.get(LINE, '?')}"
        raise ValueError(f"{where}: no saved analysis (status {row.get('status') or '?'})")
    problem = result_problem(row)
    if problem:
        raise ValueError(f"{Path(folder) / WORKLIST_NAME}: the saved analysis is not opened ({problem})")
    path = Path(folder) / row["result"]
    try:
        return Analysis.from_json(read_text(path, RESULT_LIMIT_BYTES))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the saved analysis ({exc.strerror or exc})") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a LungLens analysis ({exc})") from exc


def _check_location(folder: Path, row: dict) -> None:
    """Refuse a row whose series folder is a relative path (written by a batch of an earlier
    version given a relative SOURCE): it was relative to where that batch ran, which the worklist
    does not say, and would be read from the viewer's working folder. Raises ValueError (named)."""
    where = row.get("folder") or ""
    if where and SeriesAddress.parse(where) is None and not Path(where).is_absolute():
        raise ValueError(
            f"{Path(folder) / WORKLIST_NAME}, line {row.get(LINE, '?')}: the series folder {where} is a "
            "relative path (the batch was given a relative SOURCE), and where it lies cannot be told "
            "from here. Run the batch again where it ran, with the same SOURCE and --out: the worklist "
            "then names every folder in full."
        )


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class WorklistModel(QAbstractTableModel):
    """The worklist rows as a table; `SORT_ROLE` gives numbers for numeric columns (None for an
    empty cell or one that is not a number: `WorklistFilter` sorts those last)."""

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.rows = rows

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column, row = COLUMNS[index.column()], self.rows[index.row()]
        text = row.get(column.field, "") or ""
        if role == Qt.ItemDataRole.DisplayRole:
            value = _number(text) if column.shown is not None else math.nan
            return text if math.isnan(value) else column.shown(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return text
        if role == SORT_ROLE:
            if column.numeric:
                value = _number(text)
                return None if math.isnan(value) else value
            return text.lower()
        if role == Qt.ItemDataRole.BackgroundRole and row.get(PROBLEMS):
            return INVALID_COLOUR
        if role == Qt.ItemDataRole.ForegroundRole and row.get(PROBLEMS):
            return QColor(Qt.GlobalColor.black)  # readable on the shade whatever the theme
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].header
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tooltip or None
        return None


class WorklistFilter(QSortFilterProxyModel):
    """Keeps the rows whose shown text contains the filter text (any column, any case) and,
    with `failed_only`, whose status is `failed`. Sorts numeric columns by number, their empty
    cells last whichever the direction."""

    def __init__(self):
        super().__init__()
        self.text = ""
        self.failed_only = False
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_failed_only(self, on: bool) -> None:
        self.beginFilterChange()
        self.failed_only = bool(on)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, _parent) -> bool:
        model = self.sourceModel()
        if self.failed_only and model.rows[source_row].get("status") != "failed":
            return False
        return not self.text or any(
            self.text in model.index(source_row, column).data().lower() for column in range(len(COLUMNS))
        )

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        if not COLUMNS[left.column()].numeric:
            return super().lessThan(left, right)
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:  # empty last: a descending sort puts first what is not less
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (a is None, b is None) == ((True, False) if descending else (False, True))
        return a < b


class WorklistDialog(QDialog):
    """The table of one batch's worklist. `openRequested(where, analysis, saved_as)` asks to
    show a finished series with its saved analysis (`saved_as`: the analysis' file);
    `problem(title, text)` reports what cannot open."""

    openRequested = Signal(object, object, str)
    problem = Signal(str, str)

    def __init__(self, folder: Path, rows: list[dict], parent=None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.setWindowTitle(f"Worklist — {self.folder}")
        self.model = WorklistModel(rows)
        self.proxy = WorklistFilter()
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter (patient, description, verdict, error…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.failed_check = QCheckBox("Failed only")
        self.failed_check.toggled.connect(self._failed_toggled)
        self.count_label = QLabel()
        self.invalid_label = QLabel(invalid_rows_message(self.folder / WORKLIST_NAME, rows) or "")
        self.invalid_label.setWordWrap(True)
        self.invalid_label.setStyleSheet("color: #a00000")
        self.invalid_label.setVisible(bool(self.invalid_label.text()))

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.column_of("error"), QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(self.column_of("folder"), QHeaderView.ResizeMode.Interactive)
        header.resizeSection(self.column_of("folder"), LOCATION_WIDTH)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.doubleClicked.connect(self._double_clicked)

        note = QLabel(
            "Double-click a finished series to open it with its saved analysis (no model run). "
            "P(COVID) and verdict come from the model in the Model column, the score from the six-zone "
            "quantification; they are reading aids, not a diagnosis, and cannot tell COVID-19 from "
            "other pneumonias."
        )
        note.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.failed_check)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.invalid_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        self.resize(1200, 520)
        self._count()

    @classmethod
    def open_folder(cls, folder: Path, parent=None) -> WorklistDialog:
        """The dialog for `folder/worklist.csv`. Raises ValueError naming the file (`read_worklist`)."""
        return cls(folder, read_worklist(folder), parent)

    def column_of(self, field: str) -> int:
        return next(i for i, c in enumerate(COLUMNS) if c.field == field)

    def shown_rows(self) -> list[dict]:
        """The rows as shown (filtered and sorted)."""
        return [
            self.model.rows[self.proxy.mapToSource(self.proxy.index(i, 0)).row()]
            for i in range(self.proxy.rowCount())
        ]

    def _count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} series")

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._count()

    def _failed_toggled(self, on: bool) -> None:
        self.proxy.set_failed_only(on)
        self._count()

    def _double_clicked(self, index: QModelIndex) -> None:
        row = self.model.rows[self.proxy.mapToSource(index).row()]
        try:
            _check_location(self.folder, row)
            analysis = load_saved_analysis(self.folder, row)
        except ValueError as exc:
            self.problem.emit("Cannot open this series", str(exc))
            return
        self.openRequested.emit(row["folder"], analysis, str(self.folder / row["result"]))
