"""Outlines of label images: the edge only, in each label's colour, widened when asked."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.render.contours import (
    LESION_CONTOURS,
    LUNG_CONTOURS,
    ContourStyle,
    burn_outlines,
    contour_pixels,
    draw_contours,
    outline,
    paint,
)


def _square(size: int = 20, first: int = 5, side: int = 8, value: int = 1) -> np.ndarray:
    labels = np.zeros((size, size), np.uint8)
    labels[first : first + side, first : first + side] = value
    return labels


def test_outline_is_the_edge_of_the_region_only():
    edge = outline(_square())
    assert edge.sum() == 4 * (8 - 1)  # the square's perimeter pixels
    assert not edge[7:11, 7:11].any() and not edge[:5].any()
    assert edge[5, 5] and edge[12, 9]


def test_wider_outline_grows_both_ways():
    assert outline(_square(), width_px=2).sum() > outline(_square()).sum()
    with pytest.raises(ValueError):
        ContourStyle({1: (0, 0, 0)}, width_px=0)


def test_each_class_is_drawn_in_its_colour_and_unlisted_labels_not_at_all():
    labels = _square() + _square(first=14, side=4, value=2) + _square(first=0, side=3, value=7)
    frame = np.zeros((20, 20, 4), np.uint8)
    drawn = draw_contours(frame, labels, LESION_CONTOURS)
    assert tuple(drawn[5, 5, :3]) == LESION_CONTOURS.colours[1] and drawn[5, 5, 3] == 255
    assert tuple(drawn[14, 14, :3]) == LESION_CONTOURS.colours[2]
    assert not drawn[0:3, 0:3].any()  # label 7 has no colour
    assert not drawn[8, 8].any()  # inside stays as it was
    assert not frame.any()  # the frame given is not changed


def test_contour_pixels_are_the_outline_and_paint_draws_them():
    indices, colours = contour_pixels(_square(), LESION_CONTOURS)
    assert indices.size == 4 * (8 - 1) and (colours == LESION_CONTOURS.colours[1]).all()
    empty = contour_pixels(np.zeros((4, 4), np.uint8), LESION_CONTOURS)
    assert empty[0].size == 0
    assert np.array_equal(
        draw_contours(np.zeros((20, 20, 4), np.uint8), _square(), LESION_CONTOURS).reshape(-1, 4)[indices, 3],
        np.full(indices.size, 255),
    )


def test_burnt_outlines_are_the_viewers_contours_in_the_same_colours():
    """The PDF's key images and the DICOM secondary captures show what the viewer shows."""
    lesions = _square()
    lungs = np.zeros_like(lesions)
    lungs[1:-1, 1:-1] = 1
    grey = np.full((*lesions.shape, 3), 40, np.uint8)
    burnt = burn_outlines(grey, lesions, lungs)
    frame = np.dstack([grey, np.full(lesions.shape, 255, np.uint8)])
    viewer = paint(
        paint(frame, contour_pixels(lungs, LUNG_CONTOURS)), contour_pixels(lesions, LESION_CONTOURS)
    )
    assert np.array_equal(burnt, viewer[..., :3])
    assert (burnt == LESION_CONTOURS.colours[1]).all(axis=-1).any()
    assert (burnt == LUNG_CONTOURS.colours[1]).all(axis=-1).any()
    assert np.array_equal(grey, np.full_like(grey, 40))  # a copy: the input is left as it is
