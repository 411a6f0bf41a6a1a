"""Post-processing of the model outputs: P(COVID) per slice and compact Grad-CAM maps."""

from __future__ import annotations

import cv2
import numpy as np

#: How far a row of probabilities may sum from 1 (float32 softmax rounding is about 1e-7).
PROBABILITY_SUM_TOLERANCE = 1e-3


def output_problem(
    probabilities: np.ndarray, cam: np.ndarray, n: int, cam_size: tuple[int, int]
) -> str | None:
    """Why a model's outputs for `n` slices break the contract, or None: `probabilities` must be
    [n, 2] probabilities (finite, within 0..1, each row summing to 1) and `cam` [n, 1, h, w]
    finite. A model that answers NaN gives no verdict."""
    if probabilities.shape != (n, 2):
        return f"output probabilities of shape {probabilities.shape}, expected ({n}, 2)"
    if cam.shape != (n, 1, *cam_size):
        return f"output cam of shape {cam.shape}, expected ({n}, 1, {cam_size[0]}, {cam_size[1]})"
    p = probabilities.astype(np.float64)
    bad = ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p > 1).any(axis=1)
    bad |= np.abs(p.sum(axis=1) - 1) > PROBABILITY_SUM_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        return (
            f"output probabilities are not probabilities ({int(bad.sum())} of {n} slices, e.g. "
            f"{p[row].tolist()}: each must be two numbers in 0..1 summing to 1)"
        )
    if not np.isfinite(cam).all():
        return "output cam holds values that are not finite numbers"
    return None


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
