"""Lesion burden methods behind one interface, and the HU bands (Slicer Lung CT Analyzer).

A `LesionMethod` marks the affected lung voxels of a series. Two methods fit:
- `HUBandMethod`: affected = ground glass or consolidation by HU inside the lung mask, less the
  thin partial-volume rims (an in-plane opening). A threshold estimate: it also counts vessels,
  airway walls, fissures and the dependent density of the lung bases, so it is never zero on a
  healthy lung.
- `ProbabilityMapMethod`: a learned lesion map (a per-pixel lesion probability, e.g. from
  `lunglens.quant.lesion_map`) thresholded inside the lung mask.
Whatever the method, the affected region is split into ground glass and consolidation by HU
(`lunglens.quant.burden.classify_and_count`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from lunglens.inference.predict import CancelFlag
from lunglens.quant.result import LesionModelRecord
from lunglens.threads import for_each_slice

GGO_CLASS = 1
CONSOLIDATION_CLASS = 2

HU_BANDS = "hu_bands"
"""The name of `HUBandMethod`, as `quantification.method` records it."""


@dataclass(frozen=True)
class HUBand:
    """A density band: low_hu <= HU < high_hu."""

    name: str
    low_hu: float
    high_hu: float


@dataclass(frozen=True)
class HUBands:
    """The bands of Slicer's Lung CT Analyzer (HU)."""

    emphysema: HUBand = HUBand("emphysema", -1050.0, -950.0)
    aerated: HUBand = HUBand("aerated", -950.0, -750.0)
    ground_glass: HUBand = HUBand("ground glass / infiltrated", -750.0, -400.0)
    consolidation: HUBand = HUBand("consolidated / collapsed", -400.0, 0.0)

    def to_dict(self) -> dict:
        return {
            key: [band.low_hu, band.high_hu]
            for key, band in (
                ("emphysema", self.emphysema),
                ("aerated", self.aerated),
                ("ground_glass", self.ground_glass),
                ("consolidation", self.consolidation),
            )
        }


class LesionMethod(Protocol):
    """Marks affected lung voxels. `name` goes into the result; `description` says what the
    number is and what it cannot tell; `lesion_model` is the model that marks (None for a rule)."""

    name: str
    description: str
    lesion_model: LesionModelRecord | None

    def affected(
        self,
        hu: np.ndarray,
        lung_labels: np.ndarray,
        voxel_mm: tuple[float, float, float],
        cancel: CancelFlag | None = None,
    ) -> np.ndarray:
        """Bool (z, y, x): affected voxels, only where `lung_labels` > 0. `hu` int16 HU,
        `voxel_mm` (slice spacing, row spacing, column spacing). A slow method checks `cancel`
        as it goes (raises `lunglens.inference.Cancelled`)."""
        ...


def opening_size(radius_mm: float, pixel_mm: tuple[float, float]) -> tuple[int, int, int]:
    """The (1, rows, columns) size of the in-plane square used for the opening: odd, half-width
    the number of whole pixels in `radius_mm`."""
    return (1, *(2 * int(np.floor(radius_mm / p)) + 1 for p in pixel_mm))


@dataclass(frozen=True)
class HUBandMethod:
    """Affected = ground glass or consolidation band (-750 <= HU < 0 by default) inside the lung,
    opened in-plane with a square reaching `opening_radius_mm` from its centre (whole pixels):
    the one- or two-pixel partial-volume rims of vessels, airway walls and the pleura fall out,
    opacities wider than the square stay (0: the plain bands of Slicer's Lung CT Analyzer)."""

    bands: HUBands = field(default_factory=HUBands)
    opening_radius_mm: float = 2.0
    name: str = HU_BANDS
    lesion_model = None
    """A rule, no model (`LesionMethod.lesion_model`)."""

    @property
    def description(self) -> str:
        """What the number is and what it cannot tell, from the bands and the opening."""
        ggo, consolidation = self.bands.ground_glass, self.bands.consolidation
        square_mm = 2 * self.opening_radius_mm
        opening = (
            f", opened in-plane (about {square_mm:g} mm square) to drop vessel and pleural rims"
            if self.opening_radius_mm > 0
            else ", not opened"
        )
        thinner = f", misses opacities thinner than {square_mm:g} mm" if self.opening_radius_mm > 0 else ""
        return (
            "threshold estimate: HU bands of Slicer's Lung CT Analyzer inside the lung mask (ground glass "
            f"{ggo.low_hu:g} to {ggo.high_hu:g} HU, consolidation {consolidation.low_hu:g} to "
            f"{consolidation.high_hu:g} HU){opening}; it still counts vessels, airway walls, fissures and "
            f"dependent density (never zero on a healthy lung){thinner}, and counts tissue at or above "
            f"{consolidation.high_hu:g} HU as vessel, not lesion"
        )

    def affected(
        self,
        hu: np.ndarray,
        lung_labels: np.ndarray,
        voxel_mm: tuple[float, float, float],
        cancel: CancelFlag | None = None,
    ) -> np.ndarray:
        """The bands are fast (a fraction of a second): `cancel` is not checked."""
        low, high = self.bands.ground_glass.low_hu, self.bands.consolidation.high_hu
        out = np.zeros(hu.shape, bool)
        lung_slices = np.flatnonzero(lung_labels.any(axis=(1, 2)))
        if lung_slices.size == 0:
            return out
        size = opening_size(self.opening_radius_mm, voxel_mm[1:])
        square = np.ones(size[1:], np.uint8)
        plane = lung_labels[lung_slices[0] : lung_slices[-1] + 1].any(axis=0)
        rows, cols = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)

        def affected_slice(z: int) -> None:
            slab = hu[z, ys, xs]
            band = ((slab >= low) & (slab < high) & (lung_labels[z, ys, xs] > 0)).view(np.uint8)
            if size != (1, 1, 1):  # opening = erosion then dilation by the square (OpenCV, separable)
                band = cv2.morphologyEx(band, cv2.MORPH_OPEN, square)
            out[z, ys, xs] = band.view(bool)

        for_each_slice(affected_slice, lung_slices)
        return out


ProbabilityFunction = Callable[
    [np.ndarray, np.ndarray, tuple[float, float, float], "CancelFlag | None"], np.ndarray
]
"""(hu, lung_labels, voxel_mm, cancel) -> lesion probability per voxel, float in [0, 1], same
shape; `cancel` is checked as it goes (raises `lunglens.inference.Cancelled`)."""


@dataclass(frozen=True)
class ProbabilityMapMethod:
    """Affected = a learned lesion probability at least `threshold`, inside the lung mask;
    `lesion_model` is the model behind `probability`, recorded in the result."""

    probability: ProbabilityFunction
    name: str
    description: str
    threshold: float = 0.5
    lesion_model: LesionModelRecord | None = None

    def affected(
        self,
        hu: np.ndarray,
        lung_labels: np.ndarray,
        voxel_mm: tuple[float, float, float],
        cancel: CancelFlag | None = None,
    ) -> np.ndarray:
        probability = np.asarray(self.probability(hu, lung_labels, voxel_mm, cancel))
        if probability.shape != hu.shape:
            raise ValueError(
                f"lesion probability map {probability.shape} does not match the series {hu.shape}"
            )
        return (probability >= self.threshold) & (lung_labels > 0)
