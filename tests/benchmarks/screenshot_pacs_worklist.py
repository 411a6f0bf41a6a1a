"""Screenshots of a batch over a PACS in the viewer: the three whole covid-ct-md series are put on
a local Orthanc (started here, as the tests start it), `lunglens batch --dicomweb` analyses them
(2 workers, the default lesion method), then the viewer's "Open worklist…" shows the worklist
(OUT_worklist.png, and scrolled to the folder column: OUT_worklist_folder.png) and the P001 row, double-clicked, is retrieved from Orthanc and shown with its
saved analysis (OUT_opened.png):

    PYTHONPATH=app:. xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python \
        tests/benchmarks/screenshot_pacs_worklist.py OUT
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from lunglens.batch.jobs import DicomwebQuery
from lunglens.batch.runner import BatchConfig, run_batch
from lunglens.pacs import Connection
from lunglens.ui.main_window import MainWindow
from tests.benchmarks.screenshots import DATA
from tests.pacs.conftest import USER, start_orthanc

SERIES = ("P001", "normal001", "cap001")


def _wait(app: QApplication, done, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the viewer did not finish in time")
        app.processEvents()
        time.sleep(0.02)


def main(out: str) -> None:
    with tempfile.TemporaryDirectory(prefix="shot-pacs-") as tmp:
        server = start_orthanc(Path(tmp) / "orthanc")
        try:
            server.upload(sorted(p for name in SERIES for p in (DATA / "covid-ct-md" / name).glob("*.dcm")))
            os.environ["LUNGLENS_DICOMWEB_PASSWORD"] = server.password
            batch_out = Path(tmp) / "batch"
            query = DicomwebQuery(Connection(url=server.dicomweb_url, user=USER))
            for line in run_batch(BatchConfig(source=None, dicomweb=query, out=batch_out, workers=2)).lines():
                print(line)

            app = QApplication.instance() or QApplication([])
            window = MainWindow(
                settings=QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
            )
            window.resize(1600, 1000)
            window.show()
            _wait(app, lambda: window.controller.model is not None)
            window.hospital.pacs.connect_to(server.dicomweb_url, USER)  # as the PACS dialog remembers it
            dialog = window.hospital.open_worklist(batch_out)
            dialog.resize(1580, 300)
            app.processEvents()
            dialog.grab().save(f"{out}_worklist.png")
            bar = dialog.table.horizontalScrollBar()
            bar.setValue(bar.maximum())  # the folder column: the series' DICOMweb address
            app.processEvents()
            dialog.grab().save(f"{out}_worklist_folder.png")
            row = next(i for i, r in enumerate(dialog.shown_rows()) if r["n_kept"] == "90")  # P001
            dialog.table.doubleClicked.emit(dialog.proxy.index(row, 0))
            _wait(app, lambda: window.state.analysis is not None)
            dialog.hide()
            window.state.set_index(95)
            for _ in range(20):
                app.processEvents()
                time.sleep(0.05)
            window.grab().save(f"{out}_opened.png")
            print(f"{out}_worklist.png {out}_opened.png")
        finally:
            server.stop()


if __name__ == "__main__":
    main(sys.argv[1])
