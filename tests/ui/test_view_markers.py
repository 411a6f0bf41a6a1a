"""Orientation markers and scale bar: letters from the orientation at the edges, a bar of a
round length whose on-screen size matches the zoom and the pixel spacing."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from lunglens.core.reformat import axial_labels, sagittal
from lunglens.ui.view_markers import BAR_TARGET_PX, ViewMarkers, bar_length_mm


@pytest.mark.parametrize(
    ("mm_per_px", "length"), [(0.1, 10), (0.5, 50), (0.7, 50), (2.0, 200), (100, 500), (0.001, 1)]
)
def test_bar_length_is_round_and_fits(mm_per_px, length):
    assert bar_length_mm(mm_per_px) == length
    assert length / mm_per_px <= BAR_TARGET_PX or length == 1  # the shortest when none fits


@pytest.fixture
def view(qtbot):
    pg.setConfigOptions(imageAxisOrder="row-major")
    graphics = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    graphics.setCentralItem(box)
    box.addItem(pg.ImageItem(np.zeros((512, 512), np.uint8)))
    qtbot.addWidget(graphics)
    graphics.resize(600, 600)
    graphics.show()
    qtbot.waitExposed(graphics)
    box.autoRange(padding=0)
    yield graphics, box
    graphics.close()


def test_letters_sit_at_their_edges_and_follow_the_orientation(qtbot, view):
    graphics, box = view
    markers = ViewMarkers(graphics, box)
    markers.set_geometry(axial_labels((1, 0, 0, 0, 1, 0)), 0.7)
    letters = {side: label.text() for side, label in markers.edges.items()}
    assert letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert markers.edges["left"].x() < 50 < 550 < markers.edges["right"].x() + markers.edges["right"].width()
    assert markers.edges["top"].y() < 50 and markers.edges["bottom"].y() > 500
    markers.set_geometry(sagittal(np.zeros((3, 4, 4)), 0, (1, 1), 1, None).labels, 0.7)
    assert markers.edges["left"].text() == "A" and markers.edges["top"].text() == "S"
    markers.set_geometry(None, None)
    assert not any(label.isVisible() for label in markers.edges.values()) and not markers.bar.isVisible()


def test_bar_matches_the_zoom(qtbot, view):
    graphics, box = view
    markers = ViewMarkers(graphics, box)
    markers.set_geometry(axial_labels(None), 0.7)
    assert markers.bar.isVisible()
    mm_per_screen_px = box.viewPixelSize()[0] * 0.7
    assert markers.bar.width() == pytest.approx(markers.bar_mm / mm_per_screen_px, abs=1)
    assert markers.bar_label.text() == f"{markers.bar_mm:g} mm"
    before = markers.bar_mm
    box.scaleBy((0.25, 0.25))  # zoom in 4x
    assert markers.bar_mm < before
    assert markers.bar.width() == pytest.approx(markers.bar_mm / (box.viewPixelSize()[0] * 0.7), abs=1)


def test_bar_stays_inside_a_quarter_of_a_narrow_view_and_its_label_inside_the_view(qtbot, view):
    """A narrow view (reformats beside it): the bar took up to BAR_TARGET_PX and ran over the
    corner text; zoomed out, its label was cut by the view's edge; zoomed in past the shortest
    bar, it ran out of the view."""
    graphics, box = view
    markers = ViewMarkers(graphics, box)
    markers.set_geometry(axial_labels(None), 0.7)
    graphics.resize(230, 600)
    box.autoRange(padding=0)
    qtbot.waitUntil(lambda: markers.bar.isVisible() and markers.bar.width() <= 230 // 4)
    box.scaleBy((200, 200))  # far out: a 500 mm bar of a few pixels
    assert markers.bar_label.x() + markers.bar_label.width() <= graphics.width()
    box.scaleBy((1e-5, 1e-5))  # far in: even 1 mm is wider than the view
    assert not markers.bar.isVisible() and not markers.bar_label.isVisible()


def test_bar_follows_a_resize_that_keeps_the_range(qtbot, view):
    """Both sides scaled alike keep the range of an aspect-locked view (no sigRangeChanged) but
    not the screen size of a pixel: the bar was placed for the old size (a coronal 100 mm bar
    at 115 px where 100 mm was 128 px on first display)."""
    graphics, box = view
    markers = ViewMarkers(graphics, box)
    markers.set_geometry(axial_labels(None), 0.7)
    graphics.resize(660, 660)
    qtbot.waitUntil(lambda: box.width() > 650)
    mm_per_screen_px = box.viewPixelSize()[0] * 0.7
    assert markers.bar.width() == pytest.approx(markers.bar_mm / mm_per_screen_px, abs=1)
