"""The viewer (the only package that imports Qt or pyqtgraph). Importing it sets pyqtgraph's
row-major image order once, so arrays are (y, x) everywhere as in `lunglens.io`, and applies
the PySide6 6.12.0 reference-count work-around (`lunglens.ui.compat`)."""

import pyqtgraph as pg

from lunglens.ui.compat import immortalise_singletons

pg.setConfigOptions(imageAxisOrder="row-major")
immortalise_singletons()
