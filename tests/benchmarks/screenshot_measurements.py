"""Screenshot of the measurement layer and list on P001 slice 96 (an ellipse, a ruler and a
freehand region), for a person to look at:

    PYTHONPATH=app:. QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/screenshot_measurements.py OUT.png
"""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from lunglens.core.windowing import PRESETS, to_grey
from lunglens.io import discover, load_slice
from lunglens.ui.measurements import MeasurementLayer, MeasurementList
from tests.benchmarks.screenshots import DATA


def main(out: str) -> None:
    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    ref = discover(DATA / "covid-ct-md" / "P001").series[0]
    hu = load_slice(ref, 95)
    window = QWidget()
    layout = QHBoxLayout(window)
    graphics = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    graphics.setCentralItem(box)
    image = pg.ImageItem(to_grey(hu, PRESETS[0]))
    box.addItem(image)
    layer = MeasurementLayer(box, image)
    layer.set_slice(95, hu, ref.pixel_spacing_mm)
    layer.add_ellipse((335, 210), (30, 22))
    layer.add_distance((60, 256), (250, 256))
    layer.add_freehand([(140, 290), (190, 280), (200, 330), (150, 345), (130, 320)])
    layout.addWidget(graphics, 3)
    layout.addWidget(MeasurementList(layer), 1)
    window.resize(1100, 700)
    window.show()
    box.autoRange(padding=0)
    app.processEvents()
    window.grab().save(out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
