"""Measurements on a synthetic slice whose truth is set here: known distance, known mean, SD,
range and area of rectangular, elliptical and freehand regions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lunglens.core.measure import distance_mm, ellipse_mask, polygon_mask, region_stats

SPACING = (0.5, 0.8)  # mm: row spacing, column spacing


def checkered_block() -> np.ndarray:
    """(100, 120) HU: air, with rows 20-59 x columns 10-69 a checkerboard of 30 and 70 HU (mean
    50, SD 20)."""
    hu = np.full((100, 120), -1000, np.int16)
    rows, columns = np.mgrid[20:60, 10:70]
    hu[20:60, 10:70] = np.where((rows + columns) % 2 == 0, 30, 70)
    return hu


@pytest.mark.parametrize(
    ("start", "end", "spacing", "mm"),
    [
        ((0, 0), (3, 4), (1.0, 1.0), 5.0),
        ((10, 10), (13, 10), (0.5, 0.8), 2.4),
        ((0, 0), (0, 4), (0.5, 0.8), 2.0),
        ((5, 5), (5, 5), (1, 1), 0.0),
    ],
)
def test_distance_scales_columns_and_rows_by_their_spacing(start, end, spacing, mm):
    assert distance_mm(start, end, spacing) == pytest.approx(mm)


def test_rectangle_gives_the_known_mean_sd_range_and_area():
    hu = checkered_block()
    mask = polygon_mask(hu.shape, [(10, 20), (70, 20), (70, 60), (10, 60)])
    assert mask.sum() == 60 * 40 and mask[20:60, 10:70].all()
    stats = region_stats(hu, mask, SPACING)
    assert stats.n_pixels == 2400
    assert stats.area_mm2 == pytest.approx(2400 * 0.5 * 0.8)
    assert (stats.mean_hu, stats.sd_hu, stats.min_hu, stats.max_hu) == (50.0, 20.0, 30.0, 70.0)
    assert stats.text() == "mean 50 ± 20 HU (min 30, max 70), area 960.0 mm²"
    assert stats.text(pixel_size_stated=False) == (
        "mean 50 ± 20 HU (min 30, max 70), area 2400 pixels (pixel size not stated)"
    )


def test_freehand_triangle_covers_half_its_bounding_box():
    mask = polygon_mask((100, 100), [(0, 0), (100, 0), (0, 100)])
    assert mask.sum() == pytest.approx(5000, rel=0.02)
    assert mask[0, 0] and not mask[99, 99]


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0])
def test_ellipse_area_and_mean_match_the_drawn_ellipse(angle):
    hu = np.full((200, 200), -1000, np.int16)
    hu[50:150, 50:150] = 40  # the ellipse lies inside this square at any angle
    mask = ellipse_mask(hu.shape, centre=(100, 100), semi_axes=(40, 20), angle_deg=angle)
    stats = region_stats(hu, mask, SPACING)
    assert stats.mean_hu == 40 and stats.sd_hu == 0
    assert stats.area_mm2 == pytest.approx(math.pi * 40 * 20 * 0.5 * 0.8, rel=0.02)


def test_ellipse_turns_as_seen_on_screen():
    lying = ellipse_mask((100, 100), centre=(50, 50), semi_axes=(30, 5))
    standing = ellipse_mask((100, 100), centre=(50, 50), semi_axes=(30, 5), angle_deg=90)
    assert lying[50, 75] and not lying[75, 50]
    assert standing[75, 50] and not standing[50, 75]
    # counter-clockwise on screen (y down): the long axis goes up-right
    tilted = ellipse_mask((100, 100), centre=(50, 50), semi_axes=(30, 3), angle_deg=45)
    assert tilted[50 - 15, 50 + 15] and not tilted[50 + 15, 50 + 15]


def test_regions_outside_or_degenerate_hold_no_pixel():
    hu = checkered_block()
    assert not polygon_mask(hu.shape, [(1, 1), (5, 5)]).any()
    stats = region_stats(hu, polygon_mask(hu.shape, [(200, 200), (210, 200), (210, 210)]), SPACING)
    assert stats.n_pixels == 0 and stats.area_mm2 == 0 and math.isnan(stats.mean_hu)
    assert stats.text() == "no pixel inside"
