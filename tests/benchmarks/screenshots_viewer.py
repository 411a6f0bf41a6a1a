"""Screenshots of the reading parts of issue 15, for a person to look at:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/benchmarks/screenshots_viewer.py \
        [--model CARD] [--out scratch/screens]

saves `sbu-patients-tree.png` (the whole window on COVID-19-NY-SBU: five patients, two dated
studies each), `p001-overlay-fill.png` and `p001-overlay-outline.png` (the image view on P001's
most suspicious slice, Grad-CAM inside the body, filled and as isolines) and
`p001-decision-panel.png` (after a drag of the cut-off: the slices flipped since it began)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lunglens.ui.main_window import MainWindow  # noqa: E402
from tests.benchmarks.screenshots import DATA, REPO, wait  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="model card (default: the bundled demonstration model)")
    parser.add_argument("--out", type=Path, default=REPO / "scratch" / "screens")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    saved = []

    def save(widget, name: str) -> None:
        wait(seconds=0.3)
        path = args.out / name
        widget.grab().save(str(path))
        saved.append(path)

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, model_path=args.model, provider="cpu")
        window.resize(1580, 960)
        window.show()
        window.open_folder(DATA / "covid19-ny-sbu")
        wait(window.seriesLoaded)
        wait(seconds=4)  # thumbnails
        save(window, "sbu-patients-tree.png")

        window.open_folder(DATA / "covid-ct-md" / "P001")
        wait(window.seriesLoaded)
        window.run_analysis()
        wait(window.analysisDone)
        analysis = window.state.analysis
        window.state.set_index(int(np.nanargmax(np.where(analysis.classified, analysis.p_covid, -1))))
        for name, outline in (("fill", False), ("outline", True)):
            window.analysis_panel.outline.setChecked(outline)
            window.cache.set_style(window.analysis_panel.style)
            window.render()
            save(window.view, f"p001-overlay-{name}.png")
        window.cache.set_style(replace(window.analysis_panel.style, outline=False))
        panel = window.decision_panel
        panel.cutoff.setValue(92)
        panel.cutoff.setSliderDown(True)
        for value in range(91, 29, -1):
            panel.cutoff.setValue(value)
        panel.cutoff.setSliderDown(False)
        save(panel, "p001-decision-panel.png")
        window.close()
    for path in saved:
        print(path)
    app.quit()


if __name__ == "__main__":
    main()
