"""The viewer's real workflows on P001 with the tiny model (offscreen)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from lunglens import RESEARCH_ONLY
from lunglens.core.decision import DecisionParams
from lunglens.core.windowing import PRESETS
from lunglens.inference import SharedModel, load_model


def test_open_p001_shows_middle_slice_then_loads(qtbot, window, covid_ct_md):
    with qtbot.waitSignal(window.controller.firstSliceShown, timeout=30000):
        window.controller.open_folder(covid_ct_md / "P001")
    assert window.state.index == 148 // 2
    assert window.view.image.image is not None
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        pass
    assert window.state.series.hu.shape == (148, 512, 512)
    assert len(window.browser.series_items()) == 1
    assert window.slider.isEnabled()
    assert str(covid_ct_md / "P001") in window.controller.recent_folders()


def test_a_folder_the_session_removes_at_its_end_is_not_remembered_as_recent(qtbot, window):
    """The demo patient and studies retrieved from a PACS live in folders removed when the viewer
    closes: Open recent would offer them after they are gone."""
    import shutil

    from lunglens.ui.session_folders import make_session_folder
    from tests.dicomout.unusable import phantom_slices

    folder = make_session_folder("lunglens-pacs-")
    try:
        phantom_slices(folder / "study")
        with qtbot.waitSignal(window.controller.firstSliceShown, timeout=30000):
            window.controller.open_folder(folder / "study")
        assert not any(f.startswith(str(folder)) for f in window.controller.recent_folders())
    finally:
        shutil.rmtree(folder)


def test_open_recent_keeps_absolute_folders_only(qtbot, window, tmp_path, monkeypatch):
    """A folder opened by a relative path is remembered absolute; a relative one an earlier
    version kept is not offered (it opens another folder, or none, from another working folder)."""
    from tests.dicomout.unusable import phantom_slices

    phantom_slices(tmp_path / "patient")
    window.settings.setValue("recent_folders", ["older/relative", "/an/absolute/one"])
    monkeypatch.chdir(tmp_path)
    with qtbot.waitSignal(window.controller.firstSliceShown, timeout=30000):
        window.controller.open_folder("patient")
    assert window.controller.recent_folders() == [str(tmp_path.resolve() / "patient"), "/an/absolute/one"]
    assert [a.text() for a in window.recent_menu.actions()] == window.controller.recent_folders()


def test_closing_the_viewer_removes_the_demo_and_pacs_folders_of_the_session(qtbot, window):
    """Every folder the session made (the demo patient, each retrieved study) goes when the window
    closes, files and all, whichever part of the viewer made it."""
    from lunglens.ui.session_folders import made_for_this_session, make_session_folder

    made = [make_session_folder(prefix) for prefix in ("lunglens-demo-", "lunglens-pacs-")]
    for folder in made:
        (folder / "study").mkdir()
        (folder / "study" / "slice.dcm").write_bytes(b"not read")
    window.close()
    assert not any(folder.exists() for folder in made)
    assert all(made_for_this_session(folder / "study") for folder in made)


def test_scroll_with_keys_wheel_slider_and_strip(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    window.activateWindow()
    start = state.index
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert state.index == start + 1
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert state.index == start - 9
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert state.index == 0
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert state.index == 147
    window.view.sliceSteps.emit(-3)
    assert state.index == 144
    window.slider.setValue(10)
    assert state.index == 10
    window.strip.sliceClicked.emit(20)
    assert state.index == 20 and window.slider.value() == 20
    assert window.view.bottom_left.text().startswith("Slice 21 / 148")
    assert "mm" in window.view.bottom_left.text()


def test_window_presets_and_drag(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    window.preset_actions[1].trigger()
    assert (state.window.width, state.window.level) == (400, 40)
    grey = window.view.image.image[..., 0]
    expected = np.clip((state.series.hu[state.index].astype(float) + 160) * 255 / 400, 0, 255).astype(
        np.uint8
    )
    assert np.abs(grey.astype(int) - expected).max() <= 1
    window.view.windowDrag.emit(10.0, -5.0)
    assert (state.window.width, state.window.level) == (440, 30)
    assert "W 440 / L 30" in window.view.top_right.text()
    window.reset_view()
    assert state.window == PRESETS[0]


def test_selector_shown_on_strip_and_image(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    kept = state.kept_mask()
    assert kept is not None and 0 < kept.sum() < len(kept)
    discarded = int(np.flatnonzero(~kept)[0])
    state.set_index(discarded)
    assert window.view.banner.isVisibleTo(window.view)
    assert window.view.banner.text().startswith("Discarded by the lung-open selector")
    assert "discarded" in window.strip.describe(discarded)
    assert "threshold" in window.strip.describe(discarded)
    state.set_index(int(np.flatnonzero(kept)[0]))
    assert not window.view.banner.isVisibleTo(window.view)


def _analyse(qtbot, window):
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    return window.state.analysis


def test_analysis_overlay_and_threshold(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    analysis = _analyse(qtbot, window)
    assert analysis.selection is state.selection  # the selection made at load, not a second one
    assert analysis.classified.sum() == analysis.selection.kept.sum()
    assert "tiny" in window.model_label.text()
    kept_index = int(np.flatnonzero(analysis.selection.kept)[0])
    # the tiny model's P(COVID) is near 0, which draws no map (test_wiring): make this slice hot
    p_covid = analysis.p_covid.copy()
    p_covid[kept_index] = 0.9
    state.set_analysis(replace(analysis, p_covid=p_covid))
    window.quant_panel.lesions.setChecked(False)  # the Grad-CAM alone (no quantification outlines)
    state.set_index(kept_index)
    assert window.view.overlay_shown
    with_overlay = window.view.image.image.copy()
    window.overlay_action.trigger()
    assert not state.overlay_visible and not window.view.overlay_shown
    plain = window.view.image.image
    assert (plain[..., 0] == plain[..., 2]).all() and not np.array_equal(plain, with_overlay)
    window.overlay_action.trigger()
    assert window.view.overlay_shown
    window.analysis_panel.opacity.setValue(20)
    assert state.overlay_opacity == 0.2
    faint = window.view.image.image
    assert np.abs(faint.astype(int) - plain).sum() < np.abs(with_overlay.astype(int) - plain).sum()
    assert "P(COVID)" in window.strip.describe(kept_index)

    # Move the operating point both ways until the verdict changes.
    panel = window.decision_panel
    verdicts = set()
    for cutoff in (0, 99):
        panel.cutoff.setValue(cutoff)
        verdicts.add(state.analysis.decision.verdict)
        assert panel.verdict.text() == state.analysis.decision.verdict
        # at a cut-off of 0 every kept slice is positive: the caveat says the images no longer count
        assert ("whatever the images show" in panel.caveat.text()) == (cutoff == 0)
    assert verdicts == {"COVID-19", "normal"}
    assert "now" in panel.flips.text()
    panel.fraction.setValue(0)
    assert "at least one slice" in panel.fraction_label.text()
    assert state.analysis.decision.params == DecisionParams(slice_cutoff=0.99, patient_fraction=0.0)


def test_next_positive_jumps(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    _analyse(qtbot, window)
    window.decision_panel.cutoff.setValue(0)
    positives = state.positives()
    assert positives.size
    state.set_index(0)
    window.controller.next_positive()
    assert state.index == positives[0]


def test_cancel_running_analysis(qtbot, p001_window):
    window, control = p001_window, p001_window.controller
    real, gate, batches = control.model, threading.Event(), []

    class HeldModel:
        """The tiny model, one slice a batch, each batch held until the test opens the gate:
        the analysis is surely running when Cancel is clicked."""

        card, provider, batch_size = real.card, real.provider, 1

        def run(self, image):
            batches.append(len(image))
            gate.wait(30)
            return real.run(image)

    control.models = SharedModel(HeldModel)
    control.run_analysis()
    assert control.jobs["analysis"].running and window.analysis_panel.cancel_button.isEnabled()
    with qtbot.waitSignal(control.analysisCancelled, timeout=30000):
        window.analysis_panel.cancel_button.click()
        gate.set()
    assert len(batches) <= 1  # stopped at the first check after the click
    assert not control.jobs["analysis"].running
    assert window.state.analysis is None
    assert window.analysis_panel.message.text() == "Analysis cancelled."
    assert window.analysis_panel.run_button.isEnabled()


def test_cancel_during_the_quantification_shows_no_analysis(qtbot, p001_window):
    """Cancel once the classifier is done, while the lesion map runs: the result is dropped."""
    from lunglens.analysis.lesion_methods import LesionMethods
    from lunglens.quant.bands import ProbabilityMapMethod

    window, control = p001_window, p001_window.controller
    started, gate = threading.Event(), threading.Event()

    def held_probability(hu, lung_labels, voxel_mm, cancel=None):
        started.set()
        gate.wait(30)
        return np.zeros(hu.shape, np.float32)

    held = ProbabilityMapMethod(probability=held_probability, name="learned", description="held")
    control.lesion_methods = LesionMethods(lambda: held)
    control.set_lesion_method("learned")
    control.run_analysis()
    qtbot.waitUntil(started.is_set, timeout=60000)
    with qtbot.waitSignal(control.analysisCancelled, timeout=30000):
        window.cancel_action.trigger()
        gate.set()
    assert window.state.analysis is None
    assert window.analysis_panel.message.text() == "Analysis cancelled."
    assert not control.jobs["analysis"].running


def test_broken_folder_gives_a_message(qtbot, window, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "slice1.dcm").write_bytes(b"not a dicom file at all")
    with qtbot.waitSignal(window.messageShown, timeout=30000) as blocker:
        window.controller.open_folder(broken)
    assert "no readable CT images" in blocker.args[0]
    with qtbot.waitSignal(window.messageShown, timeout=30000) as blocker:
        window.controller.open_folder(tmp_path / "missing")
    assert "no such folder" in blocker.args[0]
    assert window.message_box is not None
    window.message_box.close()


def test_a_failed_open_leaves_a_blank_view(qtbot, p001_window, tmp_path):
    """After an analysis, opening a folder with nothing to show (or an MR series that cannot load)
    keeps no old status, scale bar or "(loading…)" on the blank view."""
    from tests.factory import write_series

    window = p001_window
    _analyse(qtbot, window)
    assert window.markers.bar.isVisibleTo(window) and window.analysis_panel.message.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hello")
    with qtbot.waitSignal(window.messageShown, timeout=30000):
        window.controller.open_folder(empty)
    window.message_box.close()
    assert window.analysis_panel.message.text() == ""
    assert not window.statusBar().currentMessage().startswith("Reading")  # the problem, if anything
    assert not window.markers.bar.isVisibleTo(window) and not window.view.top_left.isVisibleTo(window)
    write_series(tmp_path / "mr", np.zeros((3, 16, 16), np.int16), [0.0, 2.0, 4.0], modality="MR")
    with qtbot.waitSignal(window.messageShown, timeout=30000) as shown:
        window.controller.open_folder(tmp_path / "mr")
    window.message_box.close()
    assert "MR" in shown.args[0]
    assert "loading" not in window.view.top_left.text() and not window.view.top_left.isVisibleTo(window)
    assert not window.markers.bar.isVisibleTo(window) and not window.slider.isEnabled()


def test_missing_model_gives_a_clear_message(qtbot, tmp_path, covid_ct_md):
    from PySide6.QtCore import QSettings

    from lunglens.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, model_path=tmp_path / "absent.json", provider="cpu")
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(window.controller.model_problem), timeout=20000)
    assert "Model: none" in window.model_label.text()
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(covid_ct_md / "P001")
    with qtbot.waitSignal(window.messageShown, timeout=5000) as blocker:
        window.controller.run_analysis()
    assert "No model could be loaded" in blocker.args[0] and "--model" in blocker.args[0]
    window.message_box.close()


def test_settings_remembered_between_runs(qtbot, p001_window, tiny_model_card, covid_ct_md):
    from lunglens.ui.main_window import MainWindow

    p001_window.preset_actions[2].trigger()
    p001_window.analysis_panel.opacity.setValue(35)
    p001_window.close()
    again = MainWindow(settings=p001_window.settings, model_path=tiny_model_card, provider="cpu")
    qtbot.addWidget(again)
    assert again.state.window.name == "Bone"
    assert again.state.overlay_opacity == 0.35
    assert again.controller.recent_folders()[0] == str(covid_ct_md / "P001")
    assert again.recent_menu.actions()[0].text() == str(covid_ct_md / "P001")


def test_about_and_dicom_tags(qtbot, p001_window):
    from lunglens.ui.dialogs import TagDialog, about_html

    text = about_html(p001_window.controller.model.card, p001_window.controller.model.provider.describe())
    assert "tiny" in text and "tests only" in text and RESEARCH_ONLY.capitalize() in text
    dialog = TagDialog(p001_window.state.series.source_paths[p001_window.state.index], p001_window)
    qtbot.addWidget(dialog)
    assert "Image Position (Patient)" in dialog.text.toPlainText()
    assert "Pixel Data" not in dialog.text.toPlainText()
    dialog.filter.setText("kernel")
    assert all("kernel" in line.lower() for line in dialog.text.toPlainText().splitlines())


def test_export_is_enabled_while_an_analysis_is_shown(qtbot, p001_window, covid_ct_md):
    assert not p001_window.export_action.isEnabled()
    _analyse(qtbot, p001_window)
    assert p001_window.export_action.isEnabled()
    with qtbot.waitSignal(p001_window.controller.seriesLoaded, timeout=60000):
        p001_window.controller.open_folder(covid_ct_md / "normal001")
    assert not p001_window.export_action.isEnabled()


def test_browser_lists_every_series_and_says_why_not_analysable(qtbot, window, shared_data):
    folder = shared_data / "covid19-ny-sbu" / "A002304"
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)
    items = window.browser.series_items()
    assert len(items) == 6
    texts = [item.text(0) for item in items]
    assert all("Not analysable" in text for text in texts)
    assert any("not axial (coronal)" in text for text in texts)
    qtbot.waitUntil(lambda: not items[0].icon(0).isNull(), timeout=30000)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.browser.setCurrentItem(items[1])
    assert window.state.ref.description == "CHEST CORONAL"
    assert not window.analysis_panel.run_button.isEnabled()
    assert "not axial" in window.analysis_panel.message.text()
    with qtbot.waitSignal(window.messageShown, timeout=5000) as blocker:
        window.controller.run_analysis()
    assert "not axial" in blocker.args[0]
    window.message_box.close()


def test_an_analysis_asked_for_during_the_model_load_waits_for_that_load(
    qtbot, tmp_path, tiny_model_card, covid_ct_md, monkeypatch
):
    """One ONNX session a session: Run before the start-up load has finished waits for it."""
    from PySide6.QtCore import QSettings

    from lunglens.ui import controller as controller_module
    from lunglens.ui.main_window import MainWindow

    release, loads = threading.Event(), []

    def held_load(path, provider):
        loads.append(path)
        release.wait(60)
        return load_model(path, provider)

    monkeypatch.setattr(controller_module, "load_model", held_load)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, model_path=tiny_model_card, provider="cpu")
    qtbot.addWidget(window)
    control = window.controller
    with qtbot.waitSignal(control.seriesLoaded, timeout=60000):
        control.open_folder(covid_ct_md / "P001")
    assert control.model is None and control.jobs["model"].running
    control.run_analysis()
    assert window.analysis_panel.message.text() == "Waiting for the model to load…"
    with qtbot.waitSignal(control.analysisDone, timeout=60000):
        release.set()
    assert loads == [tiny_model_card]
    assert control.model is not None and control.state.analysis.model.sha256 == control.model.card.sha256
    assert "tiny" in window.model_label.text()


def test_a_tiff_folder_shows_no_letters_scale_bar_or_mm_from_what_is_only_assumed(qtbot, window, tmp_path):
    """TIFF files state neither pixel size nor orientation: the axial view hid its letters but
    drew a 1 mm-per-pixel scale bar, the reformats showed R/L/S/I/A/P and a bar, and a ruler read
    "... mm"."""
    import tifffile

    from lunglens.ui.view_markers import NO_SCALE_TEXT

    folder = tmp_path / "tiff"
    folder.mkdir()
    for i in range(4):
        tifffile.imwrite(folder / f"IM{i + 1:05d}.tif", np.full((64, 64), 1024 + 40 * i, np.uint16))
    window.resize(1500, 900)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=30000):
        window.controller.open_folder(folder)
    for markers in (window.markers, window.coronal.markers, window.sagittal.markers):
        assert not any(label.text() for label in markers.edges.values())
        assert not markers.bar.isVisibleTo(window) and markers.bar_label.text() == NO_SCALE_TEXT
    window.add_measurement("distance")
    (ruler,) = window.measurements.items
    assert ruler.result.endswith("pixels (pixel size not stated)")


class _LeftDrag:
    """A left drag of 40 screen pixels to the right, as pyqtgraph hands it to a ViewBox."""

    def button(self):
        return Qt.MouseButton.LeftButton

    def screenPos(self):
        return QPointF(140, 100)

    def lastScreenPos(self):
        return QPointF(100, 100)

    def accept(self):
        pass


def test_the_reformats_follow_the_mouse_map_and_r_resets_them(qtbot, window, tmp_path):
    """The reformats zoomed on the wheel and panned on a left drag (a plain ViewBox), unlike the
    README's map, and R reset only the axial view: a reformat zoomed out of sight stayed so."""
    from tests.factory import write_series
    from tests.ui.test_decision_panel import _wheel

    volume = (np.arange(6)[:, None, None] * 50 + np.zeros((6, 64, 64))).astype(np.int16)
    write_series(tmp_path / "ct", volume, [0.0, -2.0, -4.0, -6.0, -8.0, -10.0])
    window.resize(1500, 900)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=30000):
        window.controller.open_folder(tmp_path / "ct")
    coronal = window.coronal
    qtbot.waitUntil(coronal.isVisible)
    whole, plane, level = coronal.box.viewRange(), coronal.plane_index, window.state.window
    assert _wheel(coronal.graphics.viewport(), -1)  # one notch down: the next plane, no zoom
    assert coronal.plane_index == plane + 1 and coronal.box.viewRange() == whole
    coronal.box.mouseDragEvent(_LeftDrag())  # a left drag windows, it does not pan
    assert window.state.window != level and coronal.box.viewRange() == whole
    coronal.box.zoom(1e-3)  # zoomed out until the image is a dot
    window.reset_view()
    assert np.allclose(coronal.box.viewRange(), whole)


def test_pixels_taller_than_wide_are_drawn_taller_than_wide(qtbot, window, tmp_path):
    """The axial view keeps the pixels' proportion, as the reformats and the report's key images
    do: rows 1.4 mm apart, columns 0.7 mm, and a square slice is drawn twice as tall as wide."""
    import pydicom

    from tests.factory import write_series

    paths = write_series(tmp_path / "ct", np.zeros((3, 64, 64), np.int16), [0.0, -2.0, -4.0])
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.PixelSpacing = [1.4, 0.7]
        dataset.save_as(path)
    window.resize(1500, 900)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=30000):
        window.controller.open_folder(tmp_path / "ct")
    qtbot.wait(200)
    image = window.view.image
    drawn = image.mapRectToScene(image.boundingRect())  # the slice on screen
    assert drawn.height() / drawn.width() == pytest.approx(2.0, rel=0.02)
    (x0, x1), _ = window.view.box.viewRange()
    assert window.markers.bar.width() == pytest.approx(
        window.markers.bar_mm * window.view.box.width() / ((x1 - x0) * 0.7), abs=1
    )  # the bar measures columns 0.7 mm apart still


def test_the_scale_bars_match_the_image_on_first_display(qtbot, window, tmp_path):
    """pyqtgraph's cached viewPixelSize was stale after the first layout: P001's coronal said
    100 mm over 76 px where 100 mm of the image was 85 px."""
    from tests.factory import write_series

    write_series(tmp_path / "ct", np.zeros((6, 64, 64), np.int16), [0.0, -2.0, -4.0, -6.0, -8.0, -10.0])
    window.resize(1500, 900)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=30000):
        window.controller.open_folder(tmp_path / "ct")
    qtbot.waitUntil(window.coronal.isVisible)
    qtbot.wait(300)
    for markers, box in ((window.markers, window.view.box), (window.coronal.markers, window.coronal.box)):
        (x0, x1), _ = box.viewRange()
        screen_px_per_mm = box.width() / ((x1 - x0) * 0.7)  # the factory's slices have 0.7 mm pixels
        assert markers.bar.isVisible()
        assert markers.bar.width() == pytest.approx(markers.bar_mm * screen_px_per_mm, abs=1)


def _overlapping(window) -> list[tuple[str, str]]:
    """The pairs of texts and marks drawn over the axial view that overlap, by name."""
    view, markers = window.view, window.markers
    drawn = {
        "top left": view.top_left,
        "top right": view.top_right,
        "bottom left": view.bottom_left,
        "bottom right": view.bottom_right,
        "banner": view.banner,
        **{f"letter {side}": label for side, label in markers.edges.items()},
        "scale bar": markers.bar,
        "scale text": markers.bar_label,
    }
    shown = [(name, widget) for name, widget in drawn.items() if widget.isVisibleTo(window)]
    return [
        (a, b)
        for i, (a, first) in enumerate(shown)
        for b, second in shown[i + 1 :]
        if {a, b} != {"scale bar", "scale text"} and first.geometry().intersects(second.geometry())
    ]


@pytest.mark.parametrize("kind", ["tiff", "dicom"])
def test_a_narrow_window_never_draws_one_text_over_another(qtbot, window, tmp_path, kind):
    """At 900 x 600 (the window's smallest width) the axial view is about 215 px wide: the note
    "no scale: pixel size not stated" ran over the slice's P(COVID), and the orientation letters
    over the patient's text. The readouts stay; the lower-priority marks give way."""
    import tifffile

    from tests.dicomout.unusable import PHANTOM, phantom_slices

    folder = tmp_path / kind
    if kind == "tiff":
        folder.mkdir()
        for i, hu in enumerate(PHANTOM.hu):
            tifffile.imwrite(folder / f"IM{i + 1:05d}.tif", np.clip(hu + 1024, 0, None).astype(np.uint16))
    else:
        phantom_slices(folder)
    window.resize(900, 600)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=30000):
        window.controller.open_folder(folder)
    if kind == "dicom":  # (the TIFF's lungs, at the 1 mm pixels assumed, are too small for a verdict)
        with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
            window.controller.run_analysis()
        assert "P(COVID)" in window.view.bottom_left.text()
    view = window.view
    view._mouse_moved(view.image.mapToScene(QPointF(100.5, 60.5)))  # the HU readout shown too
    qtbot.wait(200)
    assert view.width() < 300 and view.bottom_left.isVisibleTo(window)
    assert view.hu_readout().startswith("HU ")
    assert _overlapping(window) == []


def test_a_folder_that_is_a_link_loop_is_named_with_the_reason(qtbot, window, tmp_path):
    """Path.resolve raises on a loop: opening one ended the viewer with a traceback."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with qtbot.waitSignal(window.controller.problem, timeout=30000) as problem:
        window.controller.open_folder(loop)
    assert str(loop) in problem.args[1] and "symbolic links" in problem.args[1]
