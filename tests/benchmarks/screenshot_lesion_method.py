"""Screenshots of the lesion method in the viewer, for a person to look at:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/benchmarks/screenshot_lesion_method.py \
        [--out scratch/screens]

opens the demo patient, chooses Analysis ▸ Lesion method ▸ Learned lesion map, analyses it (the real
bundled lesion model), goes to the kept slice with the largest affected % with lung contours and lesion
outlines on and saves `demo-learned.png` (the whole window), `demo-learned-panel.png` (the
quantification panel) and `demo-lesion-menu.png` (the menu); then chooses HU bands, which quantifies
the same analysis again without the classifier, and saves `demo-hu-bands.png` and
`demo-hu-bands-panel.png` on the same slice. Prints the seconds of each step as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lunglens.ui.main_window import MainWindow  # noqa: E402
from tests.benchmarks.screenshots import REPO, wait  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "scratch" / "screens")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    seconds = {}

    def save(widget, name: str) -> None:
        wait(seconds=0.5)
        widget.grab().save(str(args.out / name))

    def worst_kept_slice(analysis) -> int:
        """The kept slice with the largest affected % (basal slivers of lung are left out)."""
        slices = np.array([np.nan if p is None else p for p in analysis.quantification.slices])
        return int(np.nanargmax(np.where(analysis.selection.kept, slices, np.nan)))

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, provider="cpu")
        control = window.controller
        window.resize(1580, 960)
        window.show()
        window.lesion_method_actions["learned"].trigger()
        control.open_demo()
        wait(control.seriesLoaded)
        start = time.perf_counter()
        control.run_analysis()
        wait(control.analysisDone, seconds=600)
        seconds["analysis_learned"] = round(time.perf_counter() - start, 2)
        window.quant_panel.lungs.setChecked(True)
        window.quant_panel.lesions.setChecked(True)
        shown = worst_kept_slice(window.state.analysis)
        window.state.set_index(shown)
        save(window, "demo-learned.png")
        save(window.quant_panel, "demo-learned-panel.png")

        menu = window.lesion_method_actions["learned"].associatedObjects()[-1]
        menu.popup(window.mapToGlobal(window.rect().center()))
        save(menu, "demo-lesion-menu.png")
        menu.hide()

        start = time.perf_counter()
        window.lesion_method_actions["hu_bands"].trigger()
        wait(window.state.analysisChanged, seconds=600)
        seconds["requantify_hu_bands"] = round(time.perf_counter() - start, 2)
        window.state.set_index(shown)  # the same slice, for comparison
        save(window, "demo-hu-bands.png")
        save(window.quant_panel, "demo-hu-bands-panel.png")
        print(json.dumps({"seconds": seconds, "out": str(args.out)}))
        window.close()
    app.quit()


if __name__ == "__main__":
    main()
