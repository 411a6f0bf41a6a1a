"""Post-processing of the model outputs: P(COVID) per slice and compact Grad-CAM maps."""

from __future__ import annotations

import cv2
import numpy as np


def covid_probability(probabilities: np.ndarray, covid_index: int) -> np.ndarray:
    """The COVID column of `probabilities` [n, 2], as float64."""
    return probabilities[:, covid_index].astype(np.float64)


def compact_cam(cam: np.ndarray) -> np.ndarray:
    """Model CAM [n, 1, h, w] → float16 [n, h, w] (non-negative): 2 bytes a cell, so a 600-slice
    series at 32 x 32 takes 1.2 MB."""
    return np.maximum(cam[:, 0], 0).astype(np.float16)


def cam_for_display(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One compact CAM [h, w] → float32 [rows, columns] in 0..1 (divided by its maximum; zero
    stays zero), resized bilinearly to the slice `shape`."""
    cam = cam.astype(np.float32)
    peak = float(cam.max())
    if peak > 0:
        cam = cam / peak
    return cv2.resize(cam, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
