"""Lung segmentation of one axial CT slice by threshold and morphology.

A simple, robust method for lesion insertion and tests, not a clinical tool: the body is the
largest dense component (table and clothing cut off by an opening), the lungs are the air
inside the body outline, each lung component is filled (vessels, airway walls, juxta-pleural
nodules) and components too small to be a lung (trachea, bowel gas, skin folds) are dropped.
Sizes are scaled with the image size relative to 512 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LungMaskParams:
    """Thresholds (HU) and sizes (in pixels of a 512-pixel image, scaled for other sizes)."""

    body_threshold_hu: float = -500.0
    """Pixels above this are body (or table, clothing) tissue."""
    air_threshold_hu: float = -400.0
    """Pixels below this inside the body are air: lung, airway or gas."""
    body_opening_px: int = 7
    """Opening kernel that detaches the table and thin clothing from the body."""
    lung_closing_px: int = 9
    """Closing kernel that brings juxta-pleural vessels and nodules into the lung."""
    min_lung_area_fraction: float = 0.0025
    """A lung component covers at least this fraction of the image (the trachea is ~0.2 %)."""
    min_fraction_of_largest: float = 0.08
    """...and at least this fraction of the largest air component in the body."""
    max_hole_fraction: float = 0.01
    """Holes in a lung component up to this fraction of the image are filled (vessels); larger
    enclosed regions (the mediastinum, when main bronchi join both lungs) are not."""


def _scaled_kernel(size_px: int, image_size: int) -> np.ndarray:
    size = max(3, int(round(size_px * image_size / 512)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _filled_components(binary: np.ndarray, keep: list[int], labels: np.ndarray) -> np.ndarray:
    """The listed label components with their holes filled (outer contours drawn filled)."""
    out = np.zeros(binary.shape, np.uint8)
    for label in keep:
        component = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out


def body_mask(hu_slice: np.ndarray, params: LungMaskParams | None = None) -> np.ndarray:
    """The patient's body outline (bool, holes filled) in one axial slice given in HU."""
    params = params or LungMaskParams()
    hu = np.asarray(hu_slice, dtype=np.float32)
    image_size = max(hu.shape)
    dense = (hu > params.body_threshold_hu).astype(np.uint8)
    dense = cv2.morphologyEx(dense, cv2.MORPH_OPEN, _scaled_kernel(params.body_opening_px, image_size))
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(dense, connectivity=8)
    if n_labels < 2:
        return np.zeros(hu.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return _filled_components(dense, [largest], labels).astype(bool)


def lung_mask(hu_slice: np.ndarray, params: LungMaskParams | None = None) -> np.ndarray:
    """Boolean mask of both lungs in one axial slice given in HU (any size, 2-D).

    Air outside the body and in the table is excluded; vessels and airway walls inside the
    lungs are included; the trachea, main bronchi and small gas pockets are dropped. A slice
    without lungs (neck, abdomen) gives an empty or nearly empty mask.
    """
    params = params or LungMaskParams()
    hu = np.asarray(hu_slice, dtype=np.float32)
    if hu.ndim != 2:
        raise ValueError(f"lung_mask expects one 2-D slice, got shape {hu.shape}")
    image_size = max(hu.shape)
    body = body_mask(hu, params)
    # Shrink the body by the opening size so skin folds and partial-volume rims do not count.
    inner_body = cv2.erode(body.astype(np.uint8), _scaled_kernel(params.body_opening_px, image_size))
    air = ((hu < params.air_threshold_hu) & inner_body.astype(bool)).astype(np.uint8)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(air, connectivity=8)
    if n_labels < 2:
        return np.zeros(hu.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    min_area = max(params.min_lung_area_fraction * hu.size, params.min_fraction_of_largest * areas.max())
    keep = [1 + i for i in np.flatnonzero(areas >= min_area)]
    lungs = np.isin(labels, keep).astype(np.uint8)
    # Close only the kept components, so the dropped trachea is not bridged back in.
    lungs = cv2.morphologyEx(lungs, cv2.MORPH_CLOSE, _scaled_kernel(params.lung_closing_px, image_size))
    lungs &= inner_body
    n_labels, labels = cv2.connectedComponents(lungs, connectivity=8)
    filled = _filled_components(lungs, list(range(1, n_labels)), labels)
    # Fill only hole-sized holes: vessels and nodules, not a mediastinum enclosed by bronchi
    # that bridge both lungs at the carina.
    holes = filled & (1 - lungs)
    n_holes, hole_labels, hole_stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    too_big = np.flatnonzero(hole_stats[1:, cv2.CC_STAT_AREA] > params.max_hole_fraction * hu.size) + 1
    filled[np.isin(hole_labels, too_big)] = 0
    return filled.astype(bool)
