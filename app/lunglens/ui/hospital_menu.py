"""The File menu's hospital actions, kept apart from the main window: "Open worklist…" (a
batch's results, `ui.worklist_dialog`; a row of a batch over a PACS is retrieved before it opens), "Open from PACS…" (`ui.pacs_dialog`) and "Send results
to PACS" (the shown analysis as DICOM results, stored in its study on the server the reader
confirms, `SendResultsDialog`: the one used last first, or another remembered one; enabled
when an analysis of a series that can have DICOM results is shown, its tooltip says why not)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from lunglens.pacs import PacsError, SeriesAddress
from lunglens.ui.pacs_dialog import PacsDialog, SendResultsDialog, describe_server
from lunglens.ui.pacs_session import ANONYMISED_NOT_SENT, PacsSession, SessionConnection
from lunglens.ui.worklist_dialog import WorklistDialog


class HospitalActions(QObject):
    """Adds the hospital actions to `menu` of `window` (a `MainWindow`) and runs them."""

    def __init__(self, window, menu):
        super().__init__(window)
        self.window, self.controller = window, window.controller
        self.worklist_dialog: WorklistDialog | None = None
        self.worklist_action = window._action("Open &worklist…", self.choose_worklist, None, menu)
        self.pacs = PacsSession(window.settings)
        self.pacs_dialog: PacsDialog | None = None
        self.send_dialog: SendResultsDialog | None = None
        self.pacs_action = window._action("Open from &PACS…", self.open_pacs, None, menu)
        self.send_action = window._action("Send results to PACS…", self.send_results, None, menu)
        self.send_action.setEnabled(False)
        menu.setToolTipsVisible(True)  # the send action's tooltip says why it is disabled
        self.pacs.stored.connect(lambda text: window.statusBar().showMessage(text, 15000))
        self.pacs.sendFailed.connect(window.show_message)
        window.state.analysisChanged.connect(self._update_send)
        window.state.seriesChanged.connect(self._update_send)
        window.controller.analysisRunning.connect(self._update_send)

    def _update_send(self) -> None:
        """Enable Send for a shown analysis of a series that can have DICOM results, as far as the
        series' record tells (no file is read here: this runs on every move of the operating point;
        `send_results` checks the files)."""
        from lunglens.dicomout import dicom_results_problem

        state = self.window.state
        problem = None if state.series is None else dicom_results_problem(state.series.ref, files=False)
        self.send_action.setEnabled(
            state.analysis is not None and problem is None and not self.controller.analysing
        )
        self.send_action.setToolTip(problem or "Store the shown analysis as DICOM results in its study")

    def open_pacs(self) -> PacsDialog:
        """Show the PACS dialog (one per window; it keeps its search while LungLens runs)."""
        if self.pacs_dialog is None:
            self.pacs_dialog = PacsDialog(self.pacs, self.window)
            self.pacs_dialog.openFolder.connect(self.controller.open_folder)
        self.pacs_dialog.show()
        return self.pacs_dialog

    def send_results(self) -> SendResultsDialog | None:
        """Ask which server the shown analysis goes to (window-modal); nothing is sent before
        the reader confirms it."""
        state = self.window.state
        if state.analysis is None or state.series is None:
            return None
        if self.controller.anonymise_exports:  # refused before a server is asked for
            self.window.show_message("Results not sent", ANONYMISED_NOT_SENT)
            return None
        from lunglens.dicomout import dicom_results_problem

        quantification = state.analysis.quantification
        problem = dicom_results_problem(
            state.series.ref,
            segmentation=quantification is not None and quantification.masks is not None,
            outputs="viewer",
        )
        if problem:  # the files lack what the results need: said before a server is asked for
            self.window.show_message("Results not sent", problem)
            return None
        destinations = self.pacs.destinations()
        if not destinations:
            self.window.show_message("No PACS", "Open a study from a PACS first (File > Open from PACS…).")
            return None
        analysis, series = state.analysis, state.series
        self.send_dialog = SendResultsDialog(
            destinations, series, self.window, sent_before=self.pacs.sent.get(series.ref.key, [])
        )
        self.send_dialog.accepted.connect(
            lambda dialog=self.send_dialog: self._send(dialog.destination(), analysis, series)
        )
        self.send_dialog.open()
        return self.send_dialog

    def _send(self, connection: SessionConnection, analysis, series) -> None:
        self.window.statusBar().showMessage(f"Sending the results to {describe_server(connection)}…", 0)
        self.pacs.send_results(connection, analysis, series, self.controller.anonymise_exports)

    def choose_worklist(self) -> None:
        start = self.window.settings.value("last_worklist", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(
            self.window, "Open a batch output folder (worklist.csv)", start
        )
        if folder:
            self.open_worklist(Path(folder))

    def open_worklist(self, folder: Path) -> WorklistDialog | None:
        """Show `folder/worklist.csv`; its double-clicks open series with their saved analysis."""
        try:
            dialog = WorklistDialog.open_folder(folder, self.window)
        except (OSError, ValueError) as exc:
            self.window.show_message("Cannot open the worklist", str(exc))
            return None
        self.window.settings.setValue("last_worklist", str(folder))
        dialog.openRequested.connect(self.open_saved)
        dialog.problem.connect(self.window.show_message)
        self.worklist_dialog = dialog
        dialog.show()
        return dialog

    def open_saved(self, where: str, analysis, saved_as: str = "") -> None:
        """Show a worklist row's series with its saved analysis (from the file `saved_as`): a
        folder opens at once; a series on a DICOMweb server (a batch over a PACS) is retrieved
        first, then opens."""
        address = SeriesAddress.parse(where)
        if address is None:
            self.controller.open_with_analysis(Path(where), analysis, saved_as)
            return
        try:
            signals = self.pacs.retrieve_series(address)
        except PacsError as exc:
            self.window.show_message("Cannot retrieve the series", str(exc))
            return
        status = self.window.statusBar()
        status.showMessage(f"Retrieving series {address.series_uid} from {address.url}…")
        signals.progress.connect(
            lambda done, total: status.showMessage(
                f"Retrieving from {address.url}: {done} of {total} instances"
            )
        )
        signals.finished.connect(
            lambda folder: self.controller.open_with_analysis(folder, analysis, saved_as)
        )
        signals.failed.connect(status.clearMessage)
        signals.failed.connect(
            lambda message: self.window.show_message("Cannot retrieve the series", message)
        )
