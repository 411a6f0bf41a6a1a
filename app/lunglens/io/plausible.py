"""The rule that tells Hounsfield units from garbage: a CT slice's values, after the modality
rescale, lie mostly within the physical range of matter in a patient. A wrong RescaleSlope or
RescaleIntercept (NaN-free but 0, negative, huge, an intercept of 1e9) or a wrong BitsStored gives
values far outside it; such a slice is refused with this reason, never classified.

Within that range a wrong scale can still hide: a slice that states no rescale, or another
intercept than its neighbours, reads air near 0 HU instead of -1000 HU. `off_scale_slices` finds
such slices of a series (they are skipped with the reason) and `no_air_problem` a series that
shows no air at all (every chest CT does: lungs, outside the body)."""

from __future__ import annotations

import math
from collections import defaultdict
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


#: HU given to pixels marked as padding (PixelPaddingValue: outside the reconstructed field of
#: view): air.
PADDING_HU = -1024
#: Every chest CT shows air somewhere (lungs, outside the body) at about -1000 HU: a series none of
#: whose slices goes below this shows none, and its values are not HU (a missing intercept of
#: -1024 reads air at about 0 HU).
AIR_SEEN_BELOW_HU = -500
#: Two groups of a series' slices whose air (`air_hu`) differs by more than this (HU) are on
#: different scales: a wrong intercept shifts by about 1000 HU, a real difference is tens of HU.
AIR_DISAGREEMENT_HU = 500


def _rescale_text(rescale: tuple[float, float] | None) -> str:
    return "no rescale stated" if rescale is None else f"slope {rescale[0]:g}, intercept {rescale[1]:g}"


def air_hu(plane: np.ndarray) -> int:
    """The darkest HU of a slice that is not padding (PADDING_HU: padding is air whatever the
    rescale, and so are air pixels clipped at -1024, where the lungs still show): about -1000 on
    a slice in HU, about 0 on one read without its intercept of -1024. A slice of nothing but
    PADDING_HU is air (an empty field of view)."""
    none_left = np.iinfo(np.int16).max
    darkest = int(np.min(plane, where=plane != PADDING_HU, initial=none_left))
    return PADDING_HU if darkest == none_left else darkest


def off_scale_slices(hu: list[np.ndarray], rescales: list[tuple[float, float] | None]) -> dict[int, str]:
    """The slices of a series (`hu[i]` decoded with `rescales[i]`, None where the file states no
    RescaleSlope/RescaleIntercept) not on the HU scale of the rest, with the reason. The slices
    are grouped by rescale (none stated is a group of its own); the reference is the largest group
    whose air (median over its slices of `air_hu`) is air (below AIR_SEEN_BELOW_HU), else the
    largest; another group is off scale when its air lies more than AIR_DISAGREEMENT_HU from the
    reference's. Legitimate differences of rescale (values encoded to match) keep the air in place
    and pass."""
    groups: dict[tuple[float, float] | None, list[int]] = defaultdict(list)
    for index, rescale in enumerate(rescales):
        groups[rescale].append(index)
    if len(groups) < 2:
        return {}
    airs = {
        rescale: float(np.median([air_hu(hu[i]) for i in indices])) for rescale, indices in groups.items()
    }
    common = max(groups, key=lambda r: (airs[r] < AIR_SEEN_BELOW_HU, len(groups[r])))
    reasons: dict[int, str] = {}
    for rescale, indices in groups.items():
        if abs(airs[rescale] - airs[common]) > AIR_DISAGREEMENT_HU:
            reason = (
                f"read air at about {airs[rescale]:.0f} HU where the series' other slices read "
                f"{airs[common]:.0f} HU ({_rescale_text(rescale)} on them, {_rescale_text(common)} on the others): "
                "not on the series' HU scale"
            )
            reasons.update(dict.fromkeys(indices, reason))
    return reasons


def no_air_problem(hu: list[np.ndarray], rescales: list[tuple[float, float] | None]) -> str | None:
    """Why a series whose slices `hu` show no air (`air_hu` below AIR_SEEN_BELOW_HU on none) has
    no HU values, naming the rescale of its first slice, or None when one shows air."""
    if any(air_hu(plane) < AIR_SEEN_BELOW_HU for plane in hu):
        return None
    return (
        f"no slice shows air (below {AIR_SEEN_BELOW_HU} HU; the lungs and the air around the body are "
        "about -1000 HU): its values are not Hounsfield units, or its images hold no chest "
        f"({_rescale_text(rescales[0])} on its first slice; a missing RescaleIntercept reads air at about 0 HU)"
    )
