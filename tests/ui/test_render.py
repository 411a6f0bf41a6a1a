"""The viewer's display cache draws the Grad-CAM exactly as the PDF report does (one overlay
module), inside the body, weighted by P(COVID) and hidden below the cut-off."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lunglens.core.windowing import PRESETS, to_grey
from lunglens.render.overlay import OverlayStyle, body_mask, overlay_rgb
from lunglens.ui.render import DisplayCache
from tests.render.test_overlay import blob_cam, chest_slice

LUNG = PRESETS[0]


@pytest.mark.parametrize("outline", [False, True])
@pytest.mark.parametrize(("p_covid", "cutoff"), [(0.8, 0.5), (0.3, 0.5), (0.3, 0.2), (0.47, 0.1)])
def test_viewer_frame_equals_the_report_overlay(outline, p_covid, cutoff):
    hu, cam = chest_slice(), blob_cam(7.5, 8, sigma=3.0)
    style = OverlayStyle(opacity=0.5, outline=outline)
    cache = DisplayCache(style=style)
    frame = cache.frame(3, hu, LUNG, cam, opacity=0.5, p_covid=p_covid, cutoff=cutoff)
    report = overlay_rgb(
        to_grey(hu, LUNG), cam, p_covid=p_covid, cutoff=cutoff, region=body_mask(hu), style=style
    )
    assert frame.shape == (*hu.shape, 4) and (frame[..., 3] == 255).all()
    assert np.array_equal(frame[..., :3], report)
    drawn = not np.array_equal(report, np.repeat(to_grey(hu, LUNG)[..., None], 3, axis=2))
    assert drawn == (p_covid >= cutoff)


def test_style_change_and_cutoff_change_give_new_frames():
    hu, cam = chest_slice(), blob_cam(7.5, 8, sigma=3.0)
    cache = DisplayCache()
    fill = cache.frame(0, hu, LUNG, cam, opacity=0.6, p_covid=0.9, cutoff=0.5)
    hidden = cache.frame(0, hu, LUNG, cam, opacity=0.6, p_covid=0.9, cutoff=0.95)
    assert np.array_equal(hidden[..., 0], to_grey(hu, LUNG)) and not np.array_equal(fill, hidden)
    cache.set_style(replace(cache.style, outline=True))
    outline = cache.frame(0, hu, LUNG, cam, opacity=0.6, p_covid=0.9, cutoff=0.5)
    assert not np.array_equal(fill, outline)
    assert np.count_nonzero((outline != hidden).any(axis=2)) < np.count_nonzero((fill != hidden).any(axis=2))


def test_analysis_panel_switches_outline_and_hiding_and_says_so(qtbot):
    from lunglens.ui.analysis_panel import AnalysisPanel
    from lunglens.ui.state import ViewerState

    panel = AnalysisPanel(ViewerState())
    qtbot.addWidget(panel)
    assert not panel.style.outline and panel.style.hide_below_cutoff
    fill_bar = panel.bar.pixmap().toImage()
    with qtbot.waitSignal(panel.styleChanged) as outline:
        panel.outline.setChecked(True)
    assert outline.args[0].outline and outline.args[0] == panel.style
    assert panel.bar.pixmap().toImage() != fill_bar
    with qtbot.waitSignal(panel.styleChanged) as shown:
        panel.hide_cold.setChecked(False)
    assert shown.args[0].outline and not shown.args[0].hide_below_cutoff
