"""The viewer's state as a plain model: what is open, which slice, which window, which analysis
and operating point. Widgets read it and listen to its signals; only the controller
(`ViewerController`) writes it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from lunglens.analysis import Analysis
from lunglens.core.decision import DecisionParams
from lunglens.core.selector import Selection
from lunglens.core.windowing import PRESETS, Window
from lunglens.io import Discovery, Series, SeriesRef

LUNG = PRESETS[0]


class ViewerState(QObject):
    """Everything the viewer shows, in one place. Slice indices are 0-based (index 0 most
    superior); windows are in HU."""

    discoveryChanged = Signal()
    seriesChanged = Signal()
    """A new series was chosen (`ref`), or its preview slice or full volume arrived."""
    sliceChanged = Signal(int)
    windowChanged = Signal()
    analysisChanged = Signal()
    decisionChanged = Signal()
    overlayChanged = Signal()

    def __init__(self):
        super().__init__()
        self.discovery: Discovery | None = None
        self.ref: SeriesRef | None = None
        self.preview: tuple[int, np.ndarray] | None = None
        """(index, HU slice) shown while the rest of the series loads."""
        self.series: Series | None = None
        self.selection: Selection | None = None
        self.index = 0
        self.window: Window = LUNG
        self.analysis: Analysis | None = None
        self.params = DecisionParams()
        self.overlay_visible = True
        self.overlay_opacity = 0.5

    # --- what is open ----------------------------------------------------------------------
    @property
    def n_slices(self) -> int:
        """Slices of the loaded series (slices that failed to decode are not in it); before it
        has loaded, the slices discovery found."""
        if self.series is not None:
            return self.series.n_slices
        return self.ref.n_slices if self.ref is not None else 0

    def set_discovery(self, discovery: Discovery | None) -> None:
        self.discovery = discovery
        self.set_ref(None)
        self.discoveryChanged.emit()

    def set_ref(self, ref: SeriesRef | None) -> None:
        self.ref, self.preview, self.series, self.selection, self.analysis = ref, None, None, None, None
        self.index = ref.n_slices // 2 if ref is not None else 0
        self.seriesChanged.emit()
        self.analysisChanged.emit()

    def set_preview(self, index: int, hu: np.ndarray) -> None:
        self.preview = (index, hu)
        self.index = index
        self.seriesChanged.emit()

    def set_series(self, series: Series, selection: Selection | None) -> None:
        """The whole volume is in, with the selector's result (None: it does not apply)."""
        self.series, self.selection = series, selection
        self.index = min(self.index, series.n_slices - 1)
        self.seriesChanged.emit()

    def slice_hu(self, index: int) -> np.ndarray | None:
        """Slice `index` in HU, or None while it is still loading."""
        if self.series is not None:
            return self.series.hu[index]
        if self.preview is not None and self.preview[0] == index:
            return self.preview[1]
        return None

    # --- navigation and display ------------------------------------------------------------
    def set_index(self, index: int) -> None:
        if not self.n_slices:
            return
        if self.series is None and self.preview is not None:
            index = self.preview[0]  # only the preview slice exists yet
        index = int(np.clip(index, 0, self.n_slices - 1))
        if index != self.index:
            self.index = index
            self.sliceChanged.emit(index)

    def set_window(self, window: Window) -> None:
        width = float(np.clip(window.width, 1.0, 8000.0))
        level = float(np.clip(window.level, -2000.0, 4000.0))
        self.window = Window(window.name, width, level)
        self.windowChanged.emit()

    def set_overlay(self, visible: bool | None = None, opacity: float | None = None) -> None:
        if visible is not None:
            self.overlay_visible = visible
        if opacity is not None:
            self.overlay_opacity = float(np.clip(opacity, 0.0, 1.0))
        self.overlayChanged.emit()

    # --- analysis and decision -------------------------------------------------------------
    def set_analysis(self, analysis: Analysis | None, *, at_its_params: bool = False) -> None:
        """Show `analysis` decided at the viewer's operating point `params`; with `at_its_params`,
        at the one it was decided at, which becomes the viewer's (a saved analysis opened from a
        file shows the verdict it was saved with; the reader can move it from there)."""
        if analysis is not None and at_its_params:
            self.params = analysis.decision.params
        self.analysis = analysis.redecide(self.params) if analysis is not None else None
        self.analysisChanged.emit()
        self.decisionChanged.emit()

    def set_params(self, params: DecisionParams) -> None:
        """Move the operating point: re-decide (no model call). Which slices flipped since a
        move began is the decision panel's bookkeeping (`DecisionPanel.flipsChanged`)."""
        self.params = params
        if self.analysis is None:
            return
        self.analysis = self.analysis.redecide(params)
        self.decisionChanged.emit()

    def kept_mask(self) -> np.ndarray | None:
        """The selector's kept slices once the series is in (the analysis uses the same)."""
        return self.selection.kept if self.selection is not None else None

    def positives(self) -> np.ndarray:
        """Indices of positive slices at the current operating point (empty before analysis)."""
        if self.analysis is None:
            return np.zeros(0, int)
        return np.flatnonzero(self.analysis.decision.positive)
