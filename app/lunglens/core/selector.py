"""The lung-open slice selector of Rahimzadeh et al. (DESIGN.md section 1).

Per slice, count the dark pixels (raw < 300, i.e. HU < -724) inside a fixed central region;
the series threshold is (max(count) - min(count)) / 1.5 (literally: the minimum is not added
back); slices with count > threshold show open lungs and are kept. The region is given for a
512 x 512 image (rows 240-339, columns 120-369) and scaled proportionally for other sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lunglens.io.raw_scale import raw_to_hu

#: The image size the paper's region is defined for (pixels).
REFERENCE_SIZE = 512


@dataclass(frozen=True)
class SelectorParams:
    """The selector's rule as data, with the paper's defaults.

    Region rows [row_start, row_stop) and columns [column_start, column_stop) on a 512 x 512
    image; `dark_below_raw` on the raw scale (HU + 1024); threshold = range / `divisor`."""

    row_start: int = 240
    row_stop: int = 340
    column_start: int = 120
    column_stop: int = 370
    dark_below_raw: int = 300
    divisor: float = 1.5

    def region(self, rows: int, columns: int) -> tuple[slice, slice]:
        """The counting region for an image of `rows` x `columns` pixels: the paper's region
        scaled by rows/512 and columns/512, rounded to the nearest pixel."""
        if rows == REFERENCE_SIZE and columns == REFERENCE_SIZE:
            return slice(self.row_start, self.row_stop), slice(self.column_start, self.column_stop)
        fy, fx = rows / REFERENCE_SIZE, columns / REFERENCE_SIZE
        return (
            slice(round(self.row_start * fy), round(self.row_stop * fy)),
            slice(round(self.column_start * fx), round(self.column_stop * fx)),
        )


@dataclass(frozen=True)
class Selection:
    """The selector's result for one series: per-slice dark-pixel counts, the threshold
    (pixels) and which slices are kept (lung open)."""

    dark_pixel_counts: np.ndarray
    threshold: float
    kept: np.ndarray
    params: SelectorParams

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def kept_indices(self) -> np.ndarray:
        return np.flatnonzero(self.kept)


def dark_pixel_counts(hu: np.ndarray, params: SelectorParams = SelectorParams()) -> np.ndarray:
    """Dark pixels per slice of an HU volume (z, y, x) inside the (scaled) region (int64)."""
    rows, columns = hu.shape[-2:]
    region_rows, region_columns = params.region(rows, columns)
    region = hu[..., region_rows, region_columns]
    # raw = clip(HU + 1024, 0, 65535) < dark_below_raw  <=>  HU < dark_below_raw - 1024
    return np.count_nonzero(region < raw_to_hu(params.dark_below_raw), axis=(-2, -1)).astype(np.int64)


def run_off_ends(kept: np.ndarray) -> tuple[str, ...]:
    """The ends of a series ("first", "last") whose slice the selector kept as lung open: the
    lungs run off the series there, so what is read from it covers only the part scanned."""
    if not len(kept):
        return ()
    return tuple(end for end, index in (("first", 0), ("last", -1)) if kept[index])


def select_slices(hu: np.ndarray, params: SelectorParams = SelectorParams()) -> Selection:
    """Apply the selector to a whole series (HU volume, z first)."""
    counts = dark_pixel_counts(hu, params)
    threshold = float(counts.max() - counts.min()) / params.divisor if counts.size else 0.0
    return Selection(dark_pixel_counts=counts, threshold=threshold, kept=counts > threshold, params=params)
