"""Display windows (width/level in HU) and the mapping of HU to 8-bit grey values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A display window: `width` and `level` (centre) in HU."""

    name: str
    width: float
    level: float

    @property
    def low(self) -> float:
        return self.level - self.width / 2

    @property
    def high(self) -> float:
        return self.level + self.width / 2


#: The presets radiologists expect (DESIGN.md section 5). The file's own window comes from the
#: series metadata (middle slice).
PRESETS = (
    Window("Lung", 1500, -600),
    Window("Mediastinum", 400, 40),
    Window("Bone", 2500, 480),
)


def to_grey(hu: np.ndarray, window: Window) -> np.ndarray:
    """HU → uint8 grey (0 at level - width/2, 255 at level + width/2), linear in between."""
    scale = 255.0 / max(window.width, 1.0)
    grey = (hu.astype(np.float32) - np.float32(window.low)) * np.float32(scale)
    return np.clip(grey, 0, 255).astype(np.uint8)


def grey_to_hu(grey: np.ndarray, window: Window) -> np.ndarray:
    """Grey 0..255 of an image rendered with `window` -> HU (float64), the inverse of the linear
    part of `to_grey`: 0 -> level - width/2, 255 -> level + width/2. What the rendering clipped
    (below 0, above 255) is not recovered."""
    return window.low + np.asarray(grey, dtype=np.float64) * (max(window.width, 1.0) / 255.0)


def hu_to_grey_level(hu: np.ndarray, window: Window) -> np.ndarray:
    """HU -> grey 0..255 (float64) of `window`, linear and clipped like `to_grey` but not quantised
    to 8 bits."""
    return np.clip((np.asarray(hu, dtype=np.float64) - window.low) * (255.0 / max(window.width, 1.0)), 0, 255)
