"""Start the viewer for the arguments of `lunglens view` (parsed by `lunglens.cli.view`)."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QBuffer, QIODevice, QSettings, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from lunglens import __version__
from lunglens.atomic import WriteError, destination_problem, write_atomically
from lunglens.ui.main_window import MainWindow

SELF_TEST_LIMIT_MS = 300_000


def self_test(window: MainWindow) -> None:
    """Open the demo patient, analyse it, export its PDF report (to a temporary folder) and quit:
    exit code 0 when the report has pages, 1 on any message to the user, a report that cannot be
    written, or after SELF_TEST_LIMIT_MS."""
    app = QApplication.instance()

    def passed() -> None:
        from lunglens.report import write_report
        from lunglens.report.document import page_count

        folder = Path(tempfile.mkdtemp(prefix="lunglens-self-test-report-"))
        try:
            report = folder / "self-test.pdf"
            write_report(window.state.analysis, window.state.series, report)
            pages = page_count(report.read_bytes())
        except Exception as exc:  # noqa: BLE001 - any failure of the export fails the self-test
            failed(f"cannot export the PDF report ({type(exc).__name__}: {exc})")
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if pages < 1:
            failed("the exported PDF report has no pages")
            return
        print(f"self-test passed: {window.windowTitle()}; PDF report of {pages} page(s)", flush=True)
        app.exit(0)

    def failed(text: str) -> None:
        print(f"self-test failed: {text}", file=sys.stderr, flush=True)
        app.exit(1)

    control = window.controller
    control.seriesLoaded.connect(control.run_analysis)
    control.analysisDone.connect(passed)
    window.messageShown.connect(failed)
    QTimer.singleShot(SELF_TEST_LIMIT_MS, lambda: failed("timed out"))
    control.open_demo()


#: Time for the window to lay out and paint after the last change, before it is grabbed (ms).
SETTLE_MS = 400


def png_bytes(window: MainWindow) -> bytes:
    """The whole window (`QWidget.grab`) as PNG bytes."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    window.grab().save(buffer, "PNG")
    return bytes(buffer.data())


def screenshot(window: MainWindow, folder: Path, out: Path, analyse: bool, slice_number: int | None) -> None:
    """Open `folder`, analyse it when `analyse`, go to slice `slice_number` (1-based, as the
    viewer shows it; None: stay on the middle slice), save the whole window as a PNG at `out`
    and quit: exit code 0 when saved, 2 (bad input, as every command) on any message to the user
    (a folder without a series, no verdict), a slice out of range or a refused destination, 1
    after SELF_TEST_LIMIT_MS."""
    app, control = QApplication.instance(), window.controller

    def failed(text: str, status: int = 2) -> None:
        print(f"lunglens: no screenshot: {text}", file=sys.stderr, flush=True)
        app.exit(status)

    def go_to_slice() -> None:
        n = window.state.n_slices
        if slice_number is not None:
            if not 1 <= slice_number <= n:
                failed(f"--slice {slice_number} is outside this series' slices 1 to {n}")
                return
            window.state.set_index(slice_number - 1)
        QTimer.singleShot(SETTLE_MS, save)

    def save() -> None:
        try:
            write_atomically(out, png_bytes(window), read_only_folders=[folder])
        except WriteError as exc:
            failed(str(exc))
            return
        print(
            f"screenshot saved: {out} (slice {window.state.index + 1} of {window.state.n_slices})", flush=True
        )
        app.exit(0)

    problem = destination_problem(out, [folder])
    if problem:  # said before the series is loaded, not after
        QTimer.singleShot(0, lambda: failed(f"{out}: {problem}"))
        return
    control.seriesLoaded.connect(control.run_analysis if analyse else go_to_slice)
    control.analysisDone.connect(go_to_slice)
    window.messageShown.connect(lambda text: failed(text))
    QTimer.singleShot(SELF_TEST_LIMIT_MS, lambda: failed("timed out", 1))
    control.open_folder(folder)


#: How often the interpreter gets to run while Qt waits for events (ms): Python runs a signal
#: handler only between its own bytecodes.
SIGNAL_POLL_MS = 200


def quit_on_signals(app: QApplication) -> QTimer:
    """Make SIGTERM and SIGINT (`kill`, `timeout`, Ctrl+C in the terminal) close the windows and
    quit as a clean quit does, so the shutdown runs (the demo patient's temporary folder is
    removed). Returns the timer that lets Python's handler run; keep it while the loop runs."""

    def close_and_quit(_signum, _frame) -> None:
        app.closeAllWindows()
        app.quit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, close_and_quit)
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(SIGNAL_POLL_MS)
    return timer


def run(args: argparse.Namespace) -> int:
    """Show the window for the `lunglens view` arguments `args` and run the event loop."""
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("LungLens")
    app.setApplicationName("LungLens")
    app.setApplicationVersion(__version__)
    if args.screenshot and not args.path:
        print("lunglens: --screenshot needs a FOLDER to open", file=sys.stderr)
        return 2
    if not (args.self_test or args.screenshot):
        return _run_window(app, args, None)
    # a self-test checks an installation and a screenshot documents a case: neither may change
    # (or depend on) the user's remembered settings. Theirs live in a temporary folder, removed
    # however the run ends: it would keep the folder opened (recent_folders: a patient's folder
    # name) among the machine's temporary files.
    folder = Path(tempfile.mkdtemp(prefix="lunglens-self-test-"))
    try:
        return _run_window(app, args, QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_window(app: QApplication, args: argparse.Namespace, settings: QSettings | None) -> int:
    """Show the window (with `settings`, None: the user's) for `args`, run the event loop, and shut
    down; returns the loop's exit status. The settings are written out before it returns."""
    # Python's cyclic garbage collection only from the event loop, never inside a Qt call: a
    # collection that destroys a widget while a slot holds Qt's signal-slot lock (a double-click
    # handler disconnecting a signal) deadlocks (seen in a viewer test).
    garbage_collector = GarbageCollector(interval=1.0)
    window = MainWindow(settings=settings, model_path=args.model, provider=args.provider)
    if args.lesion_method:
        window.controller.set_lesion_method(args.lesion_method)
    window.show()
    if args.self_test:
        self_test(window)
    elif args.screenshot:
        screenshot(window, Path(args.path), Path(args.screenshot), args.analyse, args.slice)
    elif args.demo:
        window.controller.open_demo()
    elif args.path:
        window.controller.open_folder(args.path)
    signal_timer = quit_on_signals(app)
    status = app.exec()
    signal_timer.stop()
    garbage_collector.timer.stop()
    # Closing the window cancelled the jobs; let them stop before Python tears down, then shut
    # down (again: a self-test or screenshot quits without closing the window, and a demo
    # patient still being written when the window closed is removed only now).
    QThreadPool.globalInstance().waitForDone(10000)
    window.controller.shutdown()
    window.settings.sync()
    return status
