"""Screenshot of the coronal and sagittal reformat views on P001 analysed with the bundled
demonstration model (slice 96 marked, the slices the selector discarded shaded, the Grad-CAM
of hot slices inside the body), for a person to look at:

    PYTHONPATH=app:. QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/screenshot_reformats.py OUT.png
"""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from lunglens.analysis import analyse
from lunglens.core.selector import select_slices
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.ui.reformat_view import ReformatView
from lunglens.ui.state import ViewerState
from tests.benchmarks.screenshots import DATA


def main(out: str) -> None:
    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    ref = discover(DATA / "covid-ct-md" / "P001").series[0]
    series = load(ref)
    state = ViewerState()
    window = QWidget()
    layout = QHBoxLayout(window)
    views = [ReformatView(axis, state) for axis in ("coronal", "sagittal")]
    for view in views:
        layout.addWidget(view)
    coronal, sagittal = views
    coronal.crossPicked.connect(sagittal.set_plane_index)
    sagittal.crossPicked.connect(coronal.set_plane_index)
    window.resize(1100, 560)
    window.show()
    state.set_ref(ref)
    state.set_series(series, select_slices(series.standard_hu))
    state.set_index(95)
    state.set_analysis(analyse(series, load_model(provider="cpu")))
    coronal.set_plane_index(244)  # through the hot spot in the left lung on slice 96
    sagittal.set_cross(244)
    sagittal.set_plane_index(373)
    coronal.set_cross(373)
    for view in views:
        view.box.autoRange(padding=0)
    app.processEvents()
    window.grab().save(out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
