"""The viewer's parts on their own: stale background results are dropped, the wheel steps by
whole notches, the HU readout reads the pixel under the cursor, the report is exported."""

from __future__ import annotations

import threading

from PySide6.QtCore import QPointF

from lunglens.ui.workers import JobSlot
from tests.pdf_text import pdf_file_text


def test_stale_job_results_are_dropped(qtbot):
    slot, release, results = JobSlot(), threading.Event(), []

    def slow(_progress, _cancel):
        release.wait(10)
        return "stale"

    first = slot.start(slow)
    first.finished.connect(results.append)
    second = slot.start(lambda _progress, _cancel: "fresh")
    second.finished.connect(results.append)
    with qtbot.waitSignal(second.finished, timeout=10000):
        pass
    release.set()
    qtbot.waitUntil(lambda: not slot._alive, timeout=10000)
    assert results == ["fresh"]


def test_job_failure_and_cancel_are_reported(qtbot):
    from lunglens.inference import Cancelled

    slot = JobSlot()

    def fail(_progress, _cancel):
        raise ValueError("broken input")

    with qtbot.waitSignal(slot.start(fail).failed, timeout=10000) as blocker:
        pass
    assert blocker.args == ["broken input"]

    def cancelled(_progress, cancel):
        cancel.wait(10)
        raise Cancelled

    signals = slot.start(cancelled)
    with qtbot.waitSignal(signals.cancelled, timeout=10000):
        slot.cancel()
    assert not slot.running


class _Wheel:
    def __init__(self, delta: int):
        self._delta = delta

    def delta(self) -> int:
        return self._delta

    def accept(self) -> None:
        pass


def test_a_job_ending_after_the_viewer_closed_reports_to_no_one(qtbot):
    """Closing the viewer deletes its jobs' signals while a job may still run (a model loading):
    its end is then told to no one, without a traceback on the way out."""
    import shiboken6

    from lunglens.ui.workers import WorkerSignals, _Runnable

    for outcome in (lambda progress, cancel: 42, lambda progress, cancel: 1 / 0):
        signals = WorkerSignals()
        job = _Runnable(outcome, signals, threading.Event())
        shiboken6.delete(signals)
        job.run()  # raised RuntimeError: Signal source has been deleted


def test_trackpad_wheel_accumulates_to_whole_notches(qtbot, window):
    steps = []
    window.view.sliceSteps.connect(steps.append)
    for _ in range(5):
        window.view.box.wheelEvent(_Wheel(-40))
    assert steps == [1]
    window.view.box.wheelEvent(_Wheel(240))
    assert steps == [1, -1]


def test_hu_readout_under_the_cursor(qtbot, p001_window):
    view, hu = p001_window.view, p001_window.state.series.hu[p001_window.state.index]
    view._mouse_moved(view.image.mapToScene(QPointF(100.5, 200.5)))
    assert view.bottom_right.text().startswith(f"HU {int(hu[200, 100])} ")
    view._mouse_moved(view.image.mapToScene(QPointF(-5, -5)))
    assert view.bottom_right.text() == ""


def test_export_pdf_report_follows_the_anonymise_action(qtbot, p001_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = p001_window
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    patient_id = window.state.series.metadata.patient_id
    assert len(patient_id) >= 4
    for anonymise in (False, True):
        window.anonymise_action.setChecked(anonymise)
        target = tmp_path / f"report-{anonymise}.pdf"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, t=target, **kwargs: (str(t), "PDF"))
        window.export_report()
        text = pdf_file_text(target)
        assert ("anonymised report" in text) == anonymise
        assert (patient_id in text) != anonymise
    assert window.settings.value("anonymise_exports", type=bool) is True  # remembered


def test_hu_readout_follows_keyboard_zoom_pan_and_reset_with_the_mouse_still(qtbot):
    import numpy as np

    from lunglens.ui.image_view import SliceView

    view = SliceView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    hu = np.arange(512 * 512).reshape(512, 512) % 3000 - 1000  # every pixel of a row its own value
    frame = np.zeros((512, 512, 4), np.uint8)
    view.show_slice(hu, frame, False)
    cursor = view.box.mapViewToScene(QPointF(300.5, 200.5))  # image pixels are view units
    view._mouse_moved(cursor)
    assert view.hu_readout() == f"HU {hu[200, 300]}  (x 301, y 201)"

    def under_cursor() -> str:
        point = view.box.mapSceneToView(cursor)  # the view's range as it is now
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        return f"HU {hu[row, column]}  (x {column + 1}, y {row + 1})"

    for move in (lambda: view.zoom(2.0), lambda: view.pan(0.1, 0.1), view.reset_view):
        before = view.hu_readout()
        move()
        assert view.hu_readout() == under_cursor() != before


def test_the_panels_can_be_closed_for_a_small_screen_and_brought_back_from_the_view_menu(qtbot, window):
    """With both panels the window needs about 900 pixels; without the series panel it fits an
    800 x 600 screen. A panel closed by its title bar's button comes back from View."""
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggles = {a.text(): a for a in view_menu.actions() if a.text() in ("&Series panel", "&Analysis panel")}
    assert len(toggles) == 2 and all(a.isChecked() for a in toggles.values())
    toggles["&Series panel"].trigger()
    qtbot.waitUntil(lambda: not window.series_dock.isVisible())
    assert window.minimumSizeHint().width() <= 800
    toggles["&Series panel"].trigger()
    qtbot.waitUntil(window.series_dock.isVisible)


def test_the_report_is_never_exported_into_the_folder_opened(qtbot, window, tmp_path, monkeypatch):
    """The series lies in a sub-folder of the folder opened (patient/study/series): the viewer
    refused only the folders holding its files and wrote the report into the folder opened, which
    `lunglens analyze` refuses, with this message."""
    from PySide6.QtWidgets import QFileDialog

    from lunglens.atomic import destination_problem
    from tests.dicomout.unusable import phantom_slices

    opened = tmp_path / "nested"
    phantom_slices(opened / "series")
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(opened)
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    before = sorted(opened.rglob("*"))
    target = opened / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), "PDF"))
    with qtbot.waitSignal(window.messageShown) as told:
        window.export_report()
    assert told.args[0] == f"{target}: {destination_problem(target, [opened])}"  # as `analyze` says it
    assert "a folder being read" in told.args[0] and sorted(opened.rglob("*")) == before
    beside = tmp_path / "report.pdf"  # beside the folder opened is fine
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(beside), "PDF"))
    window.export_report()
    assert beside.read_bytes().startswith(b"%PDF")
