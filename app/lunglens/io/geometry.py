"""Slice geometry from DICOM's patient coordinate system (LPS, mm): orientation class, the slice
normal and each slice's position along it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A slice counts as axial/coronal/sagittal when its normal is within this angle of the axis
#: (degrees). 30 degrees admits tilted-gantry acquisitions, which are still read as axial.
ORIENTATION_TOLERANCE_DEG = 30.0

_AXIS_NAMES = ("sagittal", "coronal", "axial")


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal (row direction x column direction) of an ImageOrientationPatient value.
    Raises ValueError (the reason) when the two directions do not span a plane."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    length = np.linalg.norm(normal)
    if not np.isfinite(length) or length < 1e-6:
        raise ValueError(
            f"degenerate ImageOrientationPatient {list(orientation)}: row and column directions "
            "are parallel, zero or not numbers"
        )
    return normal / length


def orientation_problem(orientation: Sequence[float] | None) -> str | None:
    """The reason an ImageOrientationPatient value cannot place slices, or None (also None when
    there is no orientation: the series is then ordered by InstanceNumber)."""
    if orientation is None:
        return None
    try:
        slice_normal(orientation)
    except ValueError as exc:
        return str(exc)
    return None


def orientation_name(orientation: Sequence[float] | None) -> str:
    """ "axial", "coronal", "sagittal", "oblique" or "unknown" (no or malformed orientation)."""
    if orientation is None or len(orientation) != 6:
        return "unknown"
    try:
        normal = slice_normal(orientation)
    except ValueError:
        return "unknown"
    axis = int(np.argmax(np.abs(normal)))
    if np.abs(normal[axis]) >= np.cos(np.radians(ORIENTATION_TOLERANCE_DEG)):
        return _AXIS_NAMES[axis]
    return "oblique"


@dataclass(frozen=True)
class StandardLayout:
    """How stored axial images turn to the standard layout the method assumes (the paper's
    slices, ImageOrientationPatient [1, 0, 0, 0, 1, 0]: the patient's front at the top, the
    patient's right on the image left): an optional transpose, then flips of the rows and of the
    columns. Works on the last two axes (rows, columns) and returns numpy views."""

    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    @classmethod
    def of(cls, orientation: Sequence[float] | None) -> StandardLayout:
        """The layout of images with this ImageOrientationPatient (LPS); the standard layout (no
        change) when there is none or it is degenerate, as for TIFF folders."""
        if orientation is None or len(orientation) != 6 or orientation_problem(orientation):
            return cls()
        row = np.asarray(orientation[:3], dtype=float)  # along increasing column index
        column = np.asarray(orientation[3:6], dtype=float)  # along increasing row index
        if abs(row[0]) >= abs(row[1]):
            return cls(False, bool(column[1] < 0), bool(row[0] < 0))
        return cls(True, bool(row[1] < 0), bool(column[0] < 0))

    def to_standard(self, images: np.ndarray) -> np.ndarray:
        """`images` (..., rows, columns) as stored, in the standard layout."""
        if self.transpose:
            images = np.swapaxes(images, -1, -2)
        return images[..., :: -1 if self.flip_rows else 1, :: -1 if self.flip_columns else 1]

    def to_stored(self, images: np.ndarray) -> np.ndarray:
        """`images` (..., rows, columns) in the standard layout, back as stored."""
        images = images[..., :: -1 if self.flip_rows else 1, :: -1 if self.flip_columns else 1]
        return np.swapaxes(images, -1, -2) if self.transpose else images


#: The layout of slices stored as the method assumes them (nothing to turn).
STANDARD_LAYOUT = StandardLayout()


def superior_positions_mm(positions: np.ndarray, orientation: Sequence[float]) -> np.ndarray:
    """Position of each slice along the slice normal (mm), signed so that larger = more superior
    (patient +z is head in DICOM's LPS). `positions` is (n, 3) ImagePositionPatient."""
    normal = slice_normal(orientation)
    if normal[2] < 0:
        normal = -normal
    return np.asarray(positions, dtype=float) @ normal


#: A step between neighbouring slices longer than this many median steps is a gap.
GAP_STEPS = 1.5


def gaps_after(positions_mm: np.ndarray) -> np.ndarray:
    """Indices i of the slices followed by a gap: the step (mm) from slice i to slice i + 1 is
    longer than GAP_STEPS median steps. Positions sorted superior→inferior (mm)."""
    steps = -np.diff(np.asarray(positions_mm, dtype=float))
    spacing = float(np.median(steps)) if len(steps) else 0.0
    return np.flatnonzero(steps > GAP_STEPS * spacing) if spacing > 0 else np.zeros(0, int)


def spacing_report(positions_mm: np.ndarray, tolerance_mm: float = 0.1) -> tuple[float, list[str]]:
    """Median slice spacing (mm) of positions sorted superior→inferior, and warnings about
    duplicates, gaps and uneven spacing (steps differing from the median by > `tolerance_mm`)."""
    if len(positions_mm) < 2:
        return 0.0, []
    steps = -np.diff(positions_mm)
    spacing = float(np.median(steps))
    warnings = []
    duplicates = int(np.sum(np.abs(steps) < 1e-3))
    if duplicates:
        warnings.append(f"{duplicates} slice(s) share a position with their neighbour")
    if spacing > 0:
        uneven = np.abs(steps - spacing) > tolerance_mm
        gaps = gaps_after(positions_mm)
        if len(gaps):
            where = ", ".join(f"after slice {i + 1} ({steps[i]:.1f} mm)" for i in gaps[:5])
            warnings.append(f"{len(gaps)} gap(s) in the series: {where}")
        elif uneven.any():
            warnings.append(
                f"uneven slice spacing: steps {steps.min():.2f}-{steps.max():.2f} mm (median {spacing:.2f})"
            )
    return spacing, warnings
