"""Issue 15 wired into the main window: the HU readout follows slice, series and window; the
Grad-CAM stays inside the body, follows P(COVID) and hides below the cut-off; the strip marks
what flipped since the drag began; plain-words selector banner and none for single slices;
analyses survive switching series; measurements, reformats, help and the empty screen."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from lunglens.core.decision import flips_since
from lunglens.core.windowing import PRESETS
from lunglens.ui.controller import session_key

PIXEL = (300, 256)  # (row, column): inside the body on P001 and normal001


def _point_at(window, row: int, column: int) -> None:
    """Put the (simulated) mouse over image pixel (row, column)."""
    view = window.view
    view._mouse_moved(view.image.mapToScene(QPointF(column + 0.5, row + 0.5)))


def _hu_text(window) -> str:
    hu = window.state.slice_hu(window.state.index)
    return f"HU {int(hu[PIXEL])} "


def _analyse(qtbot, window):
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    return window.state.analysis


def test_hu_readout_follows_slice_window_and_series(qtbot, p001_window, covid_ct_md):
    window, state = p001_window, p001_window.state
    _point_at(window, *PIXEL)
    assert window.view.hu_readout().startswith(_hu_text(window))
    for step in (1, 7, -3):
        before = window.view.hu_readout()
        window.controller.step(step)  # a wheel or key step: the mouse does not move
        assert window.view.hu_readout().startswith(_hu_text(window))
    assert before  # the readout stayed on screen throughout
    state.set_window(PRESETS[1])
    assert window.view.hu_readout().startswith(_hu_text(window))
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(covid_ct_md / "normal001")
    assert window.view.hu_readout().startswith(_hu_text(window))
    window.view.eventFilter(window.view.graphics.viewport(), _leave_event())
    assert window.view.hu_readout() == ""


def _leave_event():
    from PySide6.QtCore import QEvent

    return QEvent(QEvent.Type.Leave)


def _forged(analysis, hot: int, cold: int):
    """The analysis with a strong, everywhere-on Grad-CAM (a ramp, left to right, over the CT
    table too) on a hot slice (P 0.95) and a cold one (P 0.1)."""
    p, cams = analysis.p_covid.copy(), analysis.cams.copy()
    ramp = np.tile(np.linspace(0.2, 1.0, cams.shape[2], dtype=np.float32), (cams.shape[1], 1))
    cams[hot] = cams[cold] = ramp
    p[hot], p[cold] = 0.95, 0.1
    return replace(analysis, p_covid=p, cams=cams)


def _changed(window, index: int) -> np.ndarray:
    """bool (y, x): pixels of slice `index` the overlay changed against the plain grey frame."""
    state = window.state
    window.state.set_index(index)
    shown = window.view.image.image
    grey = window.cache.frame(index, state.slice_hu(index), state.window)
    return np.any(shown[..., :3] != grey[..., :3], axis=-1)


def test_gradcam_inside_the_body_following_p_covid_and_hidden_when_cold(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    analysis = _analyse(qtbot, window)
    kept = np.flatnonzero(analysis.selection.kept)
    hot, cold = int(kept[len(kept) // 2]), int(kept[len(kept) // 2 + 1])
    state.set_analysis(_forged(analysis, hot, cold))
    window.quant_panel.lesions.setChecked(False)  # the Grad-CAM alone (no quantification outlines)
    panel = window.analysis_panel
    assert panel.hide_cold.isChecked()  # the default: a cold slice never looks hot

    hot_changed = _changed(window, hot)
    assert window.view.overlay_shown and hot_changed.mean() > 0.05
    assert not hot_changed[:20, :].any() and not hot_changed[-20:, :].any()  # air, table: outside the body

    assert not _changed(window, cold).any() and not window.view.overlay_shown
    panel.hide_cold.setChecked(False)
    assert window.settings.value("overlay_hide_below_cutoff", type=bool) is False
    state.set_index(hot)
    hot_strength = np.abs(
        window.view.image.image.astype(int) - window.cache.frame(hot, state.slice_hu(hot), state.window)
    ).sum()
    state.set_index(cold)
    cold_strength = np.abs(
        window.view.image.image.astype(int) - window.cache.frame(cold, state.slice_hu(cold), state.window)
    ).sum()
    assert 0 < cold_strength < hot_strength / 3  # drawn as strongly as P(COVID): 0.1 against 0.95

    panel.outline.setChecked(True)  # isolines: the tissue under the map stays visible
    outlined = _changed(window, hot)
    assert 0 < outlined.sum() < hot_changed.sum() / 3
    assert window.coronal.style.outline and window.sagittal.style.outline
    assert window.settings.value("overlay_outline", type=bool) is True


def test_strip_marks_what_flipped_since_the_drag_began(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    _analyse(qtbot, window)
    assert not hasattr(state, "flips")  # one bookkeeping: the decision panel's
    panel = window.decision_panel
    panel.cutoff.setValue(0)
    start = state.analysis.decision
    panel.cutoff.setSliderDown(True)  # the drag begins
    for value in range(1, 101, 3):
        before_last = state.analysis.decision
        panel.cutoff.setValue(value)
    last_step = flips_since(before_last, state.analysis.decision)
    since_start = flips_since(start, state.analysis.decision)
    panel.cutoff.setSliderDown(False)
    assert since_start.now_negative and window.strip.flips == since_start == panel.flip_list
    assert len(since_start.now_negative) > len(last_step.now_negative)


def test_selector_banner_in_plain_words_with_numbers_in_the_tooltip(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    discarded = int(np.flatnonzero(~state.kept_mask())[0])
    state.set_index(discarded)
    assert (
        window.view.banner.text()
        == "Discarded by the lung-open selector (fewer dark pixels than the series' threshold): not in the decision"
    )
    assert "threshold" in window.view.banner.toolTip() and "dark" in window.view.banner.toolTip()


@pytest.mark.parametrize("plane", ["coronal", "sagittal", "axial"])
def test_single_slices_get_no_selector(qtbot, window, shared_data, plane):
    folder = shared_data / "covid19-ny-sbu" / "A002304" / plane
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)
    state = window.state
    assert state.selection is None and state.kept_mask() is None
    assert not window.view.banner.isVisibleTo(window.view)
    assert "kept" not in window.strip.describe(0)
    assert "no slice selection" in window.strip.describe(0)
    assert not window.coronal.available()


def test_analyses_come_back_with_their_series(qtbot, p001_window, covid_ct_md):
    window, control = p001_window, p001_window.controller
    analysis = _analyse(qtbot, window)
    key = session_key(window.state.ref)
    with qtbot.waitSignal(control.seriesLoaded, timeout=60000):
        control.open_folder(covid_ct_md / "normal001")
    assert window.state.analysis is None
    with qtbot.waitSignal(control.analysisRestored, timeout=60000) as restored:
        control.open_folder(covid_ct_md / "P001")
    assert restored.args == [False]
    assert np.array_equal(window.state.analysis.p_covid, analysis.p_covid, equal_nan=True)
    assert "earlier in this session" in window.analysis_panel.message.text()
    assert window.analysis_panel.run_button.isEnabled()

    control.results[key] = replace(analysis, model=replace(analysis.model, version="0.0-older"))
    with qtbot.waitSignal(control.analysisRestored, timeout=60000) as restored:
        control.open_folder(covid_ct_md / "P001")
    assert restored.args == [True]
    assert "Run the analysis again" in window.analysis_panel.message.text()


def test_measurements_listed_per_slice_deletable_and_kept_with_their_series(
    qtbot, p001_window, covid_ct_md, tmp_path
):
    from tests.pdf_text import pdf_file_text

    window, state = p001_window, p001_window.state
    here = state.index
    window.add_measurement("ellipse")
    window.add_measurement("distance")
    layer = window.measurements
    assert [m.kind for m in layer.items] == ["ellipse", "distance"]
    ellipse = layer.items[0]
    assert ellipse.stats is not None and ellipse.stats.area_mm2 > 0
    assert window.measurement_list.list.count() == 2
    state.set_index(here + 5)
    assert not ellipse.roi.isVisible()
    state.set_index(here)
    assert ellipse.roi.isVisible()
    _analyse(qtbot, window)
    with_notes, without = tmp_path / "with.pdf", tmp_path / "without.pdf"
    window.controller.export_report(with_notes, layer.records())
    window.measurements_report_action.trigger()  # the reader leaves them out
    window.controller.export_report(without, layer.records())
    result = ellipse.stats.text().split(" (")[0]  # "mean -339 ± 421 HU"
    assert result in " ".join(pdf_file_text(with_notes).split())
    assert result not in " ".join(pdf_file_text(without).split())
    window.measurement_list.list.item(0).setSelected(True)
    window.measurement_list.delete_selected()
    assert [m.kind for m in layer.items] == ["distance"]
    distance = layer.items[0]
    distance.roi.movePoint(distance.roi.getHandles()[1], (300.0, 300.0))  # dragged after it was made
    length, result, points = distance.length_mm, distance.result, layer._points(distance.roi)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(covid_ct_md / "normal001")
    assert not layer.items and window.measurement_list.list.count() == 0  # the other series has none
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(covid_ct_md / "P001")  # back: its measurement is there, as left
    assert [(m.kind, m.slice_index, m.result) for m in layer.items] == [("distance", here, result)]
    assert layer.items[0].length_mm == pytest.approx(length) and window.measurement_list.list.count() == 1
    assert np.allclose(layer._points(layer.items[0].roi), points)  # where it was left
    state.set_index(here)
    assert layer.items[0].roi.isVisible()
    assert layer.records()[0].result == result


def test_measurements_of_a_series_whose_files_changed_are_dropped_and_said_so(qtbot, window, tmp_path):
    """Measurements come back only onto the images they were made on: a slice file removed
    meanwhile drops them (their slice may be gone), with a message."""
    from tests.dicomout.unusable import phantom_slices

    files = phantom_slices(tmp_path / "a")
    phantom_slices(tmp_path / "b")
    control, layer = window.controller, window.measurements
    with qtbot.waitSignal(control.seriesLoaded, timeout=60000):
        control.open_folder(tmp_path / "a")
    window.add_measurement("distance")
    with qtbot.waitSignal(control.seriesLoaded, timeout=60000):
        control.open_folder(tmp_path / "b")
    files[-1].unlink()
    with qtbot.waitSignal(control.seriesLoaded, timeout=60000):
        control.open_folder(tmp_path / "a")
    assert not layer.items
    assert "1 measurement(s) made earlier on this series were dropped" in window.statusBar().currentMessage()


def test_reformats_beside_the_axial_view_with_linked_lines(qtbot, p001_window):
    window = p001_window
    assert window.reformat_action.isChecked() and window.coronal.isVisibleTo(window)
    assert window.coronal.available() and window.sagittal.available()
    window.coronal.crossPicked.emit(100)  # a click at column 100 of the coronal view
    assert window.sagittal.plane_index == 100 and window.cross_lines[1].value() == 100.5
    window.sagittal.crossPicked.emit(200)
    assert window.coronal.plane_index == 200 and window.cross_lines[0].value() == 200.5
    window.move_plane("sagittal", 8)  # Alt+Right: the key for the click
    assert window.sagittal.plane_index == 108 and window.coronal.cross == 108
    window.move_plane("coronal", -8)  # Alt+Up
    assert window.coronal.plane_index == 192 and window.cross_lines[0].value() == 192.5
    window.coronal.sliceClicked.emit(12)
    assert window.state.index == 12
    window.reformat_action.trigger()
    assert not window.coronal.isVisibleTo(window) and not window.cross_lines[0].isVisible()
    assert window.settings.value("reformats", type=bool) is False
    assert window.markers.edges["left"].text() == "R" and window.markers.bar.isVisibleTo(window.view.graphics)


def test_empty_window_says_what_to_do_and_run_says_nothing_is_open(qtbot, window):
    assert window.view.hint.isVisibleTo(window.view)
    assert "Open a folder" in window.view.hint.text() and "demo" in window.view.hint.text()
    with qtbot.waitSignal(window.messageShown) as shown:
        window.run_action.trigger()
    assert "No series is open" in shown.args[0]
    window.message_box.close()
    window.show_keys()
    text = window.help_text.toPlainText()
    assert "Ctrl+R" in text and "Right drag" in text
    # the whole dialog, its Close button included, fits the screen (the table itself scrolls)
    assert window.help_dialog.height() <= window.screen().availableGeometry().height()
    window.help_dialog.close()
    assert window.file_window_action.iconText() == "File window"


def test_side_panels_keep_their_width_and_the_image_takes_the_space(qtbot, p001_window):
    window = p001_window
    docks = [window.series_dock, window.side_dock]
    widths = [d.width() for d in docks]
    window.resize(1600, 1000)
    qtbot.wait(50)
    wide = window.view.width()
    window.resize(1100, 700)
    qtbot.wait(50)
    assert [d.width() for d in docks] == widths
    assert window.view.width() > 200  # the reformats stepped aside for the axial view
    assert not window.coronal.isVisibleTo(window) and window.reformat_action.isChecked()
    window.resize(1600, 1000)
    qtbot.wait(50)
    assert window.coronal.isVisibleTo(window) and window.view.width() == wide
    panel = window.decision_panel
    panel.cutoff.setValue(37)
    panel.fraction.setValue(3)
    assert [d.width() for d in docks] == widths


class _Drag:
    """The parts of a pyqtgraph mouse drag event the slice view reads."""

    def __init__(self, button, start, last, now):
        self._button, self._start, self._last, self._now = button, start, last, now

    def button(self):
        return self._button

    def buttonDownPos(self):
        return self._start

    def lastScreenPos(self):
        return self._last

    def screenPos(self):
        return self._now

    def accept(self):
        pass


def test_a_100_pixel_right_drag_zooms_2x(qtbot, p001_window):
    from PySide6.QtCore import Qt

    box = p001_window.view.box
    width = box.viewRange()[0][1] - box.viewRange()[0][0]
    start = QPointF(300, 300)
    for step in range(10):  # 100 px upwards in 10 moves
        last, now = QPointF(300, 300 - 10 * step), QPointF(300, 300 - 10 * (step + 1))
        box.mouseDragEvent(_Drag(Qt.MouseButton.RightButton, start, last, now))
    zoomed = box.viewRange()[0][1] - box.viewRange()[0][0]
    assert width / zoomed == pytest.approx(2.0, rel=0.02)
    p001_window.view.zoom(1.25)  # the + key
    assert width / (box.viewRange()[0][1] - box.viewRange()[0][0]) == pytest.approx(2.5, rel=0.02)


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_zoom_stops_before_the_image_vanishes_or_blurs(qtbot, p001_window, factor):
    from lunglens.ui.image_view import ZOOM_LIMITS

    box = p001_window.view.box
    for _ in range(20):
        p001_window.view.zoom(factor)
    magnification = 512 / np.ptp(box.viewRange()[0])
    assert magnification == pytest.approx(ZOOM_LIMITS[factor > 1], rel=0.01)
    back = 0.5 if factor > 1 else 2.0
    p001_window.view.zoom(back)  # from the limit the other way: it turns
    assert 512 / np.ptp(box.viewRange()[0]) == pytest.approx(ZOOM_LIMITS[factor > 1] * back, rel=0.01)


def test_zoom_out_never_magnifies_a_view_already_past_its_limit(qtbot, p001_window):
    """A wide, short view shows the whole slice at under a quarter of its width: "-" leaves it."""
    from lunglens.ui.image_view import ZOOM_LIMITS

    box = p001_window.view.box
    box.setRange(xRange=(-2000, 2512), padding=0)  # the slice at about a ninth of the view
    before = 512 / np.ptp(box.viewRange()[0])
    assert before < ZOOM_LIMITS[0]
    p001_window.view.zoom(0.8)
    assert 512 / np.ptp(box.viewRange()[0]) == pytest.approx(before)
