"""The quantification in the viewer: its table, score and warnings in the side panel, lung
contours and lesion outlines (coloured by class) on the slice, per-slice affected % in the
slice strip."""

from __future__ import annotations

import numpy as np

from lunglens.render.contours import LESION_CONTOURS, LUNG_CONTOURS
from lunglens.ui.slice_strip import AFFECTED


def _analyse(qtbot, window):
    with qtbot.waitSignal(window.controller.analysisDone, timeout=180000):
        window.controller.run_analysis()
    return window.state.analysis


def _has_colour(rgba: np.ndarray, rgb) -> bool:
    return bool(np.all(rgba[..., :3] == np.array(rgb, np.uint8), axis=-1).any())


def test_quantification_table_contours_outlines_and_strip(qtbot, p001_window):
    window, state = p001_window, p001_window.state
    panel = window.quant_panel
    window.controller.set_lesion_method("hu_bands")  # the slice picked below depends on the method
    analysis = _analyse(qtbot, window)
    q = analysis.quantification
    assert q is not None and q.masks is not None
    assert panel.table.rowCount() == 9  # 2 lungs x (lung + 3 zones) + both lungs
    assert panel.table.item(8, 0).text() == "both lungs"
    assert f"{q.severity_score}/{q.severity_score_max}" in panel.score.text()
    assert panel.warnings.isVisibleTo(panel) == bool(q.warnings)

    slices = np.array([np.nan if p is None else p for p in q.slices])
    worst = int(np.nanargmax(slices))
    panel.lungs.setChecked(False)
    panel.lesions.setChecked(False)
    state.set_index(worst)
    plain = window.view.image.image.copy()
    lesion_colours = [c for c in LESION_CONTOURS.colours.values()]
    assert not any(_has_colour(plain, c) for c in lesion_colours)
    panel.lesions.setChecked(True)  # the G key
    outlined = window.view.image.image
    assert any(_has_colour(outlined, c) for c in lesion_colours)
    assert window.settings.value("lesion_outlines", type=bool) is True
    panel.lungs.setChecked(True)  # the L key
    assert _has_colour(window.view.image.image, LUNG_CONTOURS.colours[1])

    assert "% of this slice's lung affected" in window.strip.describe(worst)
    strip = window.strip.grab().toImage().convertToFormat(window.strip.grab().toImage().Format.Format_RGB888)
    pixels = np.frombuffer(strip.constBits(), np.uint8).reshape(strip.height(), strip.bytesPerLine())
    pixels = pixels[:, : strip.width() * 3].reshape(strip.height(), strip.width(), 3)
    assert _has_colour(pixels, (AFFECTED.red(), AFFECTED.green(), AFFECTED.blue()))


def test_no_quantification_says_so(qtbot, window):
    assert "Run the analysis" in window.quant_panel.score.text()
    assert not window.quant_panel.table.isVisibleTo(window.quant_panel)
