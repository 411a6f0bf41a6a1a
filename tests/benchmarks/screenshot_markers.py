"""Screenshot of the orientation markers and scale bar on P001: slice 96 (axial) beside the
coronal reformat through image row 300 drawn at its true aspect (`lunglens.core.reformat`):

    PYTHONPATH=app:. QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/screenshot_markers.py OUT.png
"""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from lunglens.core.reformat import axial_labels, coronal
from lunglens.core.windowing import PRESETS, to_grey
from lunglens.io import discover, load
from lunglens.ui.view_markers import ViewMarkers
from tests.benchmarks.screenshots import DATA


def main(out: str) -> None:
    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    series = load(discover(DATA / "covid-ct-md" / "P001").series[0])
    plane = coronal(
        series.hu, 300, series.pixel_spacing_mm, series.slice_spacing_mm, series.orientation_cosines
    )
    window = QWidget()
    layout = QHBoxLayout(window)
    keep = []
    for image, labels, aspect in (
        (
            series.hu[95],
            axial_labels(series.orientation_cosines),
            series.pixel_spacing_mm[0] / series.pixel_spacing_mm[1],
        ),
        (plane.image, plane.labels, plane.aspect),
    ):
        graphics = pg.GraphicsView()
        box = pg.ViewBox(lockAspect=True, invertY=True)
        graphics.setCentralItem(box)
        item = pg.ImageItem(to_grey(image, PRESETS[0]))
        item.setTransform(QTransform.fromScale(1, aspect))  # rows drawn at their true height
        box.addItem(item)
        markers = ViewMarkers(graphics, box)
        markers.set_geometry(labels, series.pixel_spacing_mm[1])
        layout.addWidget(graphics)
        keep.append((graphics, box, markers))
    window.resize(1000, 520)
    window.show()
    for _graphics, box, _markers in keep:
        box.autoRange(padding=0)
    app.processEvents()
    window.grab().save(out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
