"""`lunglens [PATH] [--demo] [--model PATH] [--provider ...]`: start the viewer."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from lunglens import __version__
from lunglens.inference.session import PROVIDER_CHOICES
from lunglens.ui.main_window import MainWindow


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lunglens",
        description="LungLens viewer. Subcommands info, analyze, demo-data run the command line instead.",
    )
    parser.add_argument("path", nargs="?", help="patient folder to open")
    parser.add_argument("--demo", action="store_true", help="open a synthetic COVID-19 demo patient")
    parser.add_argument("--model", help="model .json card or .onnx file (default: the bundled demo model)")
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the demo patient, analyse it and exit (0 on success): a check of an installation",
    )
    return parser


def open_demo(window: MainWindow) -> None:
    """Make the synthetic demo patient in a temporary folder (in the background) and open it."""
    try:
        from lunglens.synthetic.demo import make_demo_patient
    except ImportError as exc:
        window.show_message("No demo patient", f"The demo patient generator is not available yet ({exc}).")
        return
    folder = Path(tempfile.mkdtemp(prefix="lunglens-demo-"))
    QApplication.instance().aboutToQuit.connect(lambda: shutil.rmtree(folder, ignore_errors=True))
    window.statusBar().showMessage("Making the demo patient…")
    signals = window.jobs["demo"].start(lambda _progress, _cancel: make_demo_patient(folder, covid=True))
    signals.finished.connect(window.open_folder)
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

    window.seriesLoaded.connect(window.run_analysis)
    window.analysisDone.connect(passed)
    window.messageShown.connect(failed)
    QTimer.singleShot(SELF_TEST_LIMIT_MS, lambda: failed("timed out"))
    open_demo(window)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (without the program name), show the window, run the event loop."""
    args = build_parser().parse_args(argv)
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
        window.open_folder(args.path)
    status = app.exec()
    # Closing the window cancelled the jobs; let them stop before Python tears down.
    QThreadPool.globalInstance().waitForDone(10000)
    return status
