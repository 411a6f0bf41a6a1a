"""Measurements on one slice: distance between two points (mm) and HU statistics of an
elliptical or freehand (polygon) region: mean, standard deviation, minimum, maximum and area.

Coordinates are image coordinates as the viewer draws the slice: `x` along columns and `y`
along rows, pixel (row r, column c) covering x in [c, c + 1) and y in [r, r + 1), so its centre
is (c + 0.5, r + 0.5). A pixel belongs to a region when its centre lies inside it
(scikit-image's drawing rules). Pixel spacing is (row spacing, column spacing) in mm, as DICOM
PixelSpacing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.draw import ellipse, polygon

#: Said beside a length or area given in pixels because the files state no pixel size.
NO_PIXEL_SIZE = "pixel size not stated"


@dataclass(frozen=True)
class RegionStats:
    """HU statistics of the pixels in a region: their number, area (mm², pixel count x pixel
    area), mean, standard deviation (population, ddof 0), minimum and maximum (HU)."""

    n_pixels: int
    area_mm2: float
    mean_hu: float
    sd_hu: float
    min_hu: float
    max_hu: float

    def text(self, pixel_size_stated: bool = True) -> str:
        """One line for a label or a report: mean ± SD, range and area (in pixels, saying so,
        when the files state no pixel size and `area_mm2` rests on an assumed one)."""
        if self.n_pixels == 0:
            return "no pixel inside"
        area = (
            f"{self.area_mm2:.1f} mm²" if pixel_size_stated else f"{self.n_pixels} pixels ({NO_PIXEL_SIZE})"
        )
        return (
            f"mean {self.mean_hu:.0f} ± {self.sd_hu:.0f} HU (min {self.min_hu:.0f}, max {self.max_hu:.0f}), "
            f"area {area}"
        )


@dataclass(frozen=True)
class MeasurementRecord:
    """A measurement as a report lists it: the slice (0-based index), its kind ("distance",
    "ellipse" or "freehand") and its result as shown to the reader."""

    slice_index: int
    kind: str
    result: str


def distance_mm(
    start: tuple[float, float], end: tuple[float, float], pixel_spacing_mm: tuple[float, float]
) -> float:
    """Distance in mm between two image points (x, y), columns scaled by the column spacing and
    rows by the row spacing."""
    dx = (end[0] - start[0]) * pixel_spacing_mm[1]
    dy = (end[1] - start[1]) * pixel_spacing_mm[0]
    return float(np.hypot(dx, dy))


def region_stats(hu: np.ndarray, mask: np.ndarray, pixel_spacing_mm: tuple[float, float]) -> RegionStats:
    """Statistics of `hu` (rows, columns) where the bool `mask` is True; NaN statistics and zero
    area when the mask is empty."""
    values = np.asarray(hu)[mask].astype(np.float64)
    area = float(values.size * pixel_spacing_mm[0] * pixel_spacing_mm[1])
    if values.size == 0:
        return RegionStats(0, 0.0, float("nan"), float("nan"), float("nan"), float("nan"))
    return RegionStats(
        n_pixels=int(values.size),
        area_mm2=area,
        mean_hu=float(values.mean()),
        sd_hu=float(values.std()),
        min_hu=float(values.min()),
        max_hu=float(values.max()),
    )


def ellipse_mask(
    shape: tuple[int, int],
    centre: tuple[float, float],
    semi_axes: tuple[float, float],
    angle_deg: float = 0.0,
) -> np.ndarray:
    """bool `shape` mask of the ellipse centred at image point `centre` (x, y) with semi-axes
    (along x, along y before rotation) in pixels, turned by `angle_deg` counter-clockwise as
    seen on screen (y pointing down)."""
    rows, columns = ellipse(
        centre[1] - 0.5,
        centre[0] - 0.5,
        semi_axes[1],
        semi_axes[0],
        shape=shape,
        rotation=np.radians(angle_deg),
    )
    mask = np.zeros(shape, bool)
    mask[rows, columns] = True
    return mask


def polygon_mask(shape: tuple[int, int], points: Sequence[tuple[float, float]]) -> np.ndarray:
    """bool `shape` mask of the closed polygon through image points (x, y) (a freehand outline
    is a polygon with many points)."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    mask = np.zeros(shape, bool)
    if len(xy) >= 3:
        rows, columns = polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape=shape)
        mask[rows, columns] = True
    return mask
