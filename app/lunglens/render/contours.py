"""Outlines of label images drawn into an image: the lungs' contours and the lesions' outlines
coloured by class (ground glass, consolidation), in the viewer's frames (`contour_pixels`,
`paint`) and burnt into the PDF's key images and the DICOM secondary captures (`burn_outlines`),
in the same colours everywhere. Plain numpy + OpenCV.

An outline is the labelled pixels that touch a pixel of another label (4-connected), widened to
`width_px` by a dilation, so a region's edge shows while its inside stays visible."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


@dataclass(frozen=True)
class ContourStyle:
    """RGB colour and name per label value (labels not listed are not drawn) and the line width (px)."""

    colours: Mapping[int, tuple[int, int, int]] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)
    width_px: int = 1

    def __post_init__(self):
        if self.width_px < 1:
            raise ValueError(f"contour width must be at least 1 px, got {self.width_px}")


#: Lung labels (1 right, 2 left: `lunglens.quant.lungs`) in one cool colour.
LUNG_CONTOURS = ContourStyle({1: (80, 200, 255), 2: (80, 200, 255)}, {1: "lung", 2: "lung"})
#: Lesion classes (1 ground glass, 2 consolidation: `lunglens.quant.burden.classify_and_count`).
LESION_CONTOURS = ContourStyle(
    {1: (120, 255, 120), 2: (255, 60, 200)}, {1: "ground glass", 2: "consolidation"}
)


def outline(labels: np.ndarray, width_px: int = 1) -> np.ndarray:
    """bool (y, x): pixels of a non-zero label that touch a pixel of another label, widened to
    `width_px` (inside and outside the edge)."""
    labels = np.ascontiguousarray(labels, np.uint8)
    edge = (cv2.dilate(labels, _CROSS) != labels) | (cv2.erode(labels, _CROSS) != labels)
    edge &= labels > 0
    if width_px > 1:
        edge = cv2.dilate(edge.view(np.uint8), _CROSS, iterations=width_px - 1).astype(bool)
    return edge


def contour_pixels(labels: np.ndarray, style: ContourStyle) -> tuple[np.ndarray, np.ndarray]:
    """(flat pixel indices int64 [k], RGB uint8 [k, 3]) of the outline of each label of `labels`
    (y, x) that `style` colours: what `paint` draws, worked out once per slice."""
    indices, colours = [], []
    for value, colour in style.colours.items():
        region = labels == value
        if not region.any():
            continue
        where = np.flatnonzero(outline(region.view(np.uint8), style.width_px))
        indices.append(where)
        colours.append(np.broadcast_to(np.array(colour, np.uint8), (where.size, 3)))
    if not indices:
        return np.zeros(0, np.int64), np.zeros((0, 3), np.uint8)
    return np.concatenate(indices), np.concatenate(colours)


def paint(frame: np.ndarray, pixels: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A copy of the RGBA uint8 `frame` (y, x, 4) with `pixels` (`contour_pixels`) drawn opaque."""
    out = frame.copy()
    flat = out.reshape(-1, 4)
    indices, colours = pixels
    flat[indices, :3] = colours
    flat[indices, 3] = 255
    return out


def draw_contours(frame: np.ndarray, labels: np.ndarray, style: ContourStyle) -> np.ndarray:
    """A copy of the RGBA uint8 `frame` (y, x, 4) with the outline of each label of `labels`
    (same y, x) that `style` colours drawn opaque in its colour."""
    return paint(frame, contour_pixels(labels, style))


def burn_outlines(
    rgb: np.ndarray, lesion_labels: np.ndarray | None, lung_labels: np.ndarray | None = None
) -> np.ndarray:
    """A copy of `rgb` (y, x, 3 uint8) with the 2-D `lung_labels` contours (`LUNG_CONTOURS`) and
    the outlines of the 2-D `lesion_labels` classes (`LESION_CONTOURS`) drawn in their colours."""
    out = rgb.copy()
    flat = out.reshape(-1, 3)
    for labels, style in ((lung_labels, LUNG_CONTOURS), (lesion_labels, LESION_CONTOURS)):
        if labels is not None:
            indices, colours = contour_pixels(labels, style)
            flat[indices] = colours
    return out
