"""The main window: composes the views, the menus and the toolbar, and shows what the controller
(`ViewerController`, which owns the state, the jobs and the model) and the state say. Its own
work is showing: painting the current slice with its overlay and readouts, message boxes, file
dialogs, and the remembered window geometry and drag mode."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lunglens.analysis import readout
from lunglens.core.windowing import PRESETS
from lunglens.ui.analysis_panel import AnalysisPanel
from lunglens.ui.controller import ViewerController
from lunglens.ui.decision_panel import DecisionPanel
from lunglens.ui.dialogs import AboutDialog, TagDialog
from lunglens.ui.hospital_menu import HospitalActions
from lunglens.ui.image_view import LEFT_DRAG_MODES, SliceView
from lunglens.ui.render import DisplayCache
from lunglens.ui.series_browser import SeriesBrowser
from lunglens.ui.slice_strip import SliceStrip


class MainWindow(QMainWindow):
    """`messageShown(text)` fires whenever the reader is told about a problem. The workflow's
    signals (`seriesLoaded`, `analysisDone`, ...) are the controller's: `window.controller`."""

    messageShown = Signal(str)

    def __init__(
        self, settings: QSettings | None = None, model_path: Path | None = None, provider: str = "auto"
    ):
        super().__init__()
        self.settings = settings or QSettings()
        self.controller = ViewerController(self.settings, model_path, provider)
        self.state = self.controller.state
        self.cache = DisplayCache()
        self.message_box: QMessageBox | None = None
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.timeout.connect(self._prefetch_neighbours)
        self.setWindowTitle("LungLens")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._restore_settings()
        self._connect()
        self.controller.start_model_load()

    # --- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        state = self.state
        self.view = SliceView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.strip = SliceStrip(state)
        centre = QWidget()
        image_column = QVBoxLayout()
        image_column.setContentsMargins(0, 0, 0, 0)
        image_column.addWidget(self.view, 1)
        image_column.addWidget(self.slider)
        row = QHBoxLayout(centre)
        row.setContentsMargins(2, 2, 2, 2)
        row.addLayout(image_column, 1)
        row.addWidget(self.strip)
        self.setCentralWidget(centre)

        self.browser = SeriesBrowser()
        browser_dock = QDockWidget("Series", self)
        browser_dock.setObjectName("series")
        browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, browser_dock)

        self.analysis_panel = AnalysisPanel(state)
        self.decision_panel = DecisionPanel(state)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.analysis_panel)
        side_layout.addWidget(self.decision_panel)
        side_layout.addStretch()
        side_dock = QDockWidget("Analysis and decision", self)
        side_dock.setObjectName("analysis")
        side_dock.setWidget(side)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, side_dock)

        self.model_label = QLabel(readout.model_status(None))
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(180)
        self.load_progress.setFormat("loading %v/%m")
        self.load_progress.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self.statusBar().addPermanentWidget(self.model_label)

    def _action(self, text: str, slot, shortcut=None, menu=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if slot is not None:
            (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        control, state = self.controller, self.state
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action(
            "&Open folder…", self.choose_folder, QKeySequence.StandardKey.Open, file_menu
        )
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.hospital = HospitalActions(self, file_menu)
        file_menu.addSeparator()
        self.export_action = self._action("&Export PDF report…", self.export_report, "Ctrl+E", file_menu)
        self.export_action.setEnabled(False)
        self.anonymise_action = self._action(
            "Anonymise exported reports", control.set_anonymise_exports, None, file_menu, True
        )
        self.anonymise_action.setChecked(control.anonymise_exports)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)

        view_menu = bar.addMenu("&View")
        self.preset_actions = []
        for number, preset in enumerate(PRESETS, 1):
            action = self._action(
                f"{preset.name} (W {preset.width:g} / L {preset.level:g})",
                lambda _checked=False, p=preset: state.set_window(p),
                str(number),
                view_menu,
            )
            self.preset_actions.append(action)
        self.file_window_action = self._action("File's own window", control.use_file_window, "4", view_menu)
        self.file_window_action.setEnabled(False)
        view_menu.addSeparator()
        self._action("&Reset view and window", self.reset_view, "R", view_menu)
        self.overlay_action = self._action(
            "Grad-CAM &overlay", lambda on: state.set_overlay(visible=on), "H", view_menu, True
        )
        self.overlay_action.setChecked(state.overlay_visible)
        self._action("&Next positive slice", control.next_positive, "N", view_menu)
        drag_menu = view_menu.addMenu("Left drag")
        group = QActionGroup(self)
        self.drag_actions = {}
        for mode, label in zip(LEFT_DRAG_MODES, ("adjusts window/level", "pans"), strict=True):
            action = self._action(
                label, lambda on, m=mode: on and self.set_left_drag(m), None, drag_menu, True
            )
            group.addAction(action)
            self.drag_actions[mode] = action
        view_menu.addSeparator()
        self.tags_action = self._action("DICOM &tags of this slice…", self.show_tags, "T", view_menu)

        for keys, delta in (
            (("Down", "Right"), 1),
            (("Up", "Left"), -1),
            (("PgDown",), 10),
            (("PgUp",), -10),
        ):
            action = QAction(self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.triggered.connect(lambda _checked=False, d=delta: control.step(d))
            self.addAction(action)
        self._action("First slice", lambda: state.set_index(0), "Home")
        self._action("Last slice", lambda: state.set_index(state.n_slices - 1), "End")

        analysis_menu = bar.addMenu("&Analysis")
        self.run_action = self._action("&Run analysis", control.run_analysis, "Ctrl+R", analysis_menu)
        self.cancel_action = self._action("&Cancel analysis", control.cancel_analysis, "Esc", analysis_menu)
        help_menu = bar.addMenu("&Help")
        self._action("&About LungLens and the model…", self.show_about, None, help_menu)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main")
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        for action, preset in zip(self.preset_actions, PRESETS, strict=True):
            action.setIconText(preset.name)
            toolbar.addAction(action)
        self.file_window_action.setIconText("File")
        toolbar.addAction(self.file_window_action)
        toolbar.addSeparator()
        toolbar.addAction(self.run_action)
        toolbar.addAction(self.overlay_action)
        toolbar.addAction(self.export_action)

    def _connect(self) -> None:
        control, state = self.controller, self.state
        self.slider.valueChanged.connect(state.set_index)
        self.strip.sliceClicked.connect(state.set_index)
        self.view.sliceSteps.connect(control.step)
        self.view.windowDrag.connect(control.drag_window)
        self.browser.seriesChosen.connect(control.open_series)
        self.analysis_panel.runRequested.connect(control.run_analysis)
        self.analysis_panel.cancelRequested.connect(control.cancel_analysis)
        self.decision_panel.paramsChanged.connect(state.set_params)

        state.analysisChanged.connect(self.cache.clear)
        for signal in (state.sliceChanged, state.windowChanged, state.overlayChanged, state.seriesChanged):
            signal.connect(self.render)
        state.analysisChanged.connect(self._analysis_changed)
        state.decisionChanged.connect(self.render)
        state.overlayChanged.connect(lambda: self.overlay_action.setChecked(state.overlay_visible))

        control.problem.connect(self.show_message)
        control.status.connect(self._status)
        control.folderOpened.connect(self._folder_opened)
        control.seriesOpened.connect(self._series_opened)
        control.thumbnailsReady.connect(
            lambda grey: [self.browser.set_thumbnail(key, image) for key, image in grey.items()]
        )
        control.loadProgress.connect(self._load_progress)
        control.loadEnded.connect(self.load_progress.hide)
        control.seriesLoaded.connect(self._series_loaded)
        control.modelChanged.connect(self._model_changed)
        control.analysisRunning.connect(self.analysis_panel.set_running)
        control.analysisProgress.connect(self.analysis_panel.set_progress)
        control.analysisMessage.connect(self.analysis_panel.message.setText)
        control.recentChanged.connect(self._rebuild_recent)

    # --- settings --------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 920)
        self.analysis_panel.opacity.setValue(round(self.state.overlay_opacity * 100))
        mode = self.settings.value("left_drag", "window")
        self.drag_actions.get(mode, self.drag_actions["window"]).setChecked(True)
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        folders = self.controller.recent_folders()
        for folder in folders:
            self.recent_menu.addAction(folder, lambda f=folder: self.controller.open_folder(f))
        self.recent_menu.setEnabled(bool(folders))

    def set_left_drag(self, mode: str) -> None:
        self.view.box.left_drag = mode
        self.settings.setValue("left_drag", mode)

    def closeEvent(self, event):
        self.settings.setValue("geometry", self.saveGeometry())
        self.controller.shutdown()
        super().closeEvent(event)

    # --- what the controller says ----------------------------------------------------------
    def show_message(self, title: str, text: str) -> None:
        """Tell the reader about a problem without blocking (a window-modal box)."""
        self.statusBar().showMessage(text, 15000)
        self.message_box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        self.message_box.open()
        self.messageShown.emit(text)

    def _status(self, text: str, milliseconds: int) -> None:
        if text:
            self.statusBar().showMessage(text, milliseconds)
        else:
            self.statusBar().clearMessage()

    def _model_changed(self) -> None:
        control = self.controller
        self.model_label.setText(readout.model_status(control.model, control.model_problem))
        self.model_label.setToolTip(control.model_problem)

    def _folder_opened(self, found) -> None:
        """A folder is being read (`found` None: clear what was shown) or its series are in."""
        self.browser.set_discovery(found)
        if found is None:
            self.view.clear()
            return
        self.setWindowTitle(f"LungLens — {found.folder.name}")

    def _series_opened(self, ref) -> None:
        self.cache.clear()
        self.browser.select(ref)
        self.analysis_panel.set_series(ref.problems)
        self.run_action.setEnabled(ref.analysable)
        self.slider.setEnabled(False)
        self.slider.blockSignals(True)
        self.slider.setRange(0, ref.n_slices - 1)
        self.slider.setValue(ref.n_slices // 2)
        self.slider.blockSignals(False)

    def _load_progress(self, done: int, total: int) -> None:
        self.load_progress.setRange(0, total)
        self.load_progress.setValue(done)
        self.load_progress.show()

    def _series_loaded(self) -> None:
        self.slider.setRange(0, self.state.n_slices - 1)  # slices that failed to decode are gone
        self.slider.setEnabled(True)
        self.file_window_action.setEnabled(self.controller.file_window() is not None)

    def _analysis_changed(self) -> None:
        self.export_action.setEnabled(self.state.analysis is not None)
        self.render()

    # --- drawing ---------------------------------------------------------------------------
    def render(self) -> None:
        """Show the current slice with its overlay, readouts and selector banner."""
        state, i = self.state, self.state.index
        hu = state.slice_hu(i)
        if hu is None:
            return
        frame, overlay_shown = self._frame(i, hu)
        self.view.show_slice(hu, frame, overlay_shown)
        self._prefetch.start(0)
        if self.slider.value() != i:
            self.slider.blockSignals(True)
            self.slider.setValue(i)
            self.slider.blockSignals(False)
        self.view.set_readouts(
            readout.header(state.ref, state.series),
            readout.window_text(state.window),
            readout.slice_text(i, state.n_slices, state.series, state.analysis),
        )
        self.view.set_banner(readout.banner(i, state.selection))

    def _frame(self, i: int, hu):
        """(RGBA frame, whether the Grad-CAM is in it) of slice `i` as the state asks."""
        state, analysis, cam = self.state, self.state.analysis, None
        if analysis is not None and state.overlay_visible and analysis.classified[i]:
            cam = analysis.cams[i]
        return self.cache.frame(i, hu, state.window, cam, state.overlay_opacity), (
            cam is not None and state.overlay_opacity > 0
        )

    def _prefetch_neighbours(self) -> None:
        """When the event loop is idle, prepare the slices either side of the current one, so the
        next wheel step or key press only has to paint."""
        for i in (self.state.index + 1, self.state.index - 1):
            hu = self.state.slice_hu(i) if 0 <= i < self.state.n_slices else None
            if hu is not None:
                self._frame(i, hu)

    def reset_view(self) -> None:
        self.view.reset_view()
        self.controller.reset_window()

    # --- dialogs ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.settings.value("last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open a patient folder", start)
        if folder:
            self.controller.open_folder(folder)

    def show_about(self) -> None:
        model = self.controller.model
        card = model.card if model is not None else None
        provider = model.provider.describe() if model is not None else self.controller.model_problem
        AboutDialog(card, provider, self).exec()

    def show_tags(self) -> None:
        series = self.state.series
        if series is None or series.ref.source_format != "dicom":
            self.show_message("No DICOM tags", "Tags are shown for DICOM series once they have loaded.")
            return
        TagDialog(series.source_paths[self.state.index], self).exec()

    def export_report(self) -> None:
        if self.state.analysis is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the PDF report", "lunglens-report.pdf", "PDF (*.pdf)"
        )
        if path:
            self.controller.export_report(path)

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.controller.open_folder(paths[0] if paths[0].is_dir() else paths[0].parent)
            event.acceptProposedAction()
