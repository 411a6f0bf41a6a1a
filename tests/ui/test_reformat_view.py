"""The reformat views: a coronal/sagittal plane of the open axial series at its true aspect, in
the current window, with the slice line, discarded slices shaded and clicks that pick a slice;
nothing for a single slice or a non-axial series."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from lunglens.core.decision import DecisionParams, decide
from lunglens.core.reformat import runs
from lunglens.core.selector import Selection, SelectorParams
from lunglens.core.windowing import PRESETS, to_grey
from lunglens.io.series import Series, SeriesMetadata, SeriesRef
from lunglens.ui.reformat_view import ReformatView
from lunglens.ui.state import ViewerState
from lunglens.ui.view_markers import NO_SCALE_TEXT

N, ROWS, COLUMNS = 12, 40, 50
KEPT = np.array([False, False, True, True, True, True, True, True, False, True, False, False])


def open_series(
    state: ViewerState, n: int = N, orientation: str = "axial", stated: bool = True, positions_mm=None
) -> Series:
    """Put a hand-made series (slice spacing 2.5 mm, pixels 0.5 x 0.8 mm) into `state`; not
    `stated`: its files state neither pixel size (1 mm assumed) nor orientation, as a TIFF folder."""
    hu = (np.arange(n)[:, None, None] * 100 + np.arange(ROWS)[None, :, None] - 1000).repeat(COLUMNS, axis=2)
    ref = SeriesRef(
        key="reformat-test",
        source_format="dicom",
        frames=tuple((Path(f"/nowhere/{i}.dcm"), None) for i in range(n)),
        modality="CT",
        orientation=orientation,
        rows=ROWS,
        columns=COLUMNS,
        pixel_spacing_mm=(0.5, 0.8),
        slice_thickness_mm=2.5,
        description="hand-made",
    )
    series = Series(
        ref=ref,
        hu=hu.astype(np.int16),
        positions_mm=-2.5 * np.arange(n) if positions_mm is None else np.asarray(positions_mm, float),
        pixel_spacing_mm=(0.5, 0.8) if stated else (1.0, 1.0),
        slice_spacing_mm=2.5,
        metadata=SeriesMetadata(),
        source_paths=tuple(p for p, _ in ref.frames),
        orientation_cosines=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0) if stated else None,
        pixel_spacing_stated=stated,
    )
    kept = KEPT[:n] if n == N else np.ones(n, bool)
    state.set_ref(ref)
    state.set_series(series, Selection(np.zeros(n), 0.0, kept, SelectorParams()))
    return series


@pytest.fixture
def state():
    return ViewerState()


@pytest.mark.parametrize(
    ("axis", "aspect", "width"), [("coronal", 2.5 / 0.8, COLUMNS), ("sagittal", 2.5 / 0.5, ROWS)]
)
def test_plane_in_true_aspect_and_current_window(qtbot, state, axis, aspect, width):
    view = ReformatView(axis, state)
    qtbot.addWidget(view)
    series = open_series(state)
    assert view.available() and view.aspect == pytest.approx(aspect)
    assert view.image.image.shape == (N, width)
    assert view.image.transform().m22() == pytest.approx(aspect)
    middle = view.plane_index
    expected = series.hu[:, middle, :] if axis == "coronal" else series.hu[:, :, middle]
    assert np.array_equal(view.image.image, to_grey(expected, state.window))
    state.set_window(PRESETS[2])
    assert np.array_equal(view.image.image, to_grey(expected, PRESETS[2]))
    view.set_plane_index(3)
    expected = series.hu[:, 3, :] if axis == "coronal" else series.hu[:, :, 3]
    assert np.array_equal(view.image.image, to_grey(expected, PRESETS[2]))
    letters = {side: label.text() for side, label in view.markers.edges.items()}
    assert (letters["top"], letters["bottom"]) == ("S", "I")
    assert (letters["left"], letters["right"]) == (("R", "L") if axis == "coronal" else ("A", "P"))


@pytest.mark.parametrize("axis", ["coronal", "sagittal"])
def test_no_letters_nor_scale_bar_from_an_assumed_orientation_and_pixel_size(qtbot, state, axis):
    """A TIFF folder: the axial view hid its letters, the reformats still wrote R/L/S/I/A/P, and
    both drew a mm scale bar from the 1 mm pixel assumed."""
    view = ReformatView(axis, state)
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    open_series(state, stated=False)
    assert not any(label.isVisible() for label in view.markers.edges.values())
    assert not view.markers.bar.isVisible()
    assert view.markers.bar_label.isVisible() and view.markers.bar_label.text() == NO_SCALE_TEXT
    open_series(state)
    assert view.markers.edges["top"].isVisible() and view.markers.bar.isVisible()
    assert view.markers.bar_label.text().endswith(" mm")


def test_a_gap_in_the_slice_positions_is_marked_where_the_slices_are_stacked_evenly(qtbot, state):
    """Slices 5-8 removed: the reformat stacked slices 4 and 5 side by side at 2.5 mm with no
    mark of the 12.5 mm between them."""
    view = ReformatView("sagittal", state)
    qtbot.addWidget(view)
    positions = -2.5 * np.array([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15])
    open_series(state, positions_mm=positions)
    (line,) = view.gap_lines
    assert line.value() == pytest.approx(4 * view.aspect)  # between rows 3 and 4
    assert line.label.toPlainText() == "gap: slices 4 and 5 are 12.5 mm apart"
    open_series(state)
    assert not view.gap_lines


def test_slice_line_and_discarded_bands(qtbot, state):
    view = ReformatView("coronal", state)
    qtbot.addWidget(view)
    open_series(state)
    state.set_index(4)
    assert view.slice_line.value() == pytest.approx(4.5 * view.aspect)
    spans = [tuple(round(v / view.aspect) for v in band.getRegion()) for band in view.bands]
    assert spans == [(first, last + 1) for first, last in runs(~KEPT)]


def test_click_picks_the_slice_and_the_crossing_plane(qtbot, state):
    view = ReformatView("coronal", state)
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    open_series(state)
    scene = view.image.mapToScene(QPointF(17.5, 6.5))  # column 17 of slice 6
    slices, crossings = [], []
    view.sliceClicked.connect(slices.append)
    view.crossPicked.connect(crossings.append)
    with qtbot.waitSignal(view.crossPicked):
        qtbot.mouseClick(
            view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view.graphics.mapFromScene(scene)
        )
    assert view.position_at(scene) == (6, 17)
    assert (slices, crossings) == ([6], [17])


@pytest.mark.parametrize(("n", "orientation"), [(1, "axial"), (5, "coronal")])
def test_no_reformat_of_a_single_slice_or_a_non_axial_series(qtbot, state, n, orientation):
    view = ReformatView("sagittal", state)
    qtbot.addWidget(view)
    open_series(state, n=n, orientation=orientation)
    assert not view.available() and view.image.image is None and not view.bands
    assert "No sagittal reformat" in view.note.text()
    assert not view.slice_line.isVisible()


def test_unknown_axis_is_refused(state):
    with pytest.raises(ValueError, match="coronal or sagittal"):
        ReformatView("axial", state)


def test_series_change_resets_the_plane(qtbot, state):
    view = ReformatView("coronal", state)
    qtbot.addWidget(view)
    series = open_series(state)
    view.set_plane_index(2)
    state.set_ref(replace(series.ref, key="other"))
    assert view.plane_index is None and view.image.image is None


class StandInAnalysis:
    """What the reformat view reads of an Analysis: P(COVID), CAMs, kept and the decision."""

    def __init__(self, p_covid: np.ndarray, cams: np.ndarray, cutoff: float = 0.5):
        self.p_covid, self.cams, self.kept = p_covid, cams, ~np.isnan(p_covid)
        self.decision = decide(p_covid, self.kept, DecisionParams(slice_cutoff=cutoff))

    @property
    def classified(self) -> np.ndarray:
        return ~np.isnan(self.p_covid)

    def redecide(self, params: DecisionParams) -> StandInAnalysis:
        return StandInAnalysis(self.p_covid, self.cams, params.slice_cutoff)


@pytest.mark.parametrize("axis", ["coronal", "sagittal"])
def test_grad_cam_on_the_reformat_only_on_hot_slices_inside_the_body(qtbot, state, axis):
    view = ReformatView(axis, state)
    qtbot.addWidget(view)
    series = open_series(state)
    series.hu[:] = -1000
    series.hu[:, 5:35, 5:45] = 40  # the "body" in every slice
    p = np.full(N, np.nan)
    p[2:8] = 0.1
    p[4] = 0.9
    cams = np.ones((N, 4, 4), np.float16)
    state.set_analysis(StandInAnalysis(p, cams))
    assert view.overlay_shown
    shown = view.image.image
    grey = to_grey(
        series.hu[:, view.plane_index, :] if axis == "coronal" else series.hu[:, :, view.plane_index],
        state.window,
    )
    coloured = (shown != grey[..., None]).any(axis=-1)
    assert coloured[4].any() and not coloured[np.arange(N) != 4].any()
    assert not coloured[4, :5].any() and coloured[4, 10]  # nothing outside the body
    state.set_overlay(visible=False)
    assert not view.overlay_shown and view.image.image.ndim == 2
    state.set_overlay(visible=True)
    state.set_params(DecisionParams(slice_cutoff=0.95))  # no slice hot enough any more
    assert not view.overlay_shown
