"""The File menu's hospital actions, kept apart from the main window: "Open worklist…" (a
batch's results, `ui.worklist_dialog`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from lunglens.ui.worklist_dialog import WorklistDialog


class HospitalActions(QObject):
    """Adds the hospital actions to `menu` of `window` (a `MainWindow`) and runs them."""

    def __init__(self, window, menu):
        super().__init__(window)
        self.window, self.controller = window, window.controller
        self.worklist_dialog: WorklistDialog | None = None
        self.worklist_action = window._action("Open &worklist…", self.choose_worklist, None, menu)

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
        dialog.openRequested.connect(self.controller.open_with_analysis)
        dialog.problem.connect(self.window.show_message)
        self.worklist_dialog = dialog
        dialog.show()
        return dialog
