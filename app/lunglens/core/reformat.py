"""Reformats of an axial stack and the patient directions at the edges of each view.

The volume is (z, y, x) HU with index 0 the most superior slice (`lunglens.io.Series`). A coronal
reformat is one image row through every slice (z, x); a sagittal one is one image column
(z, y). Their pixels are not square: a row is a slice step high (`slice_spacing_mm`) and a
column a pixel wide, so each plane says its pixel size in mm for the viewer to draw it in true
proportion. Directions are DICOM patient directions (LPS: +x left, +y posterior, +z superior)
read from ImageOrientationPatient; an image edge gets the letters R/L, A/P, S/I of the
direction it points to (two or three letters, strongest first, for oblique edges)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lunglens.io.geometry import orientation_problem
from lunglens.io.series import Series

#: The orientation a TIFF stack (no geometry) is assumed to have: rows left→right, columns
#: front→back (a plain axial slice), as `lunglens.io` assumes for TIFF.
ASSUMED_AXIAL_COSINES = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

#: A direction component at least this large (of a unit vector) gets its letter; 0.2 is about
#: 12 degrees, so a slightly tilted gantry still reads as plain "L" or "P".
LETTER_FROM = 0.2

_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
"""Letter for the negative and the positive direction of each LPS axis."""


@dataclass(frozen=True)
class EdgeLabels:
    """The patient direction at each edge of a view: letters such as "L", "A" or "SL"."""

    left: str
    right: str
    top: str
    bottom: str


@dataclass(frozen=True)
class Plane:
    """One view of the volume: `image` (rows, columns, HU, a view of the volume, not a copy),
    the size of one of its pixels in mm (`pixel_mm`: height, width) and its edge labels."""

    image: np.ndarray
    pixel_mm: tuple[float, float]
    labels: EdgeLabels

    @property
    def aspect(self) -> float:
        """Pixel height / pixel width: how much taller than wide a pixel must be drawn."""
        return self.pixel_mm[0] / self.pixel_mm[1]

    @property
    def extent_mm(self) -> tuple[float, float]:
        """(height, width) of the whole plane in mm."""
        return (self.image.shape[0] * self.pixel_mm[0], self.image.shape[1] * self.pixel_mm[1])


def direction_letters(vector: Sequence[float]) -> str:
    """Letters of the patient direction `vector` (LPS, any length): one per axis whose share
    of the unit vector is at least `LETTER_FROM`, strongest first; "" for a zero vector."""
    v = np.asarray(vector, dtype=float)
    length = np.linalg.norm(v)
    if length < 1e-9:
        return ""
    v = v / length
    order = np.argsort(-np.abs(v), kind="stable")
    return "".join(_LETTERS[axis][int(v[axis] > 0)] for axis in order if abs(v[axis]) >= LETTER_FROM)


def _edge_labels(rightward: np.ndarray, downward: np.ndarray) -> EdgeLabels:
    """Edge letters of an image whose columns run along `rightward` and rows along `downward`
    (patient directions, LPS)."""
    return EdgeLabels(
        left=direction_letters(-rightward),
        right=direction_letters(rightward),
        top=direction_letters(-downward),
        bottom=direction_letters(downward),
    )


def _cosines(orientation: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    values = ASSUMED_AXIAL_COSINES if orientation is None else orientation
    if len(values) != 6:
        raise ValueError(f"ImageOrientationPatient needs 6 values, got {len(values)}")
    row, column = np.asarray(values[:3], float), np.asarray(values[3:], float)
    if np.linalg.norm(np.cross(row, column)) < 1e-6:
        raise ValueError(f"degenerate ImageOrientationPatient {list(values)}")
    return row, column


def stack_direction(orientation: Sequence[float] | None) -> np.ndarray:
    """Unit patient direction of increasing slice index (index 0 most superior): the slice
    normal turned to point inferior, e.g. (0, 0, -1) for an axial stack. None: assumed axial."""
    row, column = _cosines(orientation)
    normal = np.cross(row, column)
    normal /= np.linalg.norm(normal)
    return normal if normal[2] < 0 else -normal


def axial_labels(orientation: Sequence[float] | None) -> EdgeLabels:
    """Edge labels of a slice as stored: columns run along the row direction (right edge),
    rows along the column direction (bottom edge). None: assumed axial."""
    row, column = _cosines(orientation)
    return _edge_labels(row, column)


def orientation_stated(series: Series) -> bool:
    """Whether the series' files state a usable orientation. Views draw direction letters only
    then: a TIFF stack's orientation is assumed, and no letter comes from a guess."""
    return series.orientation_cosines is not None and orientation_problem(series.orientation_cosines) is None


def stated_slice_labels(series: Series) -> EdgeLabels | None:
    """Edge labels of the series' slices as stored, where the files state their orientation
    (`orientation_stated`); None otherwise."""
    return axial_labels(series.orientation_cosines) if orientation_stated(series) else None


def coronal(
    hu: np.ndarray,
    row: int,
    pixel_spacing_mm: tuple[float, float],
    slice_spacing_mm: float,
    orientation: Sequence[float] | None,
) -> Plane:
    """The plane through image row `row` of every slice: (slices, columns), superior at the top,
    pixels `slice_spacing_mm` high and a column spacing wide (`pixel_spacing_mm` is (row
    spacing, column spacing) as in DICOM). Coronal for an axial stack."""
    row_direction, _ = _cosines(orientation)
    down = stack_direction(orientation)
    return Plane(
        image=hu[:, _inside(row, hu.shape[1], "row"), :],
        pixel_mm=(float(slice_spacing_mm), float(pixel_spacing_mm[1])),
        labels=_edge_labels(row_direction, down),
    )


def sagittal(
    hu: np.ndarray,
    column: int,
    pixel_spacing_mm: tuple[float, float],
    slice_spacing_mm: float,
    orientation: Sequence[float] | None,
) -> Plane:
    """The plane through image column `column` of every slice: (slices, rows), superior at the
    top, the slice's rows running left to right (anterior on the left for a standard axial
    stack), pixels `slice_spacing_mm` high and a row spacing wide. Sagittal for an axial stack."""
    _, column_direction = _cosines(orientation)
    down = stack_direction(orientation)
    return Plane(
        image=hu[:, :, _inside(column, hu.shape[2], "column")],
        pixel_mm=(float(slice_spacing_mm), float(pixel_spacing_mm[0])),
        labels=_edge_labels(column_direction, down),
    )


def _inside(index: int, size: int, what: str) -> int:
    if not 0 <= index < size:
        raise IndexError(f"{what} {index} is outside 0..{size - 1}")
    return int(index)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True in a 1-D `mask` as (first, last) indices, inclusive: e.g. the
    selector's kept slices, drawn as bands on the rows of a reformat or along a chart."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, bool).astype(np.int8), [0]]))
    return [
        (int(a), int(b))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True)
    ]
