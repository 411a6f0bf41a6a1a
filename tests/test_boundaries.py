"""The Qt boundary and the layers (DESIGN.md section 3), checked by import-linter: only lunglens.ui
may import PySide6 or pyqtgraph, and layers import downward only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is part of the test extra"
    result = subprocess.run([lint_imports], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_non_ui_packages_import_without_qt():
    code = (
        "import sys, lunglens.io, lunglens.core.selector, lunglens.core.decision, lunglens.analysis, lunglens.analysis.readout, lunglens.report, lunglens.cli;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
