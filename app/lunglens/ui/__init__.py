"""The viewer (the only package that imports Qt or pyqtgraph). Importing it sets pyqtgraph's
row-major image order once, so arrays are (y, x) everywhere as in `lunglens.io`."""

import pyqtgraph as pg

pg.setConfigOptions(imageAxisOrder="row-major")
