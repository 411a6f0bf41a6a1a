"""The main window: composes the views (the axial slice with orientation markers, scale bar and
measurements; coronal and sagittal reformats beside it, linked by their slice and crossing
lines; the slice strip; cine), the side panels (series; analysis, decision, measurements), the
menus and the toolbar, and shows what the controller (`ViewerController`, which owns the state,
the jobs, the model and the session's analyses) and the state say. Its own work is showing:
painting the current slice with its overlay and readouts, message boxes, file dialogs, Help,
and the remembered window geometry, drag mode, overlay style and layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lunglens.analysis import readout
from lunglens.analysis.lesion_methods import DEFAULT_LESION_METHOD, LESION_METHOD_LABELS, LESION_METHODS
from lunglens.core.reformat import stated_slice_labels
from lunglens.core.windowing import PRESETS
from lunglens.io import Series
from lunglens.render.contours import LESION_CONTOURS, LUNG_CONTOURS, contour_pixels, paint
from lunglens.report.identity import pixel_identity_problem
from lunglens.ui.analysis_panel import AnalysisPanel
from lunglens.ui.cine import CineController, CineControls
from lunglens.ui.controller import ViewerController, session_key
from lunglens.ui.decision_panel import DecisionPanel
from lunglens.ui.dialogs import AboutDialog, TagDialog
from lunglens.ui.hospital_menu import HospitalActions
from lunglens.ui.image_view import LEFT_DRAG_MODES, SliceView
from lunglens.ui.keymap import keymap_html
from lunglens.ui.measurements import MeasurementLayer, MeasurementList
from lunglens.ui.quant_panel import QuantPanel
from lunglens.ui.reformat_view import ReformatView
from lunglens.ui.render import DisplayCache
from lunglens.ui.series_browser import SeriesBrowser
from lunglens.ui.slice_strip import SliceStrip
from lunglens.ui.status_bar import ElidedLabel, MessageBar
from lunglens.ui.view_markers import ViewMarkers

#: Widths of the side panels (px): fixed, so the image takes what the window gains or loses and
#: no label's length moves a slider under the cursor; the panels scroll in a small window.
SERIES_PANEL_PX = 250
SIDE_PANEL_PX = 340
#: Below this window width the reformats step aside (the axial view keeps the space); they come
#: back when the window is wider again.
REFORMATS_FROM_PX = 1300
STRIP_PX = 72
#: The widest the status bar's model line gets (px): the rest of the bar is the messages'.
MODEL_LABEL_PX = 420
#: Zoom factor of one + or - key press; pan step of Shift + arrow (fraction of the view).
ZOOM_KEY_FACTOR = 1.25
PAN_KEY_FRACTION = 0.1
#: Move of a reformat's plane by one Alt + arrow press (image pixels).
PLANE_KEY_STEP_PX = 8
#: Window width / level change of one Ctrl + arrow press (HU).
WL_KEY_STEP_HU = (50.0, 25.0)
CROSS_PEN = pg.mkPen("#00e5ff", width=1, style=Qt.PenStyle.DashLine)


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
        self._labels = None
        """The decoded quantification masks of the shown analysis (`_quant_labels`)."""
        self._contour_cache: dict[tuple[int, bool, bool], tuple] = {}
        self._measured_slice: tuple[int, bool] | None = None
        """(slice, whole series in) the measurements were last given (`render`)."""
        self._measured_series: tuple[str, str] | None = None
        """The series (`session_key`) the measurements on the view belong to."""
        self._measured_images: Series | None = None
        """Its images, once loaded (their `fingerprint` goes with measurements set aside)."""
        self._kept_measurements: dict[tuple[str, str], tuple[str, list]] = {}
        """Measurements of the series not shown, by `session_key`, with the fingerprint of the
        images they were made on; put back when the series is shown again with those images."""
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.timeout.connect(self._prefetch_neighbours)
        self.setWindowTitle("LungLens")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._restore_settings()
        self._connect()
        self._restore_style()
        self.view.show_hint(True)
        self.controller.start_model_load()

    # --- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        state = self.state
        self.view = SliceView()
        self.markers = ViewMarkers(self.view.graphics, self.view.box, avoid=self.view.readouts())
        self.measurements = MeasurementLayer(self.view.box, self.view.image, self)
        self.cross_lines = (
            pg.InfiniteLine(angle=0, movable=False, pen=CROSS_PEN),  # the coronal plane (a row)
            pg.InfiniteLine(angle=90, movable=False, pen=CROSS_PEN),  # the sagittal plane (a column)
        )
        for line in self.cross_lines:
            line.setVisible(False)
            self.view.box.addItem(line, ignoreBounds=True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.cine = CineController(state, self)
        self.cine_controls = CineControls(self.cine)
        self.strip = SliceStrip(state)
        axial = QWidget()
        image_column = QVBoxLayout(axial)
        image_column.setContentsMargins(0, 0, 0, 0)
        image_column.addWidget(self.view, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.cine_controls)
        image_column.addLayout(controls)
        self.coronal = ReformatView("coronal", state)
        self.sagittal = ReformatView("sagittal", state)
        for reformat in (self.coronal, self.sagittal):
            # their image changes rarely while their slice line moves at every step: paint the
            # line's strip from a cached pixmap of the image instead of redrawing the image
            reformat.image.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.reformats = QSplitter(Qt.Orientation.Vertical)
        self.reformats.addWidget(self.coronal)
        self.reformats.addWidget(self.sagittal)
        self.views = QSplitter(Qt.Orientation.Horizontal)
        self.views.addWidget(axial)
        self.views.addWidget(self.reformats)
        self.views.setStretchFactor(0, 3)
        self.views.setStretchFactor(1, 2)
        self.views.setSizes([600, 400])
        self.views.setChildrenCollapsible(False)
        self.strip.setFixedWidth(STRIP_PX)
        centre = QWidget()
        row = QHBoxLayout(centre)
        row.setContentsMargins(2, 2, 2, 2)
        row.addWidget(self.views, 1)
        row.addWidget(self.strip)
        self.setCentralWidget(centre)

        self.browser = SeriesBrowser()
        self.series_dock = QDockWidget("Series", self)
        self.series_dock.setObjectName("series")
        self.series_dock.setWidget(self.browser)
        self.series_dock.setFixedWidth(SERIES_PANEL_PX)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.series_dock)

        self.analysis_panel = AnalysisPanel(state)
        self.decision_panel = DecisionPanel(state)
        self.quant_panel = QuantPanel(state)
        measure_box = QGroupBox("Measurements")
        measure_layout = QVBoxLayout(measure_box)
        buttons = QHBoxLayout()
        self.measure_buttons = {}
        for kind, text in (
            ("distance", "Distance (D)"),
            ("ellipse", "Ellipse (E)"),
            ("freehand", "Freehand (F)"),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, k=kind: self.add_measurement(k))
            buttons.addWidget(button)
            self.measure_buttons[kind] = button
        measure_layout.addLayout(buttons)
        self.measurement_list = MeasurementList(self.measurements)
        self.measurement_list.list.setMaximumHeight(140)
        measure_layout.addWidget(self.measurement_list)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.analysis_panel)
        side_layout.addWidget(self.decision_panel)
        side_layout.addWidget(self.quant_panel)
        side_layout.addWidget(measure_box)
        side_layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_dock = QDockWidget("Analysis and decision", self)
        self.side_dock.setObjectName("analysis")
        self.side_dock.setWidget(scroll)
        self.side_dock.setFixedWidth(SIDE_PANEL_PX)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.side_dock)

        self.setStatusBar(MessageBar())
        self.model_label = ElidedLabel(readout.model_status(None))
        self.model_label.setMaximumWidth(MODEL_LABEL_PX)
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(180)
        self.load_progress.setFormat("loading %v/%m")
        self.load_progress.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self.statusBar().addPermanentWidget(self.model_label)
        self.help_dialog: QDialog | None = None
        self.help_text: QTextBrowser | None = None

    def _action(self, text: str, slot, shortcut=None, menu=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if slot is not None and checkable:
            action.toggled.connect(slot)
        elif slot is not None:  # triggered(bool) would hand `checked` to a slot's first default argument
            action.triggered.connect(lambda _checked=False: slot())
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
        self._action("Try the &demo patient", control.open_demo, None, file_menu)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.hospital = HospitalActions(self, file_menu)
        file_menu.addSeparator()
        self.export_action = self._action("&Export PDF report…", self.export_report, "Ctrl+E", file_menu)
        self.export_action.setEnabled(False)
        self.anonymise_action = self._action(
            "Anonymise exported reports", control.set_anonymise_exports, None, file_menu, True
        )
        self.anonymise_action.setChecked(control.anonymise_exports)
        self.measurements_report_action = self._action(
            "Include measurements in exported reports",
            control.set_measurements_in_reports,
            None,
            file_menu,
            True,
        )
        self.measurements_report_action.setChecked(control.measurements_in_reports)
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
        self.file_window_action = self._action(
            "The file's own window (from its DICOM header)", control.use_file_window, "4", view_menu
        )
        self.file_window_action.setEnabled(False)
        view_menu.addSeparator()
        self._action("&Reset view and window", self.reset_view, "R", view_menu)
        self.overlay_action = self._action(
            "Grad-CAM &overlay", lambda on: state.set_overlay(visible=on), "H", view_menu, True
        )
        self.overlay_action.setChecked(state.overlay_visible)
        self._action("Grad-CAM as o&utline", self.analysis_panel.outline.toggle, "O", view_menu)
        self._action("&Lung contours", self.quant_panel.lungs.toggle, "L", view_menu)
        self._action(
            "Lesion outlines (&ground glass, consolidation)", self.quant_panel.lesions.toggle, "G", view_menu
        )
        self._action("&Next positive slice", control.next_positive, "N", view_menu)
        self.reformat_action = self._action(
            "Coronal and sagittal &reformats", self.show_reformats, "V", view_menu, True
        )
        self._action("Zoom in", lambda: self.view.zoom(ZOOM_KEY_FACTOR), "+", view_menu)
        self._action("Zoom out", lambda: self.view.zoom(1 / ZOOM_KEY_FACTOR), "-", view_menu)
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
        # the panels can be closed (their title bar's button) to give the images a small screen
        # and brought back here
        for dock, text in ((self.series_dock, "&Series panel"), (self.side_dock, "&Analysis panel")):
            toggle = dock.toggleViewAction()
            toggle.setText(text)
            view_menu.addAction(toggle)
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
        for key, right, down in (
            ("Shift+Left", -1, 0),
            ("Shift+Right", 1, 0),
            ("Shift+Up", 0, -1),
            ("Shift+Down", 0, 1),
        ):
            self._action(
                f"Pan {key}",
                lambda r=right, d=down: self.view.pan(r * PAN_KEY_FRACTION, d * PAN_KEY_FRACTION),
                key,
            )
        width_step, level_step = WL_KEY_STEP_HU
        for key, dx, dy in (
            ("Ctrl+Right", width_step, 0.0),
            ("Ctrl+Left", -width_step, 0.0),
            ("Ctrl+Up", 0.0, level_step),
            ("Ctrl+Down", 0.0, -level_step),
        ):
            self._action(f"Window {key}", lambda w=dx, lv=dy: control.change_window(w, lv), key)
        for key, axis, delta in (
            ("Alt+Up", "coronal", -PLANE_KEY_STEP_PX),
            ("Alt+Down", "coronal", PLANE_KEY_STEP_PX),
            ("Alt+Left", "sagittal", -PLANE_KEY_STEP_PX),
            ("Alt+Right", "sagittal", PLANE_KEY_STEP_PX),
        ):
            self._action(f"Move the {axis} plane", lambda a=axis, d=delta: self.move_plane(a, d), key)
        measure_menu = bar.addMenu("&Measure")
        for kind, key in (("distance", "D"), ("ellipse", "E"), ("freehand", "F")):
            article = "an" if kind[0] in "aeiou" else "a"
            self._action(
                f"Add {article} {kind} measurement", lambda k=kind: self.add_measurement(k), key, measure_menu
            )
        self._action("First slice", lambda: state.set_index(0), "Home")
        self._action("Last slice", lambda: state.set_index(state.n_slices - 1), "End")

        analysis_menu = bar.addMenu("&Analysis")
        self.run_action = self._action("&Run analysis", control.run_analysis, "Ctrl+R", analysis_menu)
        self.cancel_action = self._action("&Cancel analysis", control.cancel_analysis, "Esc", analysis_menu)
        self._build_lesion_method_menu(analysis_menu.addMenu("&Lesion method"))
        help_menu = bar.addMenu("&Help")
        self._action("&Keyboard and mouse…", self.show_keys, "F1", help_menu)
        self._action("&About LungLens and the model…", self.show_about, None, help_menu)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main")
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        for action, preset in zip(self.preset_actions, PRESETS, strict=True):
            action.setIconText(preset.name)
            toolbar.addAction(action)
        self.file_window_action.setIconText("File window")
        self.file_window_action.setToolTip("The window stored in the file's DICOM header (4)")
        toolbar.addAction(self.file_window_action)
        toolbar.addSeparator()
        toolbar.addAction(self.run_action)
        toolbar.addAction(self.overlay_action)
        toolbar.addAction(self.export_action)

    def _build_lesion_method_menu(self, menu) -> None:
        """Analysis ▸ Lesion method: one checkable action per method, the controller's (remembered)
        one checked; `lesion_method_actions` by name."""
        menu.setToolTipsVisible(True)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.lesion_method_actions: dict[str, QAction] = {}
        for name in LESION_METHODS:
            label = LESION_METHOD_LABELS[name] + (" (default)" if name == DEFAULT_LESION_METHOD else "")
            action = self._action(
                label, lambda on, n=name: on and self.controller.set_lesion_method(n), None, menu, True
            )
            action.setToolTip(
                "How the quantification finds lesions. Changing it quantifies the shown analysis again "
                "with this method (the classifier does not run again) and applies to every later analysis."
            )
            group.addAction(action)
            self.lesion_method_actions[name] = action
        self.lesion_method_actions[self.controller.lesion_method].setChecked(True)
        self.controller.lesionMethodChanged.connect(
            lambda name: self.lesion_method_actions[name].setChecked(True)
        )

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
        self.decision_panel.flipsChanged.connect(self.strip.set_flips)
        self.analysis_panel.styleChanged.connect(self._style_changed)
        self.quant_panel.contoursChanged.connect(self._contours_changed)
        self.view.hintLinkActivated.connect(
            lambda link: self.choose_folder() if link == "open" else control.open_demo()
        )
        for axis, reformat in (("coronal", self.coronal), ("sagittal", self.sagittal)):
            reformat.sliceClicked.connect(state.set_index)
            reformat.box.sliceSteps.connect(lambda steps, a=axis: self.move_plane(a, steps))
            reformat.box.windowDrag.connect(control.drag_window)
        self.coronal.crossPicked.connect(self._sagittal_at)
        self.sagittal.crossPicked.connect(self._coronal_at)
        self.measurement_list.sliceRequested.connect(state.set_index)

        state.analysisChanged.connect(self.cache.clear)
        state.analysisChanged.connect(self._forget_quant_labels)
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
        control.analysisRunning.connect(self.decision_panel.set_running)
        control.analysisRunning.connect(self._update_export)
        control.analysisProgress.connect(self.analysis_panel.set_progress)
        control.analysisMessage.connect(self.analysis_panel.message.setText)
        control.recentChanged.connect(self._rebuild_recent)
        control.problem.connect(lambda *_: self.view.show_hint(self.state.ref is None))

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
        self.reformat_action.setChecked(bool(self.settings.value("reformats", True, type=bool)))
        self.show_reformats(self.reformat_action.isChecked())
        self._rebuild_recent()

    def _restore_style(self) -> None:
        """The overlay style remembered (outline, hiding cold slices); the panel's switches
        announce it (`_style_changed`)."""
        panel = self.analysis_panel
        panel.outline.setChecked(bool(self.settings.value("overlay_outline", panel.style.outline, type=bool)))
        panel.hide_cold.setChecked(
            bool(self.settings.value("overlay_hide_below_cutoff", panel.style.hide_below_cutoff, type=bool))
        )
        self._style_changed(panel.style)
        quant = self.quant_panel
        quant.lungs.setChecked(bool(self.settings.value("lung_contours", False, type=bool)))
        quant.lesions.setChecked(bool(self.settings.value("lesion_outlines", True, type=bool)))

    def _contours_changed(self) -> None:
        """Lung contours or lesion outlines switched: remembered, and the slice redrawn."""
        self.settings.setValue("lung_contours", self.quant_panel.lungs.isChecked())
        self.settings.setValue("lesion_outlines", self.quant_panel.lesions.isChecked())
        self.render()

    def _style_changed(self, style) -> None:
        """The Grad-CAM style (outline or fill, hidden below the cut-off) for every view, remembered."""
        self.settings.setValue("overlay_outline", style.outline)
        self.settings.setValue("overlay_hide_below_cutoff", style.hide_below_cutoff)
        self.cache.set_style(style)
        for reformat in (self.coronal, self.sagittal):
            reformat.set_style(style)
        self.render()

    def show_reformats(self, on: bool) -> None:
        """Show or hide the coronal and sagittal reformats beside the axial view (remembered)."""
        self.settings.setValue("reformats", bool(on))
        self._fit_reformats()

    def _fit_reformats(self) -> None:
        """The reformats are shown when asked for, the open series has them (an axial stack of
        2 or more slices) and the window is wide enough (`REFORMATS_FROM_PX`)."""
        ref = self.state.ref
        has = ref is not None and ref.orientation == "axial" and ref.n_slices >= 2
        self.reformats.setVisible(
            self.reformat_action.isChecked() and has and self.width() >= REFORMATS_FROM_PX
        )
        self._place_cross_lines()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit_reformats()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        folders = self.controller.recent_folders()
        for folder in folders:
            self.recent_menu.addAction(
                folder, lambda _checked=False, f=folder: self.controller.open_folder(f)
            )
        self.recent_menu.setEnabled(bool(folders))

    def set_left_drag(self, mode: str) -> None:
        for view in (self.view, self.coronal, self.sagittal):
            view.box.left_drag = mode
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
        self.model_label.set_text(
            readout.model_status(control.model, control.model_problem), control.model_problem
        )

    def _folder_opened(self, found) -> None:
        """A folder is being read (`found` None: clear what was shown) or its series are in."""
        self.browser.set_discovery(found)
        if found is None:
            self.view.clear()
            self.view.show_hint(False)
            self._set_measurements_aside()
            self._fit_reformats()
            return
        self.setWindowTitle(f"LungLens — {found.folder.name}")

    def _set_measurements_aside(self) -> None:
        """Keep the measurements of the series shown for when the reader comes back to it (in this
        session), and take them off the view."""
        if self._measured_series is not None and self.measurements.items:
            made_on = self._measured_images.fingerprint if self._measured_images is not None else ""
            self._kept_measurements[self._measured_series] = (made_on, self.measurements.kept())
        self._measured_series = self._measured_images = None
        self.measurements.clear()

    def _put_measurements_back(self, series: Series) -> None:
        """Put back the measurements set aside for `series` when they were made on its images as
        they are now; else drop them and say why (their slices and pixels may no longer exist)."""
        self._measured_images = series
        made_on, kept = self._kept_measurements.pop(self._measured_series, ("", []))
        if not kept:
            return
        if made_on and made_on == series.fingerprint:
            self.measurements.put_back(kept)
        else:
            self._status(
                f"{len(kept)} measurement(s) made earlier on this series were dropped: its images "
                "changed since (or were not all loaded when they were made)",
                15000,
            )

    def _series_opened(self, ref) -> None:
        self.cache.clear()
        self._set_measurements_aside()
        self._measured_series = session_key(ref)
        self._measured_slice = None
        self.view.forget_slice()
        self.view.set_pixel_size(ref.pixel_spacing_mm or (1.0, 1.0))  # the middle slice shows first
        self.markers.set_geometry(None, ref.pixel_spacing_mm[1] if ref.pixel_spacing_mm else None)
        self._fit_reformats()
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
        self._put_measurements_back(self.state.series)
        self.slider.setRange(0, self.state.n_slices - 1)  # slices that failed to decode are gone
        self.slider.setEnabled(True)
        self.file_window_action.setEnabled(self.controller.file_window() is not None)
        series = self.state.series
        self.view.set_pixel_size(series.pixel_spacing_mm)
        self.markers.set_series_geometry(series, stated_slice_labels(series), series.pixel_spacing_mm[1])
        self._place_cross_lines()

    def _analysis_changed(self) -> None:
        self._update_export()
        self.render()

    def _update_export(self) -> None:
        """Export PDF is there for a shown analysis, and waits while another runs (the shown one
        is then out of date)."""
        self.export_action.setEnabled(self.state.analysis is not None and not self.controller.analysing)

    # --- drawing ---------------------------------------------------------------------------
    def render(self) -> None:
        """Show the current slice with its overlay, readouts (the HU under the cursor included),
        measurements and selector banner."""
        state, i = self.state, self.state.index
        hu = state.slice_hu(i)
        if hu is None:
            self.view.forget_slice()
            if state.ref is None:  # nothing open (a folder being read, a failed load): a blank view
                self.view.clear()
                self.markers.set_geometry(None, None)
                self.slider.setEnabled(False)
            return
        frame, overlay_shown = self._frame(i, hu)
        self.view.show_slice(hu, frame, overlay_shown)
        if self._measured_slice != (i, state.series is not None):
            self._measured_slice = (i, state.series is not None)
            series = state.series
            if series is None:
                self.measurements.set_slice(i, hu, (1.0, 1.0))
            else:
                self.measurements.set_slice(i, hu, series.pixel_spacing_mm, series.pixel_spacing_stated)
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
        self.view.set_banner(readout.banner(i, state.selection), readout.banner_details(i, state.selection))

    def _frame(self, i: int, hu):
        """(RGBA frame, whether the Grad-CAM is in it) of slice `i` as the state asks: the
        Grad-CAM inside the body, as strong as the slice's P(COVID), none below the slice
        cut-off when the style hides it (`lunglens.render.overlay`)."""
        state, analysis = self.state, self.state.analysis
        cam = p_covid = cutoff = None
        if analysis is not None and state.overlay_visible and analysis.classified[i]:
            cam, p_covid = analysis.cams[i], float(analysis.p_covid[i])
            cutoff = analysis.decision.params.slice_cutoff
        frame = self.cache.frame(i, hu, state.window, cam, state.overlay_opacity, p_covid, cutoff)
        shown = cam is not None and self.cache.overlay_weight(state.overlay_opacity, p_covid, cutoff) > 0
        labels = self._quant_labels()
        if labels is not None:
            frame = paint(frame, self._contours(i, labels))
        return frame, shown

    def _contours(self, i: int, labels) -> tuple:
        """The outline pixels of slice `i` the quantification switches ask for, found once per
        slice (the prefetch finds the neighbours')."""
        panel = self.quant_panel
        key = (i, panel.lungs.isChecked(), panel.lesions.isChecked())
        pixels = self._contour_cache.get(key)
        if pixels is None:
            parts = [
                contour_pixels(volume[i], style)
                for volume, style, on in zip(labels, (LUNG_CONTOURS, LESION_CONTOURS), key[1:], strict=True)
                if on
            ]
            pixels = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            if len(self._contour_cache) >= self.cache.max_slices:
                self._contour_cache.pop(next(iter(self._contour_cache)))
            self._contour_cache[key] = pixels
        return pixels

    def _quant_labels(self):
        """(lung labels, lesion classes) uint8 (z, y, x) of the shown analysis' quantification,
        decoded once per analysis; None without masks or with both switches off."""
        panel, analysis = self.quant_panel, self.state.analysis
        if not (panel.lungs.isChecked() or panel.lesions.isChecked()) or analysis is None:
            return None
        q = analysis.quantification
        if q is None or q.masks is None or q.masks.shape[0] != self.state.n_slices:
            return None
        if self._labels is None:
            self._labels = (q.masks.lung_labels(), q.masks.lesion_classes())
        return self._labels

    def clear_caches(self) -> None:
        """Forget every prepared frame and outline (the benchmark's cold steps)."""
        self.cache.clear()
        self._contour_cache.clear()

    def _forget_quant_labels(self) -> None:
        self._labels = None
        self._contour_cache.clear()

    # --- reformats and measurements ---------------------------------------------------------
    def _sagittal_at(self, column: int) -> None:
        """A click on the coronal view at `column`: the sagittal plane goes there."""
        self.sagittal.set_plane_index(column)
        if self.sagittal.plane_index is not None:
            self.coronal.set_cross(self.sagittal.plane_index)
        self._place_cross_lines()

    def _coronal_at(self, row: int) -> None:
        """A click on the sagittal view at `row`: the coronal plane goes there."""
        self.coronal.set_plane_index(row)
        if self.coronal.plane_index is not None:
            self.sagittal.set_cross(self.coronal.plane_index)
        self._place_cross_lines()

    def move_plane(self, axis: str, delta: int) -> None:
        """Move the coronal (rows) or sagittal (columns) plane by `delta` image pixels (the keys'
        way of clicking on the other reformat)."""
        view = self.coronal if axis == "coronal" else self.sagittal
        if view.plane_index is not None:
            (self._coronal_at if axis == "coronal" else self._sagittal_at)(view.plane_index + delta)

    def _place_cross_lines(self) -> None:
        """The reformats' planes as dashed lines on the axial view, while they are shown."""
        on = self.reformats.isVisibleTo(self) and self.coronal.available()
        for line, plane in zip(
            self.cross_lines, (self.coronal.plane_index, self.sagittal.plane_index), strict=True
        ):
            line.setVisible(on and plane is not None)
            if plane is not None:
                line.setPos(plane + 0.5)

    def add_measurement(self, kind: str) -> None:
        """Put a new distance, ellipse or freehand region in the middle of the axial view (drag
        its handles to fit)."""
        if self.state.slice_hu(self.state.index) is None:
            return
        (x, y), size = self.measurements.default_placement()
        if kind == "distance":
            self.measurements.add_distance((x - size, y + 1.5 * size), (x + size, y + 1.5 * size))
        elif kind == "ellipse":
            self.measurements.add_ellipse((x, y), (size, 0.7 * size))
        else:
            self.measurements.add_freehand(
                [(x - size, y), (x - size / 2, y - size), (x + size, y - size / 2), (x + size / 2, y + size)]
            )

    def _prefetch_neighbours(self) -> None:
        """When the event loop is idle, prepare the slices either side of the current one, so the
        next wheel step or key press only has to paint."""
        for i in (self.state.index + 1, self.state.index - 1):
            hu = self.state.slice_hu(i) if 0 <= i < self.state.n_slices else None
            if hu is not None:
                self._frame(i, hu)

    def reset_view(self) -> None:
        """Zoom and pan of the axial view and the reformats back to the whole image, and the
        series' own window."""
        for view in (self.view, self.coronal, self.sagittal):
            view.reset_view()
        self.controller.reset_window()

    # --- dialogs ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.settings.value("last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open a patient folder", start)
        if folder:
            self.controller.open_folder(folder)

    def show_keys(self) -> None:
        """Help: every key and mouse gesture (`lunglens.ui.keymap`)."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard and mouse")
        self.help_text = QTextBrowser(dialog)  # scrolls: the table is taller than a small screen
        self.help_text.setHtml(keymap_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(self.help_text)
        layout.addWidget(buttons)
        screen = self.screen().availableGeometry()
        dialog.resize(min(620, int(0.9 * screen.width())), min(760, int(0.85 * screen.height())))
        self.help_dialog = dialog
        dialog.open()

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
        problem = self.controller.anonymise_exports and pixel_identity_problem(self.state.series.ref)
        if problem:  # refused before the reader chooses a file
            self.show_message("Report not exported", problem)
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the PDF report", "lunglens-report.pdf", "PDF (*.pdf)"
        )
        if path:
            self.controller.export_report(path, self.measurements.records())

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.controller.open_folder(paths[0] if paths[0].is_dir() else paths[0].parent)
            event.acceptProposedAction()
