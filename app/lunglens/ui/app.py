"""Start the viewer for the arguments of `lunglens view` (parsed by `lunglens.cli.view`)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from lunglens import __version__
from lunglens.synthetic.demo import make_demo_patient
from lunglens.ui.main_window import MainWindow


def open_demo(window: MainWindow) -> None:
    """Make the synthetic demo patient in a temporary folder (in the background) and open it."""
    folder = Path(tempfile.mkdtemp(prefix="lunglens-demo-"))
    QApplication.instance().aboutToQuit.connect(lambda: shutil.rmtree(folder, ignore_errors=True))
    window.statusBar().showMessage("Making the demo patient…")
    signals = window.controller.jobs["demo"].start(
        lambda _progress, _cancel: make_demo_patient(folder, covid=True)
    )
    signals.finished.connect(window.controller.open_folder)
    signals.failed.connect(lambda message: window.show_message("Cannot make the demo patient", message))


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
    open_demo(window)


def run(args: argparse.Namespace) -> int:
    """Show the window for the `lunglens view` arguments `args` and run the event loop."""
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("LungLens")
    app.setApplicationName("LungLens")
    app.setApplicationVersion(__version__)
    # a self-test checks an installation: it must not change the user's remembered settings
    settings = None
    if args.self_test:
        settings_file = Path(tempfile.mkdtemp(prefix="lunglens-self-test-")) / "settings.ini"
        settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, model_path=args.model, provider=args.provider)
    window.show()
    if args.self_test:
        self_test(window)
    elif args.demo:
        open_demo(window)
    elif args.path:
        window.controller.open_folder(args.path)
    status = app.exec()
    # Closing the window cancelled the jobs; let them stop before Python tears down.
    QThreadPool.globalInstance().waitForDone(10000)
    return status
