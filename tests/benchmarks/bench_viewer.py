"""Viewer benchmark on a real series (offscreen), each figure beside a baseline measured in the
same run. Prints JSON (medians, milliseconds):

- open: `MainWindow.open_folder` to the first slice on screen, against the bare minimum
  (discover + load_slice of the middle slice + a bare pyqtgraph ImageItem.setImage and paint);
- slice change with the Grad-CAM overlay on: `ViewerState.set_index` plus a synchronous repaint
  of the view, stepping through the kept slices as a wheel would (the event loop runs between
  steps, untimed, so the idle prefetch of the neighbours happens as it would for a reader), then
  again with every frame cached, and cold (caches cleared and no idle time before each step);
  against a bare ImageItem.setImage of the raw HU slice with window levels, repainted the same way.
  The analysis includes the quantification, whose lesion outlines are drawn (the default).
  The coronal and sagittal reformats are shown beside the axial view (their slice lines move
  with every step) and the Grad-CAM is drawn on every classified slice (hiding below the cut-off
  off: the costlier case). A timed step is `set_index`, a synchronous repaint of the axial view,
  then every paint Qt has pending (reformat lines, slice strip, slider, readouts: posted events
  sent, timers such as the idle prefetch not run); `..._forced_all_ms` repaints all three
  viewports in full instead (more than Qt does: it repaints only the lines' strips).
  The machine's load average is printed with the figures.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_viewer.py [FOLDER] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lunglens.core.windowing import PRESETS  # noqa: E402
from lunglens.io import discover, load_slice  # noqa: E402
from lunglens.ui.main_window import MainWindow  # noqa: E402
from tests.tiny_model import write_tiny_model  # noqa: E402

DEFAULT = Path(
    os.environ.get("LUNGLENS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


def wait_for(signal, timeout_s: float = 120.0) -> None:
    """Run the event loop until `signal` fires."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def median_ms(times: list[float]) -> float:
    return round(1000 * statistics.median(times), 3)


def bare_view() -> tuple[pg.GraphicsView, pg.ImageItem]:
    view = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    view.setCentralItem(box)
    item = pg.ImageItem()
    box.addItem(item)
    view.resize(900, 900)
    view.show()
    item.setImage(np.zeros((512, 512), np.int16), autoLevels=False, levels=(0, 1))
    box.autoRange(padding=0)
    QApplication.processEvents()
    return view, item


def bench_open(window: MainWindow, folder: Path, repeats: int) -> dict:
    ours = []
    for _ in range(repeats):
        window.controller.open_folder(folder)
        wait_for(window.controller.firstSliceShown)
        ours.append(window.controller.open_seconds)
        wait_for(window.controller.seriesLoaded)
    view, item = bare_view()
    bare = []
    for _ in range(repeats):
        start = time.perf_counter()
        ref = discover(folder).series[0]
        hu = load_slice(ref, ref.n_slices // 2)
        item.setImage(hu, autoLevels=False, levels=(PRESETS[0].low, PRESETS[0].high))
        view.viewport().repaint()
        bare.append(time.perf_counter() - start)
    view.close()
    return {"lunglens_ms": median_ms(ours), "baseline_discover_slice_setimage_ms": median_ms(bare)}


def bench_slice_change(window: MainWindow) -> dict:
    state = window.state
    window.reformat_action.setChecked(True)
    window.analysis_panel.hide_cold.setChecked(False)
    viewports = [v.graphics.viewport() for v in (window.view, window.coronal, window.sagittal)]

    def paint_pending() -> None:
        viewports[0].repaint()
        for _ in range(3):  # scene changes are queued, then post the viewports' update requests
            QCoreApplication.sendPostedEvents()

    def repaint_all() -> None:
        for viewport in viewports:
            viewport.repaint()

    wait_for_analysis = window.controller.analysisDone
    window.controller.run_analysis()
    wait_for(wait_for_analysis)
    indices = [int(i) for i in state.analysis.selection.kept.nonzero()[0]][:60]
    assert state.overlay_visible
    passes = {}
    for name in ("stepping", "cached", "cold", "forced_all"):
        times = []
        for i in indices:
            if name == "cold":
                window.clear_caches()
            else:
                QApplication.processEvents()
            start = time.perf_counter()
            state.set_index(i)
            (repaint_all if name == "forced_all" else paint_pending)()
            times.append(time.perf_counter() - start)
        passes[name] = times
    view, item = bare_view()
    bare = []
    for i in indices:
        start = time.perf_counter()
        item.setImage(state.series.hu[i], autoLevels=False, levels=(PRESETS[0].low, PRESETS[0].high))
        view.viewport().repaint()
        bare.append(time.perf_counter() - start)
    view.close()
    return {
        "slices": len(indices),
        "overlay_on": True,
        "reformats_on": window.coronal.isVisible() and window.coronal.available(),
        "lunglens_stepping_ms": median_ms(passes["stepping"]),
        "lunglens_cached_ms": median_ms(passes["cached"]),
        "lunglens_cold_ms": median_ms(passes["cold"]),
        "lunglens_forced_all_ms": median_ms(passes["forced_all"]),
        "baseline_bare_setimage_raw_ms": median_ms(bare),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT / "covid-ct-md" / "P001")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        card = write_tiny_model(Path(tmp))
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, model_path=card, provider="cpu")
        window.resize(1500, 920)
        window.show()
        app.processEvents()
        result = {
            "benchmark": "viewer",
            "series": str(args.folder),
            "platform": os.environ["QT_QPA_PLATFORM"],
            "repeats": args.repeats,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_1_5_15": os.getloadavg(),
            },
            "open_to_first_slice": bench_open(window, args.folder, args.repeats),
            "slice_change_with_overlay": bench_slice_change(window),
            "targets_ms": {"open_to_first_slice": 1000, "slice_change_median": 10},
        }
        window.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
