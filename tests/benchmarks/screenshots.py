"""Screenshots of the viewer's main states, for a person to look at. Run under a virtual display:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/benchmarks/screenshots.py \
        [--model CARD] [--out scratch/screens]

For P001 and the synthetic demo patient it saves
`<case>-1-fresh.png` (just opened), `<case>-2-analysed-overlay.png` (analysed, on the slice with
the highest P(COVID), Grad-CAM on), `<case>-3-decision.png` (the window after moving the
operating point) and `<case>-3-decision-panel.png` (the side panel alone), for P001 also
`p001-about.png` and `p001-dicom-tags.png`; then
`sbu-series-browser.png`, a folder of six series none of which can be analysed.
Issue 15 (`reading_tools`): `0-start-empty.png`, and for P001 the hottest and the coldest kept
slice (`p001-4-hot.png`, `p001-5-cold.png`), the outline mode (`p001-6-outline.png`), a discarded
slice's banner (`p001-7-banner.png`), measurements (`p001-8-measurements.png`), the HU readout
after a wheel step (`p001-9-hu-after-step.png`), a small window (`p001-10-small-window.png`),
the analysis restored after switching series (`p001-11-restored.png`), Help
(`p001-12-help.png`), no reformats (`p001-13-axial-only.png`), the quantification (lung
contours, lesion outlines, the panel: `p001-14-quantification*.png`) and a single coronal slice
(`sbu-coronal-single.png`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lunglens.synthetic.demo import make_demo_patient  # noqa: E402
from lunglens.ui.dialogs import AboutDialog, TagDialog  # noqa: E402
from lunglens.ui.main_window import MainWindow  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("LUNGLENS_SHARED_DATA", REPO.parent / "shared" / "data"))


def wait(signal=None, seconds: float = 300.0) -> None:
    """Run the event loop until `signal` fires (or for `seconds` when no signal is given)."""
    loop = QEventLoop()
    if signal is not None:
        signal.connect(loop.quit)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    if signal is not None:
        signal.disconnect(loop.quit)


def shoot(window: MainWindow, folder: Path, case: str, out: Path) -> list[Path]:
    saved = []

    def save(widget, name: str) -> None:
        wait(seconds=0.3)
        path = out / f"{case}-{name}.png"
        widget.grab().save(str(path))
        saved.append(path)

    window.controller.open_folder(folder)
    wait(window.controller.seriesLoaded)
    save(window, "1-fresh")
    window.controller.run_analysis()
    wait(window.controller.analysisDone)
    analysis = window.state.analysis
    window.state.set_index(int(np.nanargmax(np.where(analysis.classified, analysis.p_covid, -1))))
    save(window, "2-analysed-overlay")
    # Move the operating point: f = 0 and a cut-off between the slices' P(COVID), so some flip.
    p = analysis.p_covid[analysis.classified]
    window.decision_panel.fraction.setValue(0)
    window.decision_panel.cutoff.setValue(int(round(100 * float(np.quantile(p, 0.9)))))
    save(window, "3-decision")
    save(window.decision_panel.parentWidget(), "3-decision-panel")
    if case == "p001":
        for name, dialog in (
            (
                "about",
                AboutDialog(
                    window.controller.model.card, window.controller.model.provider.describe(), window
                ),
            ),
            ("dicom-tags", TagDialog(window.state.series.source_paths[window.state.index], window)),
        ):
            dialog.show()
            save(dialog, name)
            dialog.close()
    return saved


def reading_tools(window: MainWindow, out: Path) -> list[Path]:
    """The P001 shots of issue 15 (P001 open and analysed)."""
    from PySide6.QtCore import QPointF

    saved, state, control = [], window.state, window.controller

    def save(widget, name: str) -> None:
        wait(seconds=0.3)
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        saved.append(path)

    analysis = state.analysis
    kept = np.flatnonzero(analysis.selection.kept)
    p = analysis.p_covid[kept]
    hot, cold = int(kept[np.argmax(p)]), int(kept[np.argmin(p)])
    window.decision_panel.reset_to_paper()
    state.set_index(hot)
    save(window, "p001-4-hot")
    state.set_index(cold)
    save(window, "p001-5-cold")
    window.analysis_panel.outline.setChecked(True)
    state.set_index(hot)
    save(window, "p001-6-outline")
    window.analysis_panel.outline.setChecked(False)
    state.set_index(int(np.flatnonzero(~analysis.selection.kept)[0]))
    save(window, "p001-7-banner")
    state.set_index(hot)
    window.add_measurement("ellipse")
    window.add_measurement("distance")
    save(window, "p001-8-measurements")
    view = window.view
    view._mouse_moved(view.image.mapToScene(QPointF(200.5, 300.5)))
    control.step(1)
    save(window, "p001-9-hu-after-step")
    size = window.size()
    window.resize(1000, 640)
    save(window, "p001-10-small-window")
    window.resize(size)
    control.open_folder(DATA / "covid-ct-md" / "normal001")
    wait(control.seriesLoaded)
    control.open_folder(DATA / "covid-ct-md" / "P001")
    wait(control.seriesLoaded)
    save(window, "p001-11-restored")
    window.quant_panel.lungs.setChecked(True)
    window.quant_panel.lesions.setChecked(True)
    state.set_index(hot)
    save(window, "p001-14-quantification")
    window.side_dock.widget().verticalScrollBar().setValue(10_000)
    save(window.side_dock, "p001-14-quantification-panel")
    window.quant_panel.lungs.setChecked(False)
    window.show_keys()
    save(window.help_dialog, "p001-12-help")
    window.help_dialog.close()
    window.reformat_action.setChecked(False)
    save(window, "p001-13-axial-only")
    window.reformat_action.setChecked(True)
    control.open_folder(DATA / "covid19-ny-sbu" / "A002304" / "coronal")
    wait(control.seriesLoaded)
    save(window, "sbu-coronal-single")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="model card (default: the bundled demonstration model)")
    parser.add_argument("--out", type=Path, default=REPO / "scratch" / "screens")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, model_path=args.model, provider="cpu")
        window.resize(1580, 960)
        window.show()
        wait(seconds=0.5)
        window.grab().save(str(args.out / "0-start-empty.png"))
        print(args.out / "0-start-empty.png")
        cases = [
            ("p001", DATA / "covid-ct-md" / "P001"),
            ("demo", make_demo_patient(Path(tmp) / "demo", covid=True)),
        ]
        for case, folder in cases:
            for path in shoot(window, folder, case, args.out):
                print(path)
            if case == "p001":
                for path in reading_tools(window, args.out):
                    print(path)
        window.controller.open_folder(DATA / "covid19-ny-sbu" / "A002304")
        wait(window.controller.seriesLoaded)
        wait(seconds=3)  # thumbnails
        window.grab().save(str(args.out / "sbu-series-browser.png"))
        print(args.out / "sbu-series-browser.png")
        window.close()
    app.quit()


if __name__ == "__main__":
    main()
