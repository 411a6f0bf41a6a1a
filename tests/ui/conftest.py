"""Viewer tests run offscreen; any Qt warning (or worse) fails the test that caused it."""

from __future__ import annotations

import gc
import os
import tempfile  # noqa: E402

os.environ["QT_QPA_PLATFORM"] = "offscreen"
# LungLens started in a subprocess by these tests keeps its settings here, not in the user's.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="lunglens-test-config-")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings, QtMsgType  # noqa: E402

from tests.tiny_model import write_tiny_model  # noqa: E402

#: Messages of the offscreen platform plugin itself, not of LungLens.
OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints()",)


@pytest.fixture(autouse=True)
def _collect_garbage_outside_qt_calls():
    """Python's cyclic garbage collection is held during a viewer test and run after it, outside
    any Qt call, as the viewer does (`lunglens.ui.app.run`): a collection that destroys a widget
    while a slot holds Qt's signal-slot lock deadlocks (seen once in CI, in a measurement-list
    double-click). Autouse fixtures are set up first, so this one is torn down after the widgets."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture(autouse=True)
def _fail_on_qt_warnings(qtlog):
    yield
    bad = [
        r
        for r in qtlog.records
        if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg) and r.message not in OFFSCREEN_NOISE
    ]
    assert not bad, "Qt warnings: " + "; ".join(r.message for r in bad)


@pytest.fixture(scope="session")
def tiny_model_card(tmp_path_factory):
    """A tiny ONNX model honouring the model contract (fast enough for every test)."""
    return write_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def window(qtbot, tmp_path, tiny_model_card):
    """A main window with its own settings file and the tiny model, shown and loaded."""
    from lunglens.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main_window = MainWindow(settings=settings, model_path=tiny_model_card, provider="cpu")
    qtbot.addWidget(main_window)
    main_window.show()
    qtbot.waitUntil(lambda: main_window.controller.model is not None, timeout=20000)
    return main_window


@pytest.fixture
def p001_window(qtbot, window, covid_ct_md):
    """The window with P001 open and fully loaded."""
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(covid_ct_md / "P001")
    return window
