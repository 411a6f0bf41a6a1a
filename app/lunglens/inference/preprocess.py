"""Pre-processing: HU slices → the model's input (raw scale, 512 x 512, float32)."""

from __future__ import annotations

import cv2
import numpy as np

from lunglens.io.raw_scale import hu_to_raw

MODEL_SIZE = 512
"""Input side of every model honouring the contract (pixels)."""


def to_model_input(hu_slices: np.ndarray, size: int = MODEL_SIZE) -> np.ndarray:
    """HU slices (n, y, x) → float32 (n, 1, size, size) on the raw scale clip(HU + 1024, 0, 65535).
    Slices of another size are resized with area interpolation (averaging, no aliasing)."""
    raw = hu_to_raw(hu_slices)
    if raw.shape[-2:] != (size, size):
        raw = np.stack([cv2.resize(plane, (size, size), interpolation=cv2.INTER_AREA) for plane in raw])
    return raw[:, None, :, :]
