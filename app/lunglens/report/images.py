"""The report's key images: which slices to show, and each slice in the lung window with and
without its Grad-CAM overlay, as uint8 arrays."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lunglens.analysis import Analysis
from lunglens.core.windowing import PRESETS, Window, to_grey
from lunglens.inference.postprocess import cam_for_display

#: The window the key images are shown in: Lung, W 1500 / L -600 HU.
LUNG_WINDOW: Window = next(w for w in PRESETS if w.name == "Lung")
#: The overlay is drawn where the slice's CAM (divided by its maximum) is at least this much.
CAM_VISIBLE_FROM = 0.2
#: Weight of the colour map where the overlay is drawn (the grey image has 1 - this).
OVERLAY_OPACITY = 0.45
#: At most this many key images when several slices are positive.
MAX_KEY_SLICES = 4


@dataclass(frozen=True)
class KeyImage:
    """One key slice: its index in the series, position (mm), P(COVID), whether it is positive,
    and the slice in the lung window without the Grad-CAM (`plain`, grey uint8, rows x columns)
    and with it (`overlay`, RGB uint8, rows x columns x 3)."""

    index: int
    position_mm: float
    p_covid: float
    positive: bool
    plain: np.ndarray
    overlay: np.ndarray


def key_slices(analysis: Analysis, limit: int = MAX_KEY_SLICES) -> list[int]:
    """The most suspicious kept slices, by P(COVID) from highest: the positive ones (at most
    `limit`), or the single most suspicious kept slice when none is positive; ties keep series
    order. Empty when no kept slice was classified."""
    scored = np.flatnonzero(analysis.selection.kept & analysis.classified)
    order = scored[np.argsort(-analysis.p_covid[scored], kind="stable")]
    positive = [int(i) for i in order if analysis.decision.positive[i]]
    return positive[:limit] if positive else [int(i) for i in order[:1]]


def jet(values: np.ndarray) -> np.ndarray:
    """Values in 0..1 (any shape) → RGB uint8 colours (shape + (3,)) of OpenCV's jet colour map
    (blue at 0, red at 1)."""
    grey = np.clip(np.asarray(values, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if grey.size == 0:  # OpenCV answers None for an empty image (a slice whose CAM is all zero)
        return np.zeros((*grey.shape, 3), np.uint8)
    bgr = cv2.applyColorMap(grey.reshape(-1, 1), cv2.COLORMAP_JET)
    return bgr[:, 0, ::-1].reshape(*grey.shape, 3)


def overlay_cam(grey: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Blend the jet-coloured `cam` (0..1, same shape as `grey`) onto the uint8 `grey` slice
    where cam >= CAM_VISIBLE_FROM; elsewhere the grey image is unchanged. Returns RGB uint8."""
    rgb = np.repeat(grey[..., None], 3, axis=2)
    shown = cam >= CAM_VISIBLE_FROM
    colours = jet(cam[shown]).astype(np.float32)
    blended = (1 - OVERLAY_OPACITY) * rgb[shown].astype(np.float32) + OVERLAY_OPACITY * colours
    rgb[shown] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return rgb


def key_images(analysis: Analysis, hu: np.ndarray) -> list[KeyImage]:
    """The key slices of `analysis` from the series volume `hu` (int16 HU, z, y, x)."""
    images = []
    for index in key_slices(analysis):
        grey = to_grey(hu[index], LUNG_WINDOW)
        cam = cam_for_display(analysis.cams[index], grey.shape)
        images.append(
            KeyImage(
                index=index,
                position_mm=float(analysis.positions_mm[index]),
                p_covid=float(analysis.p_covid[index]),
                positive=bool(analysis.decision.positive[index]),
                plain=grey,
                overlay=overlay_cam(grey, cam),
            )
        )
    return images
