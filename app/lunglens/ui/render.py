"""Display images for one slice, cached: grey values for the current window with the Grad-CAM
overlay blended in exactly as the PDF report draws it (`lunglens.render.overlay`: inferno,
inside the body, weighted by the slice's P(COVID), fill or outline). Slice changes then cost a
dictionary look-up and one `setImage` call."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lunglens.core.windowing import Window, to_grey
from lunglens.render.overlay import (
    DEFAULT_STYLE,
    OverlayStyle,
    blend,
    blend_table,
    body_mask,
    colour_index,
    overlay_lut,
    slice_weight,
)


class DisplayCache:
    """Per-slice RGBA frames ready to paint: the grey slice under the current window with, for
    analysed slices, the Grad-CAM blended in through a 256 x 256 (grey, colour index) table per
    colour weight (a multiple of `WEIGHT_STEP`, so at most 51 tables of 256 KB). One RGBA8888 image is the fastest thing for Qt to draw (about 2 ms for a
    512 x 512 slice against 4+ ms for each grey or indexed layer).
    The Grad-CAM is drawn with `style` (`set_style`), inside the body found on the slice.
    Keeps at most `max_slices` frames and colour indices (64 x 512 x 512 x 5 bytes = 84 MB),
    dropping the oldest."""

    def __init__(self, max_slices: int = 64, style: OverlayStyle = DEFAULT_STYLE):
        self.max_slices = max_slices
        self.style = style
        self._frames: dict[tuple, np.ndarray] = {}
        self._index: dict[tuple, np.ndarray | None] = {}
        self._blend: dict[tuple, np.ndarray] = {}

    def clear(self) -> None:
        """Forget every frame and Grad-CAM map (a new series or a new analysis)."""
        self._frames.clear()
        self._index.clear()

    def set_style(self, style: OverlayStyle) -> None:
        """Draw the Grad-CAM with `style` from now on (frames of other styles age out)."""
        self.style = style

    def blend_table(self, weight: float) -> np.ndarray:
        """uint32 [65536] (`lunglens.render.overlay.blend_table`) of the current style's colours
        at `weight` (0..1), cached per (fill or outline, weight)."""
        key = (self.style.outline, self.style.visible_from, self.style.opaque_at, weight)
        table = self._blend.get(key)
        if table is None:
            table = self._blend[key] = blend_table(overlay_lut(self.style), weight)
        return table

    def frame(
        self,
        index: int,
        hu: np.ndarray,
        window: Window,
        cam: np.ndarray | None = None,
        opacity: float = 0.0,
        p_covid: float | None = None,
        cutoff: float | None = None,
    ) -> np.ndarray:
        """uint8 (y, x, 4) of slice `index` (HU `hu`) under `window`, with the compact CAM `cam`
        [h, w] blended in at `opacity` (0..1) when given, weighted by the slice's `p_covid`
        against the slice `cutoff` as the style says (None: not weighted). One table look-up
        per pixel."""
        weight = 0.0 if cam is None else self.overlay_weight(opacity, p_covid, cutoff)
        key = (index, window, weight, self.style if weight > 0 else None)
        frame = self._frames.get(key)
        if frame is not None:
            return frame
        colours = self.colour_index(index, cam, hu) if weight > 0 else None
        frame = blend(to_grey(hu, window), colours, self.blend_table(weight if colours is not None else 0.0))
        return self._store(self._frames, key, frame)

    def overlay_weight(self, opacity: float, p_covid: float | None, cutoff: float | None) -> float:
        """How strongly a slice's Grad-CAM is drawn (0..1; 0: not at all) at `opacity` in this
        style (`lunglens.render.overlay.slice_weight`)."""
        return slice_weight(p_covid, cutoff, replace(self.style, opacity=opacity))

    def colour_index(self, index: int, cam: np.ndarray, hu: np.ndarray) -> np.ndarray | None:
        """uint8 (y, x) colour index of slice `index` (`lunglens.render.overlay.colour_index`)
        inside the body found on `hu`, or None when nothing is drawn; cached per slice and style."""
        key = (index, self.style.outline, self.style.outline_levels, self.style.outline_width_px)
        if key not in self._index:
            return self._store(self._index, key, colour_index(cam, hu.shape, body_mask(hu), self.style))
        return self._index[key]

    def _store(self, cache: dict, key, image):
        if len(cache) >= self.max_slices:
            cache.pop(next(iter(cache)))
        cache[key] = image
        return image
