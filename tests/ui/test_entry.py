"""How the viewer is started: the command line stays Qt-free, folders arrive by drag and drop,
and `--demo` opens the synthetic patient."""

from __future__ import annotations

import re
import subprocess
import sys

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def test_cli_subcommands_do_not_import_qt(covid_ct_md):
    code = (
        "import sys; from lunglens.__main__ import main; rc = main(['info', sys.argv[1]]); "
        "assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules), 'Qt imported'; "
        "sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(covid_ct_md / "P001")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "148 slices" in done.stdout


def test_drop_a_folder_opens_it(qtbot, window, covid_ct_md):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(covid_ct_md / "P001" / "98C14734-ASSH_1.dcm"))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.dropEvent(event)
    assert window.state.ref.folder == covid_ct_md / "P001"


def test_demo_patient_opens(qtbot, window):
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=300000):
        window.controller.open_demo()
    assert window.state.series.n_slices >= 35
    assert "Synthetic" in window.state.ref.description


def test_self_test_opens_analyses_and_exits_zero(tmp_path):
    """`lunglens --self-test` (the packaging smoke test's check of an installation)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "lunglens", "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "self-test passed" in result.stdout
    assert re.search(r"PDF report of [1-9]\d* page", result.stdout), result.stdout


def _lunglens(args, cwd, **environment):
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **environment}
    return subprocess.run(
        [sys.executable, "-m", "lunglens", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_screenshot_option_analyses_goes_to_the_slice_and_saves_the_window(
    tmp_path, covid_ct_md, tiny_model_card
):
    """`lunglens FOLDER --analyse --slice N --screenshot OUT.png` (no display: offscreen)."""
    from PIL import Image

    out = tmp_path / "p001.png"
    model = ["--model", str(tiny_model_card), "--provider", "cpu"]
    result = _lunglens(
        [
            str(covid_ct_md / "P001"),
            "--analyse",
            "--slice",
            "40",
            "--screenshot",
            str(out),
            *model,
            "--lesion-method",
            "hu_bands",
        ],
        tmp_path,  # the fast lesion method, named: this test is about the screenshot
    )
    assert result.returncode == 0, result.stderr
    assert "(slice 40 of " in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 600

    outside = _lunglens(
        [str(covid_ct_md / "P001"), "--slice", "9999", "--screenshot", str(tmp_path / "x.png"), *model],
        tmp_path,
    )
    assert outside.returncode == 2 and "outside this series' slices 1 to" in outside.stderr
    assert not (tmp_path / "x.png").exists()
    # bad input is exit status 2, as for every command; a destination inside the folder read is
    # refused before the series loads
    into_input = _lunglens(
        [str(covid_ct_md / "P001"), "--screenshot", str(covid_ct_md / "P001" / "x.png")], tmp_path
    )
    assert into_input.returncode == 2 and "a folder being read" in into_input.stderr
    missing = _lunglens(
        [str(tmp_path / "no such folder"), "--screenshot", str(tmp_path / "y.png"), *model], tmp_path
    )
    assert missing.returncode == 2 and "no screenshot" in missing.stderr


def test_sigterm_quits_cleanly_and_removes_the_demo_folder(tmp_path, tiny_model_card):
    """`lunglens --demo` stopped by `kill` or `timeout` removes its temporary demo patient, as a
    clean quit does (it left the folder, 76 MB, behind)."""
    import os
    import signal
    import time

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(temporary)}
    viewer = subprocess.Popen(
        [sys.executable, "-m", "lunglens", "--demo", "--model", str(tiny_model_card), "--provider", "cpu"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    give_up = time.monotonic() + 240  # a guard against a hang, not a timing requirement
    try:
        while not list(temporary.glob("lunglens-demo-*/*")):  # the demo patient is being written
            assert viewer.poll() is None, "the viewer ended before making the demo patient"
            assert time.monotonic() < give_up, "no demo patient after 240 s"
            time.sleep(0.2)
        viewer.send_signal(signal.SIGTERM)
        assert viewer.wait(timeout=120) == 0
    finally:
        if viewer.poll() is None:
            viewer.kill()
    assert not list(temporary.glob("lunglens-demo-*"))


def test_a_screenshot_leaves_no_settings_naming_the_folder_in_the_temporary_files(
    tmp_path, covid_ct_md, tiny_model_card
):
    """A screenshot (and a self-test: the same code) keeps its settings in a temporary folder
    and removes it: it left settings.ini holding recent_folders=<the patient folder> behind."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    model = ["--model", str(tiny_model_card), "--provider", "cpu"]
    shot = _lunglens(
        [str(covid_ct_md / "P001"), "--screenshot", str(tmp_path / "p001.png"), *model],
        tmp_path,
        TMPDIR=str(temporary),
    )
    assert shot.returncode == 0, shot.stderr
    assert (tmp_path / "p001.png").is_file() and not list(temporary.glob("lunglens-*"))
    refused = _lunglens(
        [str(covid_ct_md / "P001"), "--slice", "9999", "--screenshot", str(tmp_path / "x.png"), *model],
        tmp_path,
        TMPDIR=str(temporary),
    )
    assert refused.returncode == 2 and not list(temporary.glob("lunglens-*"))
