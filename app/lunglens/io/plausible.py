"""The rule that tells Hounsfield units from garbage: a CT slice's values, after the modality
rescale, lie mostly within the physical range of matter in a patient. A wrong RescaleSlope or
RescaleIntercept (NaN-free but 0, negative, huge, an intercept of 1e9) or a wrong BitsStored gives
values far outside it; such a slice is refused with this reason, never classified."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhysicalRange:
    """HU that matter in a patient can have, and how much of a slice must lie within them.

    Air is -1000 HU (scanner noise reaches a little below); dense bone about +2000, metal up to
    +4000 on a standard scale. Pixels outside the reconstructed field of view are often stored
    as -2000, -2048 or -3024 without a PixelPaddingValue (about a fifth of a square slice around
    the round field of view), and metal on an extended scale exceeds +4000, so the rule is a
    fraction, not a limit on every pixel: a slice is usable when at least `min_inside_fraction`
    of its pixels lie within `low_hu`...`high_hu`."""

    low_hu: float = -1100.0
    high_hu: float = 4000.0
    min_inside_fraction: float = 0.5

    def inside_fraction(self, hu: np.ndarray) -> float:
        """The fraction of `hu` pixels within low_hu..high_hu (0..1)."""
        if hu.size == 0:
            return 0.0
        low, high = math.ceil(self.low_hu), math.floor(self.high_hu)  # integers keep int16 compares int16
        inside = np.count_nonzero((hu >= low) & (hu <= high))
        return inside / hu.size

    def problem(self, hu: np.ndarray) -> str | None:
        """None when the slice `hu` holds Hounsfield units by this rule, else the reason."""
        fraction = self.inside_fraction(hu)
        if fraction >= self.min_inside_fraction:
            return None
        return (
            f"values are not Hounsfield units of a CT slice: {fraction:.0%} of pixels within "
            f"{self.low_hu:g}...{self.high_hu:g} HU (at least {self.min_inside_fraction:.0%} needed)"
        )


#: The rule the loader applies to every DICOM and TIFF slice.
PHYSICAL_HU = PhysicalRange()
