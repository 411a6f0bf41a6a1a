"""Fixtures for the synthetic package: a simple, fully known chest-like slice."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

LUNG_NOISE_STD_HU = 25.0


def simple_chest_slice(size: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D slice in HU: air outside, a soft-tissue ellipse body, two lungs at -850 HU with a
    few vessels, a round trachea, a table strip below, and Gaussian noise everywhere.
    Returns (hu int16, true lung mask bool)."""
    rng = np.random.default_rng(seed)
    s = size / 512
    hu = np.full((size, size), -1000.0, np.float32)
    cv2.ellipse(hu, (size // 2, size // 2), (int(220 * s), int(160 * s)), 0, 0, 360, 40.0, -1)
    cv2.rectangle(hu, (int(40 * s), int(450 * s)), (int(470 * s), int(460 * s)), 200.0, -1)
    lungs = np.zeros((size, size), np.uint8)
    for cx in (size // 2 - int(95 * s), size // 2 + int(95 * s)):
        cv2.ellipse(lungs, (cx, size // 2 + int(10 * s)), (int(75 * s), int(115 * s)), 0, 0, 360, 1, -1)
    lung = lungs.astype(bool)
    hu[lung] = -850.0
    for k in range(12):
        angle = rng.uniform(0, 2 * np.pi)
        cx = size // 2 + (-1) ** k * int(95 * s)
        end = (int(cx + 60 * s * np.cos(angle)), int(size // 2 + 90 * s * np.sin(angle)))
        cv2.line(hu, (cx, size // 2), end, 20.0, max(1, int(2 * s)))
    hu[~lung & (hu == 20.0)] = 40.0
    cv2.circle(hu, (size // 2, size // 2 - int(90 * s)), int(10 * s), -1000.0, -1)
    hu += rng.normal(0.0, LUNG_NOISE_STD_HU, hu.shape).astype(np.float32)
    return np.rint(hu).astype(np.int16), lung


@pytest.fixture
def chest_slice() -> tuple[np.ndarray, np.ndarray]:
    """A 512x512 `simple_chest_slice` (HU int16, true lung mask)."""
    return simple_chest_slice()


@pytest.fixture
def make_chest_slice():
    """The `simple_chest_slice` factory, for other sizes and seeds."""
    return simple_chest_slice
