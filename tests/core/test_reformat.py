"""Reformat geometry: planes through the axial stack with their true pixel size, and the
patient directions at each edge from ImageOrientationPatient (tables of orientations, and the
axial, coronal and sagittal slices of COVID-19-NY-SBU)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lunglens.core.reformat import (
    EdgeLabels,
    axial_labels,
    coronal,
    direction_letters,
    runs,
    sagittal,
    stack_direction,
)
from lunglens.io import discover, load

AXIAL = (1, 0, 0, 0, 1, 0)
TILT = math.radians(15)


def volume() -> np.ndarray:
    """(20, 30, 40) int32, a different value in every voxel: 1000 z + 30 y + x."""
    z, y, x = np.mgrid[:20, :30, :40]
    return (z * 1000 + y * 30 + x).astype(np.int32)


def test_coronal_plane_is_one_row_of_every_slice_with_true_pixel_size():
    hu = volume()
    plane = coronal(hu, 7, pixel_spacing_mm=(0.7, 0.8), slice_spacing_mm=2.5, orientation=AXIAL)
    assert plane.image.shape == (20, 40) and np.array_equal(plane.image, hu[:, 7, :])
    assert plane.pixel_mm == (2.5, 0.8) and plane.aspect == pytest.approx(2.5 / 0.8)
    assert plane.extent_mm == pytest.approx((50.0, 32.0))
    assert plane.labels == EdgeLabels(left="R", right="L", top="S", bottom="I")


def test_sagittal_plane_is_one_column_of_every_slice_with_the_row_spacing():
    hu = volume()
    plane = sagittal(hu, 39, pixel_spacing_mm=(0.7, 0.8), slice_spacing_mm=1.25, orientation=AXIAL)
    assert plane.image.shape == (20, 30) and np.array_equal(plane.image, hu[:, :, 39])
    assert plane.pixel_mm == (1.25, 0.7) and plane.extent_mm == pytest.approx((25.0, 21.0))
    assert plane.labels == EdgeLabels(left="A", right="P", top="S", bottom="I")


@pytest.mark.parametrize("make", [coronal, sagittal])
@pytest.mark.parametrize("index", [-1, 40])
def test_planes_outside_the_volume_are_refused(make, index):
    with pytest.raises(IndexError):
        make(volume(), index, (0.7, 0.7), 1.0, AXIAL)


@pytest.mark.parametrize(
    ("orientation", "axial", "coronal_labels"),
    [
        # head first supine, the usual axial slice: patient's right on the viewer's left
        (AXIAL, ("R", "L", "A", "P"), ("R", "L", "S", "I")),
        # rows stored right-to-left (patient's left first)
        ((-1, 0, 0, 0, 1, 0), ("L", "R", "A", "P"), ("L", "R", "S", "I")),
        # prone: posterior at the top
        ((-1, 0, 0, 0, -1, 0), ("L", "R", "P", "A"), ("L", "R", "S", "I")),
        # gantry tilted 15 degrees: the column direction also points inferior
        ((1, 0, 0, 0, math.cos(TILT), -math.sin(TILT)), ("R", "L", "AS", "PI"), ("R", "L", "SP", "IA")),
        # no orientation (TIFF): assumed axial
        (None, ("R", "L", "A", "P"), ("R", "L", "S", "I")),
    ],
)
def test_edge_labels_follow_the_orientation(orientation, axial, coronal_labels):
    assert axial_labels(orientation) == EdgeLabels(*axial)
    assert coronal(volume(), 0, (1, 1), 1, orientation).labels == EdgeLabels(*coronal_labels)


@pytest.mark.parametrize(
    ("vector", "letters"),
    [
        ((1, 0, 0), "L"),
        ((-1, 0, 0), "R"),
        ((0, -2, 0), "A"),
        ((0, 0, 5), "S"),
        ((0.1, 0, -1), "I"),
        ((1, 1, 0), "LP"),
        ((0, 0, 0), ""),
    ],
)
def test_direction_letters(vector, letters):
    assert direction_letters(vector) == letters


def test_stack_runs_inferior_for_axial_and_refuses_degenerate_orientations():
    assert stack_direction(AXIAL).tolist() == [0, 0, -1]
    assert stack_direction((1, 0, 0, 0, -1, 0)).tolist() == [0, 0, -1]  # normal flipped, same stack
    with pytest.raises(ValueError, match="degenerate"):
        stack_direction((1, 0, 0, 1, 0, 0))


@pytest.mark.parametrize(
    ("folder", "labels"),
    [("axial", ("R", "L", "A", "P")), ("coronal", ("R", "L", "S", "I")), ("sagittal", ("A", "P", "S", "I"))],
)
def test_real_slices_are_labelled_from_their_orientation(shared_data, folder, labels):
    (ref, _) = discover(shared_data / "covid19-ny-sbu" / "A002304" / folder).series
    series = load(ref)
    assert series.orientation_cosines is not None
    assert axial_labels(series.orientation_cosines) == EdgeLabels(*labels)


@pytest.mark.parametrize(
    ("mask", "expected"),
    [([0, 1, 1, 0, 1], [(1, 2), (4, 4)]), ([1, 1, 1], [(0, 2)]), ([0, 0], []), ([], [])],
)
def test_runs_of_kept_slices(mask, expected):
    assert runs(np.array(mask, bool)) == expected
