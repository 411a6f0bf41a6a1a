"""Measurements on a slice view: a known ROI on a synthetic slice gives the known mean and
area, distances are in mm, ROIs follow their handles, belong to their slice, list and delete."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt

from lunglens.ui.measurements import MeasurementLayer, MeasurementList

SPACING = (0.5, 0.8)


@pytest.fixture
def view(qtbot):
    """A slice view as the viewer builds it (y down, square pixels), with a synthetic slice:
    air, a 40 HU square at rows 50-149 x columns 50-149, a 100 HU block at rows 10-29 x
    columns 10-39."""
    pg.setConfigOptions(imageAxisOrder="row-major")
    hu = np.full((200, 200), -1000, np.int16)
    hu[50:150, 50:150] = 40
    hu[10:30, 10:40] = 100
    graphics = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    graphics.setCentralItem(box)
    image = pg.ImageItem(hu)
    box.addItem(image)
    qtbot.addWidget(graphics)
    graphics.resize(400, 400)
    graphics.show()
    layer = MeasurementLayer(box, image)
    layer.set_slice(3, hu, SPACING)
    yield layer, hu
    graphics.close()  # the view lives as long as the test


def test_known_ellipse_gives_the_known_mean_and_area(view):
    layer, _ = view
    m = layer.add_ellipse((100, 100), (40, 20))
    assert m.kind == "ellipse" and m.slice_index == 3
    assert m.stats.mean_hu == 40 and m.stats.sd_hu == 0
    assert m.stats.area_mm2 == pytest.approx(math.pi * 40 * 20 * SPACING[0] * SPACING[1], rel=0.02)
    turned = layer.add_ellipse((100, 100), (40, 20), angle_deg=90)
    assert turned.stats.area_mm2 == pytest.approx(m.stats.area_mm2, rel=0.02)


def test_known_freehand_region_gives_mean_range_and_area(view):
    layer, _ = view
    m = layer.add_freehand([(10, 10), (40, 10), (40, 30), (10, 30)])
    assert (m.stats.n_pixels, m.stats.mean_hu, m.stats.min_hu, m.stats.max_hu) == (600, 100, 100, 100)
    assert m.stats.area_mm2 == pytest.approx(600 * 0.4)
    straddle = layer.add_freehand([(30, 20), (60, 20), (60, 60), (30, 60)])  # air, 100 HU and 40 HU
    assert straddle.stats.min_hu == -1000 and straddle.stats.max_hu == 100


def test_distance_is_in_mm_and_follows_its_handles(qtbot, view):
    layer, _ = view
    m = layer.add_distance((10, 10), (13, 14))
    assert m.length_mm == pytest.approx(math.hypot(3 * 0.8, 4 * 0.5))
    assert m.result == f"{m.length_mm:.1f} mm"
    with qtbot.waitSignal(layer.changed):
        m.roi.setPos(QPointF(20, 0))  # the whole ruler moves: same length
    assert m.length_mm == pytest.approx(math.hypot(3 * 0.8, 4 * 0.5))
    handle = m.roi.getHandles()[1]
    with qtbot.waitSignal(layer.changed):
        m.roi.movePoint(handle, m.roi.mapToParent(QPointF(10, 10 + 100)))  # in image coordinates
    start, end = layer._points(m.roi)
    assert m.length_mm == pytest.approx(math.hypot((end[0] - start[0]) * 0.8, (end[1] - start[1]) * 0.5))
    assert m.length_mm > 40


def test_moving_an_ellipse_onto_air_updates_its_statistics(qtbot, view):
    layer, _ = view
    m = layer.add_ellipse((100, 100), (10, 10))
    assert m.stats.mean_hu == 40
    with qtbot.waitSignal(layer.changed):
        m.roi.setPos(QPointF(170, 170))
    assert m.stats.mean_hu == -1000


def test_measurements_belong_to_their_slice_and_list_and_delete(qtbot, view):
    layer, hu = view
    panel = MeasurementList(layer)
    qtbot.addWidget(panel)
    ruler = layer.add_distance((0, 0), (10, 0))
    layer.set_slice(4, hu, SPACING)
    region = layer.add_ellipse((100, 100), (10, 10))
    assert not ruler.roi.isVisible() and region.roi.isVisible()
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == [
        "Slice 4 · distance: 8.0 mm",
        f"Slice 5 · ellipse: {region.stats.text()}",
    ]
    with qtbot.waitSignal(panel.sliceRequested) as requested:
        panel.list.itemDoubleClicked.emit(panel.list.item(0))
    assert requested.args == [3]
    layer.set_slice(3, hu, SPACING)
    assert ruler.roi.isVisible() and not region.roi.isVisible()
    panel.list.setCurrentRow(0)
    panel.list.setFocus()
    qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
    assert layer.items == [region] and panel.list.count() == 1
    assert [(r.slice_index, r.kind, r.result) for r in layer.records()] == [
        (4, "ellipse", region.stats.text())
    ]
    panel.clear_button.click()
    assert layer.items == [] and panel.list.count() == 0 and not panel.delete_button.isEnabled()


def _inside_the_view(label: pg.TextItem) -> bool:
    """Whether the label, as painted, lies wholly inside the visible part of its view."""
    graphics = label.scene().views()[0]
    graphics.grab()  # a paint: the label takes its size and orientation on screen
    visible = graphics.mapToScene(graphics.viewport().rect()).boundingRect()
    return visible.contains(label.sceneBoundingRect())


def test_labels_at_the_edges_of_the_view_stay_inside_it(qtbot, view):
    """A label always sat above and right of its point: a ruler ending at the right edge of the
    visible image, or a region at its top edge, had its label cut by the view's edge, unreadable;
    a zoom kept the label where it was, cut again."""
    layer, _ = view
    layer.box.autoRange(padding=0)  # as the viewer shows a slice: the image fills the view
    (x0, x1), (y0, y1) = layer.box.viewRange()
    end = (x1 - 2, y1 - 2)
    ruler = layer.add_distance((x1 - 40, y1 - 30), end)  # ends at the bottom-right corner
    region = layer.add_ellipse((x1 - 12, y0 + 12), (10, 10))  # touches the top-right corner
    freehand = layer.add_freehand([(x0 + 60, y0 + 3), (x1 - 3, y0 + 40), (x0 + 60, y0 + 60)])
    for m in (ruler, region, freehand):
        assert _inside_the_view(m.label), m.kind
    layer.box.scaleBy((2, 2), center=QPointF(*end))  # zoom out about the ruler's end
    assert _inside_the_view(ruler.label)
    layer.box.translateBy(x=-(x1 - x0) / 2)  # the image moves right, the ruler out of sight
    assert not _inside_the_view(ruler.label)


def test_without_a_stated_pixel_size_lengths_and_areas_are_in_pixels_and_say_so(view):
    """A TIFF folder or DICOM without PixelSpacing: 1 mm is assumed; the labels said "5.0 mm"
    and "area ... mm²" as if measured."""
    layer, hu = view
    layer.set_slice(3, hu, (1.0, 1.0), pixel_spacing_stated=False)
    ruler = layer.add_distance((10, 10), (13, 14))
    region = layer.add_freehand([(10, 10), (40, 10), (40, 30), (10, 30)])
    assert ruler.result == "5.0 pixels (pixel size not stated)"
    assert region.result.endswith("area 600 pixels (pixel size not stated)") and "mm" not in region.result
    layer.set_slice(3, hu, SPACING)  # stated again: back in mm
    assert ruler.result == f"{math.hypot(3 * 0.8, 4 * 0.5):.1f} mm" and region.result.endswith("mm²")
