"""The main window: composes the views and runs the workflow (open a folder, load a series in
the background, analyse, re-decide). It is the only writer of `ViewerState`."""

from __future__ import annotations

import time
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

from lunglens.core.analysis import AnalysisOptions, analyze
from lunglens.core.selector import select_slices
from lunglens.core.windowing import PRESETS, Window, to_grey
from lunglens.inference import load_model
from lunglens.io import discover, load, load_slice
from lunglens.ui.analysis_panel import AnalysisPanel
from lunglens.ui.decision_panel import DecisionPanel
from lunglens.ui.dialogs import AboutDialog, TagDialog
from lunglens.ui.image_view import LEFT_DRAG_MODES, SliceView
from lunglens.ui.render import DisplayCache
from lunglens.ui.series_browser import SeriesBrowser
from lunglens.ui.slice_strip import SliceStrip
from lunglens.ui.state import ViewerState
from lunglens.ui.workers import JobSlot

MAX_RECENT = 8
#: Window/level change per screen pixel of a left drag (HU): horizontal → width, vertical → level.
WL_HU_PER_PIXEL = (4.0, 2.0)


def report_writer():
    """`lunglens.report.write_report` when the report module provides it, else None."""
    try:
        from lunglens.report import write_report
    except ImportError:
        return None
    return write_report


class MainWindow(QMainWindow):
    """`firstSliceShown` fires when a newly chosen series has a slice on screen,
        `seriesLoaded` when its whole volume is in, `analysisDone` when an analysis lands (or
    `analysisCancelled` when the reader stopped it),
        `messageShown(text)` whenever the reader is told about a problem."""

    firstSliceShown = Signal()
    seriesLoaded = Signal()
    analysisDone = Signal()
    analysisCancelled = Signal()
    messageShown = Signal(str)

    def __init__(
        self, settings: QSettings | None = None, model_path: Path | None = None, provider: str = "auto"
    ):
        super().__init__()
        self.settings = settings or QSettings()
        self.model_path = Path(model_path) if model_path else None
        self.provider = provider
        self.model = None
        self.model_problem = ""
        self.state = ViewerState()
        self.cache = DisplayCache()
        self.jobs = {
            name: JobSlot() for name in ("discover", "load", "thumbnails", "analysis", "model", "demo")
        }
        self.message_box: QMessageBox | None = None
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.timeout.connect(self._prefetch_neighbours)
        self._opened_at = 0.0
        self.open_seconds: float | None = None
        """Seconds from `open_folder` to the first slice on screen (for the benchmark)."""
        self.setWindowTitle("LungLens")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._restore_settings()
        self._connect_state()
        self._start_model_load()

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

        self.model_label = QLabel("Model: loading…")
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(180)
        self.load_progress.setFormat("loading %v/%m")
        self.load_progress.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self.statusBar().addPermanentWidget(self.model_label)

        self.slider.valueChanged.connect(state.set_index)
        self.strip.sliceClicked.connect(state.set_index)
        self.view.sliceSteps.connect(self.step)
        self.view.windowDrag.connect(self._window_drag)
        self.browser.seriesChosen.connect(self.open_series)
        self.analysis_panel.runRequested.connect(self.run_analysis)
        self.analysis_panel.cancelRequested.connect(self.cancel_analysis)
        self.decision_panel.paramsChanged.connect(state.set_params)

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
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action(
            "&Open folder…", self.choose_folder, QKeySequence.StandardKey.Open, file_menu
        )
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self.export_action = self._action("&Export PDF report…", self.export_report, "Ctrl+E", file_menu)
        self.anonymise_action = self._action(
            "Anonymise exported reports", lambda _on: None, None, file_menu, True
        )
        self.export_action.setEnabled(False)
        if report_writer() is None:
            self.export_action.setToolTip("The PDF report module (lunglens.report) is not available yet")
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)

        view_menu = bar.addMenu("&View")
        self.preset_actions = []
        for number, preset in enumerate(PRESETS, 1):
            action = self._action(
                f"{preset.name} (W {preset.width:g} / L {preset.level:g})",
                lambda _checked=False, p=preset: self.state.set_window(p),
                str(number),
                view_menu,
            )
            self.preset_actions.append(action)
        self.file_window_action = self._action("File's own window", self.use_file_window, "4", view_menu)
        self.file_window_action.setEnabled(False)
        view_menu.addSeparator()
        self._action("&Reset view and window", self.reset_view, "R", view_menu)
        self.overlay_action = self._action(
            "Grad-CAM &overlay", lambda on: self.state.set_overlay(visible=on), "H", view_menu, True
        )
        self.overlay_action.setChecked(self.state.overlay_visible)
        self._action("&Next positive slice", self.next_positive, "N", view_menu)
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
            action.triggered.connect(lambda _checked=False, d=delta: self.step(d))
            self.addAction(action)
        self._action("First slice", lambda: self.state.set_index(0), "Home")
        self._action("Last slice", lambda: self.state.set_index(self.state.n_slices - 1), "End")

        analysis_menu = bar.addMenu("&Analysis")
        self.run_action = self._action("&Run analysis", self.run_analysis, "Ctrl+R", analysis_menu)
        self.cancel_action = self._action("&Cancel analysis", self.cancel_analysis, "Esc", analysis_menu)
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

    def _connect_state(self) -> None:
        state = self.state
        for signal in (state.sliceChanged, state.windowChanged, state.overlayChanged, state.seriesChanged):
            signal.connect(self.render)
        state.analysisChanged.connect(self._analysis_changed)
        state.decisionChanged.connect(self.render)
        state.overlayChanged.connect(lambda: self.overlay_action.setChecked(state.overlay_visible))
        state.windowChanged.connect(lambda: self.settings.setValue("window", state.window.name))

    # --- settings --------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 920)
        window_name = self.settings.value("window", "Lung")
        self.state.window = next((p for p in PRESETS if p.name == window_name), PRESETS[0])
        self.state.overlay_opacity = float(self.settings.value("overlay_opacity", 0.5))
        self.analysis_panel.opacity.setValue(round(self.state.overlay_opacity * 100))
        mode = self.settings.value("left_drag", "window")
        self.drag_actions.get(mode, self.drag_actions["window"]).setChecked(True)
        self._rebuild_recent()

    def recent_folders(self) -> list[str]:
        return [str(f) for f in (self.settings.value("recent_folders", [], type=list) or [])]

    def _remember_folder(self, folder: Path) -> None:
        folders = [str(folder)] + [f for f in self.recent_folders() if f != str(folder)]
        self.settings.setValue("recent_folders", folders[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for folder in self.recent_folders():
            self.recent_menu.addAction(folder, lambda f=folder: self.open_folder(f))
        self.recent_menu.setEnabled(bool(self.recent_folders()))

    def set_left_drag(self, mode: str) -> None:
        self.view.box.left_drag = mode
        self.settings.setValue("left_drag", mode)

    def closeEvent(self, event):
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("overlay_opacity", self.state.overlay_opacity)
        for job in self.jobs.values():
            job.drop()
        super().closeEvent(event)

    # --- messages --------------------------------------------------------------------------
    def show_message(self, title: str, text: str) -> None:
        """Tell the reader about a problem without blocking (a window-modal box)."""
        self.statusBar().showMessage(text, 15000)
        self.message_box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        self.message_box.open()
        self.messageShown.emit(text)

    # --- the model -------------------------------------------------------------------------
    def _start_model_load(self) -> None:
        path, provider = self.model_path, self.provider
        signals = self.jobs["model"].start(lambda _progress, _cancel: load_model(path, provider))
        signals.finished.connect(self._model_loaded)
        signals.failed.connect(self._model_failed)

    def _model_loaded(self, model) -> None:
        self.model, self.model_problem = model, ""
        self.model_label.setText(
            f"Model: {model.card.name} {model.card.version} · {model.provider.describe()}"
        )

    def _model_failed(self, message: str) -> None:
        self.model_problem = (
            f"No model could be loaded: {message}\n\nStart LungLens with --model PATH (a .json model card "
            "or .onnx file) or install the bundled demonstration model."
        )
        self.model_label.setText("Model: none (see Analysis)")
        self.model_label.setToolTip(message)

    # --- opening ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.settings.value("last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open a patient folder", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder) -> None:
        """Find the series under `folder` (in the background), then open the first analysable."""
        folder = Path(folder)
        self._opened_at = time.perf_counter()
        self.settings.setValue("last_folder", str(folder.parent))
        for name in ("load", "thumbnails", "analysis"):
            self.jobs[name].drop()
        self.analysis_panel.set_running(False)
        self.state.set_discovery(None)
        self.browser.set_discovery(None)
        self.view.clear()
        self.setWindowTitle(f"LungLens — {folder.name}")
        self.statusBar().showMessage(f"Reading {folder}…")
        signals = self.jobs["discover"].start(lambda _progress, _cancel: discover(folder))
        signals.finished.connect(lambda found: self._discovered(folder, found))
        signals.failed.connect(lambda message: self.show_message("Cannot open the folder", message))

    def _discovered(self, folder: Path, found) -> None:
        problem = found.problem()
        if problem:
            self.show_message("Nothing to show", problem)
            return
        self._remember_folder(folder)
        self.statusBar().clearMessage()
        self.state.set_discovery(found)
        self.browser.set_discovery(found)
        first = (found.analysable or found.series)[0]
        self.browser.select(first)
        self.open_series(first)
        self._start_thumbnails(found.series)
        if found.skipped:
            self.statusBar().showMessage(f"{len(found.skipped)} file(s) skipped in {folder}", 10000)

    def _start_thumbnails(self, refs) -> None:
        def thumbnails(_progress, cancel) -> dict:
            grey = {}
            for ref in refs:
                if cancel.is_set():
                    break
                try:
                    grey[ref.key] = to_grey(load_slice(ref, ref.n_slices // 2), PRESETS[0])[::4, ::4]
                except Exception:  # noqa: BLE001 - a series without a thumbnail still opens
                    continue
            return grey

        signals = self.jobs["thumbnails"].start(thumbnails)
        signals.finished.connect(
            lambda grey: [self.browser.set_thumbnail(key, image) for key, image in grey.items()]
        )

    def open_series(self, ref) -> None:
        """Show `ref`'s middle slice at once and load the whole series in the background."""
        if not self._opened_at:
            self._opened_at = time.perf_counter()
        self.jobs["load"].drop()
        self.jobs["analysis"].drop()
        self.analysis_panel.set_series(ref.problems)
        self.run_action.setEnabled(ref.analysable)
        self.cache.clear()
        self.state.set_ref(ref)
        self.slider.setEnabled(False)
        self.slider.blockSignals(True)
        self.slider.setRange(0, ref.n_slices - 1)
        self.slider.setValue(ref.n_slices // 2)
        self.slider.blockSignals(False)
        try:
            self.state.set_preview(ref.n_slices // 2, load_slice(ref, ref.n_slices // 2))
        except Exception as exc:  # noqa: BLE001 - a broken first slice is reported, the load still tries
            self.statusBar().showMessage(f"Cannot show the middle slice: {exc}", 10000)
        else:
            self.open_seconds = time.perf_counter() - self._opened_at
            self.firstSliceShown.emit()
        self._opened_at = 0.0

        def load_and_select(progress, _cancel):
            series = load(ref, progress=progress)
            return series, select_slices(series.hu)

        self.load_progress.setRange(0, ref.n_slices)
        self.load_progress.setValue(0)
        self.load_progress.show()
        signals = self.jobs["load"].start(load_and_select)
        signals.progress.connect(lambda done, total: self.load_progress.setValue(done))
        signals.finished.connect(self._series_loaded)
        signals.failed.connect(self._load_failed)

    def _series_loaded(self, result) -> None:
        series, selection = result
        self.load_progress.hide()
        self.state.set_series(series, selection)
        self.slider.setRange(0, series.n_slices - 1)  # slices that failed to decode are gone
        self.slider.setEnabled(True)
        meta = series.metadata
        self.file_window_action.setEnabled(
            meta.window_width_hu is not None and meta.window_center_hu is not None
        )
        self._update_actions()
        if series.warnings:
            self.statusBar().showMessage("; ".join(series.warnings), 15000)
        self.seriesLoaded.emit()

    def _load_failed(self, message: str) -> None:
        self.load_progress.hide()
        self.show_message("Cannot load the series", message)

    # --- navigation and windowing ----------------------------------------------------------
    def step(self, delta: int) -> None:
        self.state.set_index(self.state.index + delta)

    def next_positive(self) -> None:
        positives = self.state.positives()
        if positives.size:
            later = positives[positives > self.state.index]
            self.state.set_index(int(later[0] if later.size else positives[0]))

    def use_file_window(self) -> None:
        meta = self.state.series.metadata if self.state.series is not None else None
        if meta is not None and meta.window_width_hu is not None and meta.window_center_hu is not None:
            self.state.set_window(Window("File", meta.window_width_hu, meta.window_center_hu))

    def _window_drag(self, dx: float, dy: float) -> None:
        window = self.state.window
        self.state.set_window(
            Window("Custom", window.width + dx * WL_HU_PER_PIXEL[0], window.level + dy * WL_HU_PER_PIXEL[1])
        )

    def reset_view(self) -> None:
        self.view.reset_view()
        self.state.set_window(PRESETS[0])

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
        self.view.set_readouts(self._header(), self._window_text(), self._slice_text(i))
        self.view.set_banner(self._banner(i))

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

    def _header(self) -> str:
        ref, series = self.state.ref, self.state.series
        if series is None:
            return f"{ref.description}\n(loading…)"
        meta = series.metadata
        patient = " · ".join(
            x for x in (meta.patient_name, meta.patient_id, meta.patient_sex, meta.patient_age) if x
        )
        study = " · ".join(x for x in (meta.study_date, meta.institution) if x)
        return "\n".join(x for x in (patient or "(no patient name)", study, ref.description) if x)

    def _window_text(self) -> str:
        window = self.state.window
        return f"{window.name}\nW {window.width:.0f} / L {window.level:.0f}"

    def _slice_text(self, i: int) -> str:
        lines = [f"Slice {i + 1} / {self.state.n_slices}"]
        if self.state.series is not None:
            lines.append(f"Position {self.state.series.positions_mm[i]:.1f} mm")
        analysis = self.state.analysis
        if analysis is not None and analysis.classified[i]:
            call = "positive" if analysis.decision.positive[i] else "negative"
            lines.append(f"P(COVID) {analysis.p_covid[i]:.2f} — {call}")
        return "\n".join(lines)

    def _banner(self, i: int) -> str:
        kept = self.state.kept_mask()
        if kept is None or kept[i]:
            return ""
        if self.state.analysis is not None:
            counts, threshold = self.state.analysis.dark_pixel_counts, self.state.analysis.selector_threshold
        else:
            counts, threshold = self.state.selection.dark_pixel_counts, self.state.selection.threshold
        count = int(counts[i])
        return f"Discarded by the selector: {count} dark pixels ≤ threshold {threshold:.0f}"

    # --- analysis --------------------------------------------------------------------------
    def run_analysis(self) -> None:
        series = self.state.series
        if series is None:
            self.show_message("Not ready", "The series is still loading; run the analysis when it is in.")
            return
        if self.jobs["analysis"].running:
            return
        if not series.ref.analysable:
            self.show_message("Cannot analyse this series", "; ".join(series.ref.problems))
            return
        if self.model is None and self.model_problem:
            self.show_message("No model", self.model_problem)
            return
        model, path, provider = self.model, self.model_path, self.provider
        options = AnalysisOptions(decision=self.state.params)

        def work(progress, cancel):
            used = model or load_model(path, provider)
            return used, analyze(series, used, options, progress=progress, cancel=cancel)

        self.analysis_panel.set_running(True)
        signals = self.jobs["analysis"].start(work)
        signals.progress.connect(self.analysis_panel.set_progress)
        signals.finished.connect(self._analysed)
        signals.failed.connect(self._analysis_failed)
        signals.cancelled.connect(self._analysis_cancelled)

    def cancel_analysis(self) -> None:
        if self.jobs["analysis"].running:
            self.jobs["analysis"].cancel()
            self.analysis_panel.message.setText("Cancelling…")

    def _analysed(self, result) -> None:
        model, analysis = result
        if self.model is None:
            self._model_loaded(model)
        self.analysis_panel.set_running(False)
        seconds = sum(analysis.timings_s.values())
        self.analysis_panel.message.setText(
            f"{int(analysis.classified.sum())} slices classified in {seconds:.1f} s on {model.provider.label}"
        )
        self.cache.clear()
        self.state.set_analysis(analysis)
        self.analysisDone.emit()

    def _analysis_failed(self, message: str) -> None:
        self.analysis_panel.set_running(False)
        self.analysis_panel.message.setText("Analysis failed.")
        if "model" in message.lower():
            message = f"{message}\n\nStart LungLens with --model PATH to use another model."
        self.show_message("Analysis failed", message)

    def _analysis_cancelled(self) -> None:
        self.analysis_panel.set_running(False)
        self.analysis_panel.message.setText("Analysis cancelled.")
        self.analysisCancelled.emit()

    def _analysis_changed(self) -> None:
        self._update_actions()
        self.render()

    def _update_actions(self) -> None:
        self.export_action.setEnabled(self.state.analysis is not None and report_writer() is not None)

    # --- dialogs and export ----------------------------------------------------------------
    def show_about(self) -> None:
        card = self.model.card if self.model is not None else None
        provider = self.model.provider.describe() if self.model is not None else self.model_problem
        AboutDialog(card, provider, self).exec()

    def show_tags(self) -> None:
        series = self.state.series
        if series is None or series.ref.source_format != "dicom":
            self.show_message("No DICOM tags", "Tags are shown for DICOM series once they have loaded.")
            return
        TagDialog(series.source_paths[self.state.index], self).exec()

    def export_report(self) -> None:
        write_report = report_writer()
        if write_report is None or self.state.analysis is None or self.state.series is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the PDF report", "lunglens-report.pdf", "PDF (*.pdf)"
        )
        if not path:
            return
        try:
            write_report(
                self.state.analysis,
                self.state.series,
                Path(path),
                anonymise=self.anonymise_action.isChecked(),
            )
        except Exception as exc:  # noqa: BLE001 - the reader is told; the window stays up
            self.show_message("Cannot write the report", str(exc))
        else:
            self.statusBar().showMessage(f"Report written to {path}", 10000)

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_folder(paths[0] if paths[0].is_dir() else paths[0].parent)
            event.acceptProposedAction()
