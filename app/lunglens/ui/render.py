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


def overlay_lut_rgba() -> np.ndarray:
    """uint8 [256, 4]: the overlay colours with alpha zero below 30 % of the Grad-CAM's peak,
    rising to opaque at 80 %, so only the regions that drove the call are tinted."""
    rgba = np.empty((256, 4), np.uint8)
    rgba[:, :3] = overlay_lut()
    rgba[:, 3] = (np.clip((np.linspace(0.0, 1.0, 256) - 0.3) / 0.5, 0.0, 1.0) * 255).astype(np.uint8)
    return rgba


class DisplayCache:
    """Per-slice RGBA frames ready to paint: the grey slice under the current window with, for
    analysed slices, the Grad-CAM blended in through a 256 x 256 (grey, heat) table per opacity.
    One RGBA8888 image is the fastest thing for Qt to draw (about 2 ms for a 512 x 512 slice
    against 4+ ms for each grey or indexed layer).
    Keeps at most `max_slices` frames and Grad-CAM maps (64 x 512 x 512 x 5 bytes = 84 MB),
    dropping the oldest."""

    def __init__(self, max_slices: int = 64):
        self.max_slices = max_slices
        self._frames: dict[tuple, np.ndarray] = {}
        self._heat: dict[int, np.ndarray] = {}
        self._blend: dict[float, np.ndarray] = {}
        self._lut = overlay_lut_rgba()

    def clear(self) -> None:
        """Forget every frame and Grad-CAM map (a new series or a new analysis)."""
        self._frames.clear()
        self._heat.clear()

    def blend_table(self, opacity: float) -> np.ndarray:
        """uint32 [65536]: the RGBA pixel (packed) for grey g and Grad-CAM value h at index
        g * 256 + h, with the overlay colour mixed in at its alpha x `opacity` (0..1)."""
        table = self._blend.get(opacity)
        if table is None:
            grey = np.arange(256, dtype=np.float32)[:, None, None]
            colour = self._lut[None, :, :3].astype(np.float32)
            alpha = self._lut[None, :, 3:].astype(np.float32) / 255 * opacity
            rgba = np.full((256, 256, 4), 255, np.uint8)
            rgba[..., :3] = np.rint(grey * (1 - alpha) + colour * alpha)
            table = self._blend[opacity] = rgba.view(np.uint32).reshape(65536)
        return table

    def frame(
        self, index: int, hu: np.ndarray, window: Window, cam: np.ndarray | None = None, opacity: float = 0.0
    ) -> np.ndarray:
        """uint8 (y, x, 4) of slice `index` (HU `hu`) under `window`, with the compact CAM `cam`
        [h, w] blended in at `opacity` (0..1) when given. One table look-up per pixel."""
        opacity = round(opacity, 2) if cam is not None else 0.0
        key = (index, window, opacity)
        frame = self._frames.get(key)
        if frame is not None:
            return frame
        pair = to_grey(hu, window).astype(np.uint16) << 8
        if opacity > 0:
            pair |= self.heat(index, cam, hu.shape)
        frame = self.blend_table(opacity)[pair].view(np.uint8).reshape(*hu.shape, 4)
        return self._store(self._frames, key, frame)

    def heat(self, index: int, cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """uint8 (y, x) of the compact CAM `cam` [h, w] resized to `shape`, 255 at its peak."""
        heat = self._heat.get(index)
        if heat is None:
            heat = self._store(self._heat, index, (cam_for_display(cam, shape) * 255).astype(np.uint8))
        return heat

    def _store(self, cache: dict, key, image: np.ndarray) -> np.ndarray:
        if len(cache) >= self.max_slices:
            cache.pop(next(iter(cache)))
        cache[key] = image
        return image
