"""The quantification package is plain Python + numpy/scipy/scikit-image: no Qt."""

from __future__ import annotations

import subprocess
import sys


def test_quant_imports_without_qt():
    code = (
        "import sys, lunglens.quant, lunglens.quant.summary;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
