"""The viewer's controller: the workflow behind the window, without widgets.

It is the only writer of `ViewerState` and owns the background jobs (`JobSlot`s: discover,
load, thumbnails, analysis, model, demo), the one model of the session (`SharedModel`: loaded
once at start-up; an analysis asked for before that load ends waits for it), the lesion method
of the quantification (remembered; the lesion model loaded once per process by
`shared_lesion_methods`), the session's analyses by series (restored when a series is opened
again), the remembered settings and the report export. It tells the window what to show through signals; the window
only shows."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from lunglens.analysis import Analysis, AnalysisOptions, analyse, readout, requantify, shared_lesion_methods
from lunglens.analysis.lesion_methods import DEFAULT_LESION_METHOD, LESION_METHOD_LABELS, lesion_method_name
from lunglens.analysis.records import ModelRecord
from lunglens.atomic import real_path
from lunglens.core.decision import exact_text
from lunglens.core.selector import select_slices
from lunglens.core.windowing import PRESETS, Window, to_grey
from lunglens.inference import Model, SharedModel, load_model
from lunglens.io import Discovery, SeriesRef, discover, load, load_slice
from lunglens.report import write_report
from lunglens.synthetic.demo import make_demo_patient
from lunglens.ui.session_folders import made_for_this_session, make_session_folder, remove_session_folders
from lunglens.ui.state import ViewerState
from lunglens.ui.workers import JobSlot

MAX_RECENT = 8
#: Window/level change per screen pixel of a left drag (HU): horizontal → width, vertical → level.
WL_HU_PER_PIXEL = (4.0, 2.0)
JOBS = ("discover", "load", "thumbnails", "analysis", "model", "demo")


def session_key(ref: SeriesRef) -> tuple[str, str]:
    """Where the session keeps the analysis of a series: its key (`SeriesRef.key`) and its folder
    (resolved), so a copy of the series in another folder (same UIDs: a subset, a backup) is
    another series, never taken for this one with its files changed."""
    return ref.key, str(ref.folder.resolve())


def remembered_lesion_method(settings: QSettings) -> str:
    """The lesion method the settings remember, or `DEFAULT_LESION_METHOD` (also for a name
    this version does not know)."""
    try:
        return lesion_method_name(str(settings.value("lesion_method", DEFAULT_LESION_METHOD)))
    except ValueError:
        return DEFAULT_LESION_METHOD


class ViewerController(QObject):
    """`firstSliceShown` fires when a newly chosen series has a slice in the state (the window
    paints it at once), `seriesLoaded` when its whole volume and selection are in,
    `analysisDone` when an analysis lands and `analysisCancelled` when the reader stopped one.
    `problem(title, text)` asks the window to tell the reader; `status(text, ms)` is a passing
    note (ms 0: until replaced)."""

    firstSliceShown = Signal()
    seriesLoaded = Signal()
    analysisDone = Signal()
    analysisCancelled = Signal()
    problem = Signal(str, str)
    status = Signal(str, int)
    folderOpened = Signal(object)
    """A folder's discovery arrived (`Discovery`)."""
    seriesOpened = Signal(object)
    """A series was chosen (`SeriesRef`); its preview may follow, then the load."""
    thumbnailsReady = Signal(object)
    """{series key: grey uint8 thumbnail}."""
    loadProgress = Signal(int, int)
    loadEnded = Signal()
    modelChanged = Signal()
    analysisRunning = Signal(bool)
    analysisProgress = Signal(int, int)
    analysisMessage = Signal(str)
    recentChanged = Signal()
    lesionMethodChanged = Signal(str)
    """The reader chose another lesion method (its name)."""
    analysisRestored = Signal(bool)
    """An analysis made earlier in the session came back with its series (True: it was made
    with another model or selector than the current ones; a re-run is offered)."""

    def __init__(self, settings: QSettings, model_path: Path | None = None, provider: str = "auto"):
        super().__init__()
        self.settings = settings
        self.state = ViewerState()
        self.jobs = {name: JobSlot() for name in JOBS}
        self.model: Model | None = None
        self.model_problem = ""
        path = Path(model_path) if model_path else None
        self.models = SharedModel(lambda: load_model(path, provider))
        self.lesion_methods = shared_lesion_methods(provider=provider)
        self.lesion_method = remembered_lesion_method(settings)
        """The name of the lesion method the quantification uses (`lunglens.analysis.lesion_methods`)."""
        self.anonymise_exports = bool(settings.value("anonymise_exports", False, type=bool))
        self.measurements_in_reports = bool(settings.value("measurements_in_reports", True, type=bool))
        self.analysing = False
        """Whether an analysis or re-quantification runs (the shown one is then out of date:
        `analysisRunning` tells when this changes)."""
        self.results: dict[tuple[str, str], Analysis] = {}
        """The session's analyses by series location (`session_key`), the latest of each."""
        self._saved: Analysis | None = None
        """A saved analysis to show once its series is loaded (`open_with_analysis`)."""
        self._saved_as = ""
        """Its file, as the reader is told it."""
        self._opened_at = 0.0
        self.open_seconds: float | None = None
        """Seconds from `open_folder` to the first slice in the state (for the benchmark)."""
        self._restore_display()
        self.state.windowChanged.connect(lambda: self.settings.setValue("window", self.state.window.name))
        self.state.overlayChanged.connect(
            lambda: self.settings.setValue("overlay_opacity", self.state.overlay_opacity)
        )

    def _restore_display(self) -> None:
        name = self.settings.value("window", PRESETS[0].name)
        self.state.window = next((p for p in PRESETS if p.name == name), PRESETS[0])
        self.state.overlay_opacity = float(self.settings.value("overlay_opacity", 0.5))

    def shutdown(self) -> None:
        """Drop every job (the window is closing): no result lands after this."""
        for job in self.jobs.values():
            job.drop()
        remove_session_folders()

    def _set_analysing(self, on: bool) -> None:
        self.analysing = on
        self.analysisRunning.emit(on)

    # --- the model -------------------------------------------------------------------------
    def start_model_load(self) -> None:
        """Load the session's model in the background (once; see `SharedModel`)."""
        signals = self.jobs["model"].start(lambda _progress, _cancel: self.models.get())
        signals.finished.connect(self._model_loaded)
        signals.failed.connect(self._model_failed)

    def _model_loaded(self, model: Model) -> None:
        self.model, self.model_problem = model, ""
        self.modelChanged.emit()

    def _model_failed(self, message: str) -> None:
        self.model_problem = (
            f"No model could be loaded: {message}\n\nStart LungLens with --model PATH (a .json model card "
            "or .onnx file) or install the bundled demonstration model."
        )
        self.modelChanged.emit()

    # --- settings --------------------------------------------------------------------------
    def recent_folders(self) -> list[str]:
        """The folders opened lately, latest first: absolute paths only (a relative one, as
        earlier versions kept, would open another folder, or none, from another working folder)."""
        folders = [str(f) for f in (self.settings.value("recent_folders", [], type=list) or [])]
        return [f for f in folders if Path(f).is_absolute()]

    def _remember_folder(self, folder: Path) -> None:
        """Put `folder` (made absolute, symbolic links resolved) first among the recent folders,
        unless this session made it (the demo patient, a study retrieved from a PACS): it is
        removed when the session ends."""
        if made_for_this_session(folder):
            return
        folder = real_path(folder)
        folders = [str(folder)] + [f for f in self.recent_folders() if f != str(folder)]
        self.settings.setValue("recent_folders", folders[:MAX_RECENT])
        self.recentChanged.emit()

    def set_anonymise_exports(self, on: bool) -> None:
        """Whether exported reports leave the patient's identifiers out (remembered)."""
        self.anonymise_exports = bool(on)
        self.settings.setValue("anonymise_exports", self.anonymise_exports)

    def set_lesion_method(self, name: str) -> None:
        """Quantify with the lesion method `name` from now on (remembered). The shown analysis,
        when its quantification used another method, is quantified again in the background: the
        classifier does not run again (`requantify`). While an analysis runs, it is quantified
        again when it lands."""
        name = lesion_method_name(name)
        if name == self.lesion_method:
            return
        self.lesion_method = name
        self.settings.setValue("lesion_method", name)
        self.lesionMethodChanged.emit(name)
        self.requantify_shown()

    def _follow_lesion_method(self, analysis: Analysis) -> None:
        """Turn the lesion method to the one that quantified `analysis` (a saved analysis is shown
        as it was saved: no model runs, the lesion model's no more than the classifier's), so the
        menu names the method of the figures shown; choosing another quantifies it again. Not
        remembered for later sessions."""
        quantification = analysis.quantification
        if quantification is not None and quantification.method != self.lesion_method:
            self.lesion_method = quantification.method
            self.lesionMethodChanged.emit(self.lesion_method)

    def requantify_shown(self) -> None:
        """Quantify the shown analysis again with the current lesion method, when it was made
        with another one and no analysis is running (also when one comes back with its series: the
        figures shown are always the chosen method's; a saved one turns the method to its own,
        `_follow_lesion_method`). A
        re-quantification that lands after the reader chose yet another method is not shown (the
        current method is checked again)."""
        analysis, series, name = self.state.analysis, self.state.series, self.lesion_method
        if (
            analysis is None
            or series is None
            or analysis.quantification is None
            or analysis.quantification.method == name
            or series.ref.key != analysis.series.key
            or self.jobs["analysis"].running
        ):
            return
        methods = self.lesion_methods

        def work(_progress, cancel):
            start = time.perf_counter()
            requantified = requantify(analysis, series, name, methods, cancel)
            return requantified, session_key(series.ref), time.perf_counter() - start, name

        self._set_analysing(True)
        self.analysisMessage.emit(f"Quantifying again with the {LESION_METHOD_LABELS[name].lower()}…")
        signals = self.jobs["analysis"].start(work)
        signals.finished.connect(self._requantified)
        signals.failed.connect(self._analysis_failed)
        signals.cancelled.connect(self._requantify_cancelled)

    def _requantified(self, result) -> None:
        analysis, key, seconds, name = result
        self._set_analysing(False)
        if name != self.lesion_method:  # the reader chose another method while it ran
            self.analysisMessage.emit(
                f"The quantification by the {LESION_METHOD_LABELS[name].lower()} was not shown: the "
                f"{LESION_METHOD_LABELS[self.lesion_method].lower()} was chosen meanwhile."
            )
            self.requantify_shown()
            return
        self.results[key] = analysis
        self.analysisMessage.emit(
            f"Quantified again in {seconds:.1f} s by {analysis.quantification.method} "
            "(the classifier did not run again)."
        )
        self.state.set_analysis(analysis)

    def _requantify_cancelled(self) -> None:
        self._set_analysing(False)
        shown = self.state.analysis.quantification.method if self.state.analysis is not None else ""
        self.analysisMessage.emit(f"Quantifying again cancelled; the quantification shown is by {shown}.")

    # --- opening ---------------------------------------------------------------------------
    def open_folder(self, folder) -> None:
        """Find the series under `folder` (in the background), then open the first analysable."""
        folder = Path(folder)
        self._saved = None
        self._opened_at = time.perf_counter()
        self.settings.setValue("last_folder", str(real_path(folder).parent))  # never raises on a link loop
        for name in ("load", "thumbnails", "analysis"):
            self.jobs[name].drop()
        self._set_analysing(False)
        self.analysisMessage.emit("")
        self.state.set_discovery(None)
        self.folderOpened.emit(None)
        self.status.emit(f"Reading {folder}…", 0)
        signals = self.jobs["discover"].start(lambda _progress, _cancel: discover(folder))
        signals.finished.connect(lambda found: self._discovered(folder, found))
        signals.failed.connect(lambda message: self._not_opened("Cannot open the folder", message))

    def _not_opened(self, title: str, message: str) -> None:
        """A folder gave nothing to show: the view stays blank, the reading note goes."""
        self.status.emit("", 0)
        self.problem.emit(title, message)

    def open_demo(self) -> None:
        """Make the synthetic demo patient in a temporary folder (in the background; removed at
        `shutdown`) and open it."""
        folder = make_session_folder("lunglens-demo-")
        self.status.emit("Making the demo patient…", 0)
        signals = self.jobs["demo"].start(lambda _progress, _cancel: make_demo_patient(folder, covid=True))
        signals.finished.connect(self.open_folder)
        signals.failed.connect(lambda message: self.problem.emit("Cannot make the demo patient", message))

    def _discovered(self, folder: Path, found: Discovery) -> None:
        problem = found.problem()
        if problem:
            self._not_opened("Nothing to show", problem)
            return
        self._remember_folder(folder)
        self.status.emit("", 0)
        self.state.set_discovery(found)
        self.folderOpened.emit(found)
        self.open_series(self._saved_ref(found) or (found.analysable or found.series)[0])
        self._start_thumbnails(found.series)
        unread = found.unread_folders_text()  # perhaps the series the reader was after
        if unread:
            self.status.emit(f"Elsewhere in the folder, {'; '.join(unread)}", 20000)
        elif found.skipped:
            self.status.emit(f"{found.skipped_count} skipped in {folder}", 10000)

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

        self.jobs["thumbnails"].start(thumbnails).finished.connect(self.thumbnailsReady)

    def open_series(self, ref: SeriesRef) -> None:
        """Show `ref`'s middle slice at once and load the whole series (and select its lung-open
        slices) in the background."""
        if not self._opened_at:
            self._opened_at = time.perf_counter()
        self.jobs["load"].drop()
        self.jobs["analysis"].drop()
        self._set_analysing(False)
        self.state.set_ref(ref)
        self.seriesOpened.emit(ref)
        try:
            self.state.set_preview(ref.n_slices // 2, load_slice(ref, ref.n_slices // 2))
        except Exception as exc:  # noqa: BLE001 - a broken first slice is reported, the load still tries
            self.status.emit(f"Cannot show the middle slice: {exc}", 10000)
        else:
            self.open_seconds = time.perf_counter() - self._opened_at
            self.firstSliceShown.emit()
        self._opened_at = 0.0

        def load_and_select(progress, _cancel):
            series = load(ref, progress=progress)
            series.fingerprint  # noqa: B018 - digested here, not in the window's thread (restores compare it)
            # the selector reads axial stacks; single slices and other planes get no selection
            return series, select_slices(series.standard_hu) if ref.analysable else None

        self.loadProgress.emit(0, ref.n_slices)
        signals = self.jobs["load"].start(load_and_select)
        signals.progress.connect(self.loadProgress)
        signals.finished.connect(self._series_loaded)
        signals.failed.connect(self._load_failed)

    def _series_loaded(self, result) -> None:
        series, selection = result
        self.loadEnded.emit()
        self.state.set_series(series, selection)
        if series.warnings:
            self.status.emit("; ".join(series.warnings), 15000)
        self._restore_analysis(series)
        self._show_saved(series)
        self.seriesLoaded.emit()

    def _restore_analysis(self, series) -> None:
        """Show the analysis made earlier in the session of `series` (its key in its folder:
        `session_key`), if any, and say whether a re-run would differ (another model or selector).
        One made of other images in that folder (the files were replaced since) is dropped, not
        shown, and the reader told."""
        key = session_key(series.ref)
        earlier = self.results.get(key)
        selection = self.state.selection
        if earlier is None or selection is None:
            return
        if not earlier.series.same_images(series):  # (another slice count included)
            del self.results[key]
            self.analysisMessage.emit("Not analysed: the images differ from those analysed earlier.")
            self.problem.emit(
                "Earlier analysis not shown",
                f"The images of {series.ref.folder} differ from those analysed earlier in this session "
                "(the files were changed since): the earlier analysis is not shown. Run the analysis "
                "again for these images.",
            )
            return
        current = ModelRecord.of(self.model.card) if self.model is not None else None
        stale = (
            current is not None and current != earlier.model
        ) or earlier.selection.params != selection.params
        self.state.set_analysis(earlier)
        self.analysisMessage.emit(readout.restored(earlier, current, stale))
        self.analysisRestored.emit(stale)
        self.requantify_shown()  # quantified by another method (a re-quantification was dropped)

    def _load_failed(self, message: str) -> None:
        """Nothing of the series is shown any more (its preview said it was loading)."""
        self.loadEnded.emit()
        self.state.set_ref(None)
        self.problem.emit("Cannot load the series", message)

    # --- saved analyses (the worklist) ------------------------------------------------------
    def open_with_analysis(self, folder, analysis: Analysis, saved_as: str = "") -> None:
        """Open `folder`, choose the series `analysis` was made of (its key) and, once that
        series is loaded, show `analysis` as it was saved, at the operating point it was decided
        at (it becomes the viewer's): no model runs. `saved_as` names its file in what the reader
        is told. It is not shown when the series' images are not those it was made of
        (`SeriesRecord.same_images`), and shown with a note when it records no fingerprint of
        them (an older result). An analysis of this session restored with its series
        (`_restore_analysis`) is shown at the viewer's operating point instead: that one is the
        reader's, set in this session."""
        self.open_folder(folder)
        self._saved = analysis
        self._saved_as = saved_as or "The saved analysis"

    def _saved_ref(self, found: Discovery) -> SeriesRef | None:
        if self._saved is None:
            return None
        ref = next((r for r in found.series if r.key == self._saved.series.key), None)
        if ref is None:
            self.problem.emit(
                "Saved analysis not shown",
                f"{found.folder} holds no series {self._saved.series.key}; the saved analysis is not shown.",
            )
            self._saved = None
        return ref

    def _show_saved(self, series) -> None:
        saved, self._saved = self._saved, None
        if saved is None or saved.series.key != series.ref.key:
            return
        if saved.n_slices != series.n_slices:
            self.problem.emit(
                "Saved analysis not shown",
                f"{self._saved_as} covers {saved.n_slices} slices but {series.ref.folder} now holds "
                f"{series.n_slices}; run the analysis again.",
            )
            return
        same = saved.series.same_images(series)
        if same is False:
            self.analysisMessage.emit("Not analysed: the images differ from those of the saved analysis.")
            self.problem.emit(
                "Saved analysis not shown",
                f"{self._saved_as} (of {saved.created}) was made of other images than those "
                f"{series.ref.folder} now holds (the files were changed since): it is not shown. Run "
                "the analysis again for these images.",
            )
            return
        params = saved.decision.params
        unconfirmed = (
            " It records no fingerprint of its images (an older result): it cannot be confirmed "
            "to match these images."
            if same is None
            else ""
        )
        self.analysisMessage.emit(
            f"Saved analysis of {saved.created}: {readout.analysis_done(saved)}{unconfirmed}"
        )
        self.state.set_analysis(saved, at_its_params=True)
        self.status.emit(
            f"Saved analysis of {saved.created} shown at its operating point (cut-off "
            f"{exact_text(params.slice_cutoff)}, f = {exact_text(params.patient_fraction)}; no model run)",
            10000,
        )
        if same is None:
            self.problem.emit(
                "Saved analysis not confirmed",
                f"{self._saved_as} (of {saved.created}) records no fingerprint of its images (written by an "
                f"older LungLens): it cannot be confirmed to match the images {series.ref.folder} holds now. "
                "It is shown; run the analysis again to be sure.",
            )
        self.analysisDone.emit()
        self._follow_lesion_method(saved)

    # --- navigation and windowing ----------------------------------------------------------
    def step(self, delta: int) -> None:
        self.state.set_index(self.state.index + delta)

    def next_positive(self) -> None:
        """Go to the next positive slice below the current one (wrapping to the first)."""
        positives = self.state.positives()
        if positives.size:
            later = positives[positives > self.state.index]
            self.state.set_index(int(later[0] if later.size else positives[0]))

    def file_window(self) -> Window | None:
        """The series' own window (from its middle slice), when its files give one."""
        meta = self.state.series.metadata if self.state.series is not None else None
        if meta is None or meta.window_width_hu is None or meta.window_center_hu is None:
            return None
        return Window("File", meta.window_width_hu, meta.window_center_hu)

    def use_file_window(self) -> None:
        window = self.file_window()
        if window is not None:
            self.state.set_window(window)

    def drag_window(self, dx: float, dy: float) -> None:
        """A left drag of (dx, dy) screen pixels: right widens, up raises the level."""
        self.change_window(dx * WL_HU_PER_PIXEL[0], dy * WL_HU_PER_PIXEL[1])

    def change_window(self, width_hu: float, level_hu: float) -> None:
        """Widen the window by `width_hu` and raise its level by `level_hu` (a custom window)."""
        window = self.state.window
        self.state.set_window(Window("Custom", window.width + width_hu, window.level + level_hu))

    def reset_window(self) -> None:
        self.state.set_window(PRESETS[0])

    # --- analysis --------------------------------------------------------------------------
    def run_analysis(self) -> None:
        """Analyse the open series with the session's model (waiting for its load when it is
        still running), using the selection made at load."""
        series = self.state.series
        if self.state.ref is None:
            self.problem.emit(
                "Nothing to analyse",
                "No series is open. Open a folder of CT slices (File ▸ Open folder…, Ctrl+O), drop one "
                "on the window, or try the demo patient (File ▸ Try the demo patient).",
            )
            return
        if series is None:
            self.problem.emit("Not ready", "The series is still loading; run the analysis when it is in.")
            return
        if self.jobs["analysis"].running:
            return
        if not series.ref.analysable:
            self.problem.emit("Cannot analyse this series", "; ".join(series.ref.problems))
            return
        if self.model_problem:
            self.problem.emit("No model", self.model_problem)
            return
        models, selection, lesion_methods = self.models, self.state.selection, self.lesion_methods
        options = AnalysisOptions(decision=self.state.params, lesion_method=self.lesion_method)

        def work(progress, cancel):
            model = models.get()
            analysis = analyse(
                series,
                model,
                options,
                selection=selection,
                progress=progress,
                cancel=cancel,
                lesion_methods=lesion_methods,
            )
            return model, analysis, session_key(series.ref), options.lesion_method

        self._set_analysing(True)
        if self.model is None:
            self.analysisMessage.emit("Waiting for the model to load…")
        signals = self.jobs["analysis"].start(work)
        signals.progress.connect(self.analysisProgress)
        signals.finished.connect(self._analysed)
        signals.failed.connect(self._analysis_failed)
        signals.cancelled.connect(self._analysis_cancelled)

    def cancel_analysis(self) -> None:
        if self.jobs["analysis"].running:
            self.jobs["analysis"].cancel()
            self.analysisMessage.emit("Cancelling…")

    def _analysed(self, result) -> None:
        model, analysis, key, lesion_method = result
        self.results[key] = analysis
        if self.model is None:
            self._model_loaded(model)
        self._set_analysing(False)
        self.analysisMessage.emit(readout.analysis_done(analysis))
        self.state.set_analysis(analysis)
        self.analysisDone.emit()
        if lesion_method != self.lesion_method:  # the reader chose another one while it ran
            self.requantify_shown()

    def _analysis_failed(self, message: str) -> None:
        self._set_analysing(False)
        self.analysisMessage.emit("Analysis failed.")
        if "model" in message.lower():
            message = f"{message}\n\nStart LungLens with --model PATH to use another model."
        self.problem.emit("Analysis failed", message)

    def _analysis_cancelled(self) -> None:
        self._set_analysing(False)
        self.analysisMessage.emit("Analysis cancelled.")
        self.analysisCancelled.emit()

    # --- export ----------------------------------------------------------------------------
    def set_measurements_in_reports(self, on: bool) -> None:
        """Whether exported reports list the reader's measurements (remembered)."""
        self.measurements_in_reports = bool(on)
        self.settings.setValue("measurements_in_reports", self.measurements_in_reports)

    def export_report(self, path, measurements=()) -> None:
        """Write the PDF report of the shown analysis to `path`, anonymised when the reader
        chose so (`set_anonymise_exports`), with `measurements` (`lunglens.core.measure.MeasurementRecord`s) when the
        reader chose to include them (`set_measurements_in_reports`). A `path` inside the folder
        the reader opened is refused, as `lunglens analyze` refuses it (input folders are read-only)."""
        if self.state.analysis is None or self.state.series is None:
            return
        opened = self.state.discovery
        try:
            write_report(
                self.state.analysis,
                self.state.series,
                Path(path),
                anonymise=self.anonymise_exports,
                measurements=tuple(measurements) if self.measurements_in_reports else (),
                read_only_folders=[opened.folder] if opened is not None else [],
            )
        except Exception as exc:  # noqa: BLE001 - the reader is told; the window stays up
            self.problem.emit("Cannot write the report", str(exc))
        else:
            self.status.emit(f"Report written to {path}", 10000)
