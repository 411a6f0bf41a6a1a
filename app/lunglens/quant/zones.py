"""Six lung zones: each lung's cranio-caudal extent cut into thirds (zones, not lobes).

There is no lobe segmentation without model weights, so LungLens reports zones. A lung's extent
runs from the position (mm along the head-foot axis) of its most superior slice to that of its
most inferior slice; with `third = (top - bottom) / 3` a slice at position p belongs to
  upper   when p >= top - third,
  middle  when top - 2 * third <= p < top - third,
  lower   when p < top - 2 * third.
Each lung is cut by its own extent, so the right and left zones need not share slices.
"""

from __future__ import annotations

import numpy as np

from lunglens.quant.lungs import LEFT_LUNG, LUNG_LABELS, RIGHT_LUNG

THIRDS = ("upper", "middle", "lower")


def zone_name(lung: str, third: str) -> str:
    """The key of a zone in a quantification's zones: "right_upper" for ("right", "upper")."""
    return f"{lung}_{third}"


ZONE_NAMES = tuple(
    zone_name(LUNG_LABELS[side], third) for side in (RIGHT_LUNG, LEFT_LUNG) for third in THIRDS
)
"""right_upper, right_middle, right_lower, left_upper, left_middle, left_lower."""

ZONE_DEFINITION = (
    "zones, not lobes: each lung's cranio-caudal extent (its most superior to its most inferior "
    "slice, by slice position in mm) cut into equal thirds (upper, middle, lower); "
    "no lobe segmentation is done"
)

NO_ZONE = -1


def slice_thirds(lung_on_slice: np.ndarray, positions_mm: np.ndarray) -> np.ndarray:
    """Per slice and lung, the third it belongs to: 0 upper, 1 middle, 2 lower, -1 (NO_ZONE)
    outside the lung's extent.

    `lung_on_slice` is bool (n_slices, 2): column 0 the right lung, column 1 the left lung is
    present on that slice. `positions_mm` (n_slices,) is larger = more superior."""
    positions = np.asarray(positions_mm, dtype=float)
    present = np.asarray(lung_on_slice, dtype=bool)
    thirds = np.full(present.shape, NO_ZONE, np.int8)
    for column in range(present.shape[1]):
        on = np.flatnonzero(present[:, column])
        if on.size == 0:
            continue
        top, bottom = positions[on].max(), positions[on].min()
        third = (top - bottom) / 3.0
        inside = (positions <= top) & (positions >= bottom)
        which = np.where(positions >= top - third, 0, np.where(positions >= top - 2.0 * third, 1, 2))
        thirds[inside, column] = which[inside]
    return thirds
