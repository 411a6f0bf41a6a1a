"""Screenshot of the measurement layer and list on P001 slice 96 (an ellipse, a ruler and a
freehand region), for a person to look at:

    PYTHONPATH=app:. QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/screenshot_measurements.py OUT.png
"""

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from lunglens.core.windowing import PRESETS, to_grey
from lunglens.io import discover, load_slice
from lunglens.ui.measurements import MeasurementLayer, MeasurementList

app = QApplication([])
pg.setConfigOptions(imageAxisOrder="row-major")
ref = discover(Path(__file__).resolve().parents[3] / "shared" / "data" / "covid-ct-md" / "P001").series[0]
hu = load_slice(ref, 95)
w = QWidget()
lay = QHBoxLayout(w)
g = pg.GraphicsView()
box = pg.ViewBox(lockAspect=True, invertY=True)
g.setCentralItem(box)
img = pg.ImageItem(to_grey(hu, PRESETS[0]))
box.addItem(img)
layer = MeasurementLayer(box, img)
layer.set_slice(95, hu, ref.pixel_spacing_mm)
layer.add_ellipse((335, 210), (30, 22))
layer.add_distance((60, 256), (250, 256))
layer.add_freehand([(140, 290), (190, 280), (200, 330), (150, 345), (130, 320)])
panel = MeasurementList(layer)
lay.addWidget(g, 3)
lay.addWidget(panel, 1)
w.resize(1100, 700)
w.show()
box.autoRange(padding=0)
for _ in range(5):
    app.processEvents()
w.grab().save(sys.argv[1])
