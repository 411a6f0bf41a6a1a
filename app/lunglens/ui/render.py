"""Display images for one slice, cached: grey values for the current window and the Grad-CAM
colour overlay. Slice changes then cost a dictionary look-up and two `setImage` calls."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from lunglens.core.windowing import Window, to_grey
from lunglens.inference.postprocess import cam_for_display

#: Colour map of the overlay (perceptually uniform, readable on grey CT).
OVERLAY_COLOURMAP = "inferno"


def overlay_lut() -> np.ndarray:
    """uint8 [256, 3] RGB look-up table of the overlay colour map."""
    return pg.colormap.get(OVERLAY_COLOURMAP).getLookupTable(nPts=256, alpha=False).astype(np.uint8)


class DisplayCache:
    """Per-slice grey images (for one window at a time) and CAM overlays (RGBA uint8 with alpha
    growing with the CAM value, so cold regions stay transparent)."""

    def __init__(self, max_grey: int = 64):
        self.max_grey = max_grey
        self._window: Window | None = None
        self._grey: dict[int, np.ndarray] = {}
        self._overlay: dict[int, np.ndarray] = {}
        self._lut = overlay_lut()

    def clear(self) -> None:
        self._grey.clear()
        self._overlay.clear()

    def grey(self, index: int, hu: np.ndarray, window: Window) -> np.ndarray:
        """uint8 (y, x) of slice `index` (HU `hu`) under `window`."""
        if window != self._window:
            self._window = window
            self._grey.clear()
        grey = self._grey.get(index)
        if grey is None:
            if len(self._grey) >= self.max_grey:
                self._grey.pop(next(iter(self._grey)))
            grey = self._grey[index] = to_grey(hu, window)
        return grey

    def overlay(self, index: int, cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """RGBA uint8 (y, x, 4) of the compact CAM `cam` [h, w] resized to `shape`."""
        rgba = self._overlay.get(index)
        if rgba is None:
            heat = cam_for_display(cam, shape)
            rgba = np.empty((*shape, 4), np.uint8)
            rgba[..., :3] = self._lut[(heat * 255).astype(np.uint8)]
            rgba[..., 3] = (np.clip(heat * 1.5, 0.0, 1.0) * 255).astype(np.uint8)
            self._overlay[index] = rgba
        return rgba
