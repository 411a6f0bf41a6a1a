"""The "Open from PACS…" dialog: a DICOMweb server (URL and user, remembered; the password from
LUNGLENS_DICOMWEB_PASSWORD or typed for this session only), patient and date filters, the CT
studies QIDO-RS lists (a search is stopped at once with Stop or by closing the dialog; a late
answer is ignored), and Open, which retrieves the chosen study (WADO-RS) into a temporary
folder with progress and asks to open that folder (`openFolder`). Failures are shown with the
named message of `lunglens.pacs` (unreachable, 401/403, not found, timeout, partial transfer).

Also the confirmation before results are sent (`SendResultsDialog`): which study, and to which
server, chosen among those remembered (the one used last first)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from lunglens.pacs import PacsError
from lunglens.pacs.connection import PASSWORD_VARIABLE
from lunglens.ui.pacs_session import PacsSession, SessionConnection

HEADERS = ("Study date", "Patient ID", "Patient name", "Modalities", "Description", "Series", "Instances")


class PacsDialog(QDialog):
    """Search a PACS and open one of its studies. `openFolder(Path)` fires once the chosen
    study is in a local temporary folder."""

    openFolder = Signal(object)

    def __init__(self, session: PacsSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.studies = []
        self.setWindowTitle("Open from PACS (DICOMweb)")

        self.url_box = QComboBox()
        self.url_box.setEditable(True)
        self.url_box.lineEdit().setPlaceholderText("https://pacs.example.org/dicom-web")
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("empty: no sign-in, or a token from LUNGLENS_DICOMWEB_TOKEN")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(
            f"from {PASSWORD_VARIABLE}" if os.environ.get(PASSWORD_VARIABLE) else "kept for this session only"
        )
        self.password_edit.setToolTip(
            f"Typed here, the password is kept in memory until LungLens exits, never saved; "
            f"left empty, {PASSWORD_VARIABLE} is used."
        )
        self.patient_edit = QLineEdit()
        self.patient_edit.setPlaceholderText("Patient ID (* wildcards where the server supports them)")
        self.date_edit = QLineEdit()
        self.date_edit.setPlaceholderText("YYYYMMDD or range YYYYMMDD-YYYYMMDD")
        self.search_button = QPushButton("&Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.stop_button = QPushButton("S&top")
        self.stop_button.setToolTip(
            "Stop waiting for the server: the search is abandoned, its answer ignored"
        )
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.cancel_search)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(HEADERS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())

        self.open_button = QPushButton("&Open")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.progress = QProgressBar()
        self.progress.setFormat("retrieving %v/%m instances")
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("DICOMweb URL", self.url_box)
        form.addRow("User", self.user_edit)
        form.addRow("Password", self.password_edit)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Patient"))
        filters.addWidget(self.patient_edit, 1)
        filters.addWidget(QLabel("Study date"))
        filters.addWidget(self.date_edit, 1)
        filters.addWidget(self.search_button)
        filters.addWidget(self.stop_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.resize(1000, 560)

        for item in session.remembered():
            self.url_box.addItem(item["url"], item["user"])
        self.url_box.currentIndexChanged.connect(self._remembered_chosen)
        self._remembered_chosen(0)
        session.studiesFound.connect(self._studies_found)
        session.retrieved.connect(self._retrieved)
        session.failed.connect(self._failed)
        session.progress.connect(self._progress)

    def _remembered_chosen(self, index: int) -> None:
        user = self.url_box.itemData(index) if index >= 0 else None
        if user is not None:
            self.user_edit.setText(user)

    def _connection(self):
        try:
            return self.session.connect_to(
                self.url_box.currentText(), self.user_edit.text(), self.password_edit.text()
            )
        except PacsError as exc:
            self._failed("Cannot search the PACS", str(exc))
            return None

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    def search(self) -> None:
        connection = self._connection()
        if connection is None:
            return
        self._set_searching(True)
        self.studies = []
        self.table.setRowCount(0)  # the studies listed were another search's, perhaps another server's
        self._say(f"Searching {connection.where}…")
        self.session.search(connection, self.patient_edit.text().strip(), self.date_edit.text().strip())

    def _set_searching(self, on: bool) -> None:
        self.search_button.setEnabled(not on)
        self.stop_button.setEnabled(on)

    def cancel_search(self) -> None:
        """Abandon the running search (`PacsSession.cancel_search`); a new one may start at once."""
        if self.session.cancel_search():
            self._set_searching(False)
            self._say("Search cancelled.")

    def reject(self) -> None:
        """Close; a search still running is abandoned (its answer would fill a dialog not shown)."""
        self.cancel_search()
        super().reject()

    def _studies_found(self, studies) -> None:
        self._set_searching(False)
        self.studies = list(studies)
        self.table.setRowCount(len(self.studies))
        for row, study in enumerate(self.studies):
            cells = (
                study.study_date,
                study.patient_id,
                study.patient_name,
                "/".join(study.modalities),
                study.description,
                "" if study.n_series is None else str(study.n_series),
                "" if study.n_instances is None else str(study.n_instances),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(study.study_uid)
                self.table.setItem(row, column, item)
        found = f"{len(self.studies)} CT stud{'y' if len(self.studies) == 1 else 'ies'} found."
        self._say(f"{found} {studies.caveat}" if studies.caveat else found, error=bool(studies.caveat))
        if self.studies:
            self.table.selectRow(0)

    def _selection_changed(self) -> None:
        self.open_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def open_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.session.last is None:
            return
        study = self.studies[rows[0].row()]
        self.open_button.setEnabled(False)
        self.progress.setRange(0, max(1, study.n_instances or 0))
        self.progress.setValue(0)
        self.progress.show()
        self._say(f"Retrieving study {study.study_uid} of {study.patient_id or 'no ID'}…")
        self.session.retrieve(self.session.last, study.study_uid)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _retrieved(self, folder) -> None:
        self.progress.hide()
        self._say(f"Retrieved into {folder}.")
        self.openFolder.emit(folder)
        self.accept()

    def _failed(self, title: str, text: str) -> None:
        self._set_searching(self.session.searching)  # a retrieval's failure leaves a search running
        self.open_button.setEnabled(bool(self.table.selectionModel().selectedRows()))
        self.progress.hide()
        self._say(f"{title}: {text}", error=True)


def describe_server(connection: SessionConnection) -> str:
    """A server as the reader picks it: its URL and who signs in."""
    return f"{connection.where} ({f'user {connection.user}' if connection.user else 'no sign-in'})"


class SendResultsDialog(QDialog):
    """Asks where the results of `series` (a DICOM `Series`) go before anything is sent:
    `destinations` (`PacsSession.destinations`, not empty) in a list, the first chosen; warns when
    results of the series were sent before in this session (`sent_before`, `PacsSession.sent`).
    Accepted, `destination()` is the server chosen."""

    def __init__(
        self, destinations: list[SessionConnection], series, parent=None, sent_before: list[str] = ()
    ):
        super().__init__(parent)
        self.setWindowTitle("Send results to PACS")
        self.destinations = list(destinations)
        ref = series.ref
        self.what = QLabel(
            "The results of this analysis (structured report, lesion segmentation, key images and "
            f"PDF report) will be stored in study {ref.study_uid or '(no UID)'} of patient "
            f"{ref.patient_id or '(no ID)'} on this server:"
        )
        self.what.setWordWrap(True)
        self.server_box = QComboBox()
        for connection in self.destinations:
            self.server_box.addItem(describe_server(connection))
        note = QLabel(
            "First in the list: the server used last (where a study opened from a PACS came "
            "from). The others were connected to before (File > Open from PACS…)."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton("&Send to this server", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.sent_before = QLabel(
            "Results of this series were sent before in this session:\n"
            + "\n".join(f"• {line}" for line in sent_before)
            + "\nSending again stores a second set of result series beside them: the PACS keeps "
            "both, with the same series numbers, and does not link them."
        )
        self.sent_before.setWordWrap(True)
        self.sent_before.setStyleSheet("color: #b8860b;")
        self.sent_before.setVisible(bool(sent_before))
        layout = QVBoxLayout(self)
        layout.addWidget(self.what)
        layout.addWidget(self.server_box)
        layout.addWidget(note)
        layout.addWidget(self.sent_before)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def destination(self) -> SessionConnection:
        """The server chosen."""
        return self.destinations[self.server_box.currentIndex()]
