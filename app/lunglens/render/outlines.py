"""Lesion and lung outlines burnt into an RGB slice (no Qt): outlines, not filled blobs, so the
reader still sees the lesion under them. Used by the PDF's key images and the DICOM secondary
captures alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.segmentation import find_boundaries


@dataclass(frozen=True)
class Outline:
    """A label drawn as an outline: its value in a label image, its name and its colour (RGB)."""

    value: int
    name: str
    rgb: tuple[int, int, int]


#: Lesion classes of `lunglens.quant` (0 none, 1 ground glass, 2 consolidation).
LESION_OUTLINES = (
    Outline(1, "ground glass", (255, 230, 0)),
    Outline(2, "consolidation", (255, 0, 255)),
)
#: Lung labels of `lunglens.quant` (0 outside, 1 right, 2 left): both drawn in one colour.
LUNG_OUTLINE = Outline(0, "lung contour", (0, 200, 255))


def burn_outlines(
    rgb: np.ndarray, lesion_labels: np.ndarray | None, lung_labels: np.ndarray | None = None
) -> np.ndarray:
    """`rgb` (rows x columns x 3 uint8) with the 2-D `lung_labels` contour (between the lungs and
    the rest, and between the two lungs) and each lesion class of the 2-D `lesion_labels` drawn
    in its colour, one pixel wide; a copy, `rgb` is left as it is."""
    out = rgb.copy()
    if lung_labels is not None:
        out[find_boundaries(lung_labels, mode="inner")] = LUNG_OUTLINE.rgb
    if lesion_labels is not None:
        for outline in LESION_OUTLINES:
            out[find_boundaries(lesion_labels == outline.value, mode="inner")] = outline.rgb
    return out
