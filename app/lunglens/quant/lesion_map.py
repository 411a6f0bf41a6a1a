"""Dense lesion-probability maps from the Polat et al. (2021) patch CNN (no torch, no Qt).

The lesion model (DESIGN.md section 9) classifies 28 x 28 grey patches of a lung-window rendering
as lesion or healthy. A map is made by classifying patches centred on a regular grid (every
`stride` pixels) and averaging the overlapping patch probabilities with bilinear (tent) weights:
each patch votes for the pixels within `stride` of its centre, so every pixel gets the weighted
mean of its four nearest patch centres. Only patches whose vote reaches the region of interest
are classified (the lung mask for CT, the whole image for 8-bit renderings).

Scale: the model assumes a fixed pixel size (`pixel_mm` in its card). HU slices are resampled
from their DICOM pixel spacing to it; 8-bit images have no spacing, so theirs is estimated from
the width of the body in the image (`estimate_pixel_mm`). The map is resampled back to the input
grid. The one mapping from HU to the model's grey input is `hu_to_lesion_grey`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from lunglens.core.windowing import Window, to_grey
from lunglens.quant.bands import ProbabilityMapMethod

LESION_WINDOW = Window("Lung", 1500, -600)
"""The lung window (W 1500 / L -600 HU) that maps HU to the lesion model's 8-bit grey input."""

ASSUMED_THORAX_WIDTH_MM = 350.0
"""Lateral width of an adult thorax assumed when an image has no pixel spacing: the median body
width of the lung-open slices of COVID-CT-MD P001 (380 mm) and normal001 (324 mm)."""

PatchPredictor = Callable[[np.ndarray], np.ndarray]
"""patches float32 [n, 1, P, P] grey 0..255 -> P(lesion) float [n]."""


def hu_to_lesion_grey(hu: np.ndarray) -> np.ndarray:
    """HU -> float32 grey 0..255 of the lesion model's input: the lung window W 1500 / L -600
    mapped linearly to 8 bit and clipped (-1350 HU -> 0, +150 HU -> 255), as an 8-bit image
    would store it (`lunglens.core.windowing.to_grey`)."""
    return to_grey(np.asarray(hu), LESION_WINDOW).astype(np.float32)


def resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 2-D float image resized to `shape` (rows, columns): area averaging when shrinking,
    bilinear when enlarging."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape == tuple(shape):
        return image.copy()
    shrinking = shape[0] * shape[1] < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (int(shape[1]), int(shape[0])), interpolation=interpolation)


def resample_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask resized to `shape`: resampled as a fraction, then thresholded at 0.5."""
    return resample(np.asarray(mask, dtype=np.float32), shape) >= 0.5


def scaled_shape(
    shape: tuple[int, int], pixel_mm: tuple[float, float], model_pixel_mm: float
) -> tuple[int, int]:
    """The grid size at `model_pixel_mm` of an image of `shape` with pixel size `pixel_mm` (row, column)."""
    return (
        max(1, int(round(shape[0] * pixel_mm[0] / model_pixel_mm))),
        max(1, int(round(shape[1] * pixel_mm[1] / model_pixel_mm))),
    )


@dataclass(frozen=True)
class GreyScaleParams:
    """How the pixel size of an 8-bit lung-window image without spacing is estimated."""

    tissue_grey: float = 100.0
    """Grey above this is tissue (about -760 HU in the lung window); below it air or lung."""
    thorax_width_mm: float = ASSUMED_THORAX_WIDTH_MM
    opening_fraction: float = 0.01
    """Opening kernel (fraction of the image size) that detaches text, table and noise."""


def estimate_pixel_mm(grey: np.ndarray, params: GreyScaleParams | None = None) -> float:
    """Estimated pixel size (mm) of an 8-bit lung-window image: the assumed thorax width over
    the larger extent (rows or columns, so a rotated image works) of the largest tissue
    component. An image cropped to the thorax gives about its own larger side."""
    params = params or GreyScaleParams()
    grey = np.asarray(grey)
    tissue = (grey > params.tissue_grey).astype(np.uint8)
    size = max(3, int(round(params.opening_fraction * max(grey.shape))) | 1)
    tissue = cv2.morphologyEx(
        tissue, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    )
    n_labels, _, stats, _ = cv2.connectedComponentsWithStats(tissue, connectivity=8)
    if n_labels < 2:
        extent = max(grey.shape)
    else:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        extent = max(stats[largest, cv2.CC_STAT_WIDTH], stats[largest, cv2.CC_STAT_HEIGHT])
    return params.thorax_width_mm / max(int(extent), 1)


def padded_for_patches(grey: np.ndarray, patch_px: int, extra: int = 0) -> np.ndarray:
    """`grey` padded (edge pixels replicated) by patch_px // 2 on every side plus `extra` at the
    bottom and right, so the patch centred on pixel (r, c) is padded[r : r + P, c : c + P]."""
    half = patch_px // 2
    return cv2.copyMakeBorder(
        np.asarray(grey, dtype=np.float32), half, half + extra, half, half + extra, cv2.BORDER_REPLICATE
    )


def patches_at(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, patch_px: int) -> np.ndarray:
    """float32 [n, 1, P, P] patches of a `padded_for_patches` image centred on (rows, cols)."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch_px, patch_px))
    return np.ascontiguousarray(windows[rows, cols][:, None], dtype=np.float32)


def probability_map(
    grey: np.ndarray,
    predict: PatchPredictor,
    region: np.ndarray | None = None,
    *,
    stride: int = 4,
    patch_px: int = 28,
    batch_size: int = 1024,
) -> np.ndarray:
    """Dense P(lesion) of a grey image already at the model's pixel size.

    Patches are centred every `stride` pixels (rows and columns 0, stride, 2 stride, ...); a
    pixel's value is the tent-weighted mean of the patch probabilities of its four surrounding
    centres (weight 1 at a centre, 0 one stride away). Only centres whose tent reaches a pixel of
    `region` (bool, same shape; default: the whole image) are classified; the map is 0 outside
    `region`. Returns float32 of the image's shape, values in [0, 1].
    """
    grey = np.asarray(grey, dtype=np.float32)
    height, width = grey.shape
    region = np.ones(grey.shape, bool) if region is None else np.asarray(region, dtype=bool)
    if region.shape != grey.shape:
        raise ValueError(f"region {region.shape} and image {grey.shape} must have the same shape")
    out = np.zeros(grey.shape, np.float32)
    if not region.any():
        return out
    blocks_r, blocks_c = -(-height // stride), -(-width // stride)
    # which stride x stride blocks hold region pixels; a centre is needed by its 4 adjacent blocks
    block_region = np.zeros((blocks_r * stride, blocks_c * stride), bool)
    block_region[:height, :width] = region
    block_region = block_region.reshape(blocks_r, stride, blocks_c, stride).any(axis=(1, 3))
    needed = np.zeros((blocks_r + 1, blocks_c + 1), bool)
    for dr in (0, 1):
        for dc in (0, 1):
            needed[dr : dr + blocks_r, dc : dc + blocks_c] |= block_region
    centre_r, centre_c = np.nonzero(needed)
    padded = padded_for_patches(grey, patch_px, extra=stride)
    probs = np.zeros(needed.shape, np.float32)
    values = np.empty(centre_r.size, np.float32)
    for start in range(0, centre_r.size, batch_size):
        sl = slice(start, start + batch_size)
        values[sl] = predict(patches_at(padded, centre_r[sl] * stride, centre_c[sl] * stride, patch_px))
    probs[centre_r, centre_c] = values
    weight_in = needed.astype(np.float32)
    t = np.arange(stride, dtype=np.float32) / stride  # offset inside a block, in strides
    tents = ((1 - t), t)
    numerator = np.zeros((blocks_r, stride, blocks_c, stride), np.float32)
    denominator = np.zeros_like(numerator)
    for dr in (0, 1):
        for dc in (0, 1):
            w = tents[dr][None, :, None, None] * tents[dc][None, None, None, :]
            p = probs[dr : dr + blocks_r, dc : dc + blocks_c][:, None, :, None]
            k = weight_in[dr : dr + blocks_r, dc : dc + blocks_c][:, None, :, None]
            numerator += w * k * p
            denominator += w * k
    dense = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    out[:] = dense.reshape(blocks_r * stride, blocks_c * stride)[:height, :width]
    out[~region] = 0.0
    return out


@dataclass(frozen=True)
class LesionMapParams:
    """How a dense map is computed: patch-centre spacing at the model scale (pixels)."""

    stride: int = 4
    """4 px = 4 mm at 1 mm/px: 1/7 of a patch; each pixel averages its 4 nearest patches."""


def _model_parts(model) -> tuple[PatchPredictor, int, float]:
    return model.lesion_probability, model.card.patch_px, model.card.pixel_mm


def hu_lesion_map(
    model,
    hu: np.ndarray,
    lung: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    params: LesionMapParams | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """P(lesion) per pixel of an HU slice [rows, cols] or volume [slices, rows, cols] inside its
    boolean lung mask (same shape), float32 of the same shape, 0 outside the lung.

    `model` is a `lunglens.inference.lesion_model.LesionModel`. Each slice is mapped to grey with
    `hu_to_lesion_grey`, resampled from `pixel_spacing_mm` (row, column) to the card's pixel size,
    mapped over the lung (`probability_map`), and the map resampled back. `progress(done, total)`
    is called after each slice."""
    params = params or LesionMapParams()
    predict, patch_px, model_pixel_mm = _model_parts(model)
    hu = np.asarray(hu)
    lung = np.asarray(lung, dtype=bool)
    if hu.shape != lung.shape or hu.ndim not in (2, 3):
        raise ValueError(f"HU {hu.shape} and lung mask {lung.shape} must be one 2-D slice or 3-D volume each")
    volume, masks = (hu[None], lung[None]) if hu.ndim == 2 else (hu, lung)
    out = np.zeros(volume.shape, np.float32)
    for index, (slice_hu, slice_lung) in enumerate(zip(volume, masks, strict=True)):
        if slice_lung.any():
            shape = scaled_shape(slice_hu.shape, pixel_spacing_mm, model_pixel_mm)
            grey = resample(hu_to_lesion_grey(slice_hu), shape)
            region = resample(slice_lung.astype(np.float32), shape) > 0
            small = probability_map(grey, predict, region, stride=params.stride, patch_px=patch_px)
            out[index] = np.clip(resample(small, slice_hu.shape), 0.0, 1.0) * slice_lung
        if progress is not None:
            progress(index + 1, len(volume))
    return out[0] if hu.ndim == 2 else out


def grey_lesion_map(
    model, grey: np.ndarray, pixel_mm: float | None = None, params: LesionMapParams | None = None
) -> np.ndarray:
    """P(lesion) per pixel of an 8-bit lung-window image (2-D, grey 0..255), float32 of its shape.

    There is no lung mask for such images: every pixel is mapped (the model was trained with
    negatives outside the lungs: chest wall, mediastinum, air). `pixel_mm` defaults to
    `estimate_pixel_mm` (an assumed thorax width)."""
    params = params or LesionMapParams()
    predict, patch_px, model_pixel_mm = _model_parts(model)
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 2:
        raise ValueError(f"a grey image is 2-D, found shape {grey.shape}")
    pixel_mm = estimate_pixel_mm(grey) if pixel_mm is None else float(pixel_mm)
    shape = scaled_shape(grey.shape, (pixel_mm, pixel_mm), model_pixel_mm)
    small = probability_map(
        np.clip(resample(grey, shape), 0, 255), predict, stride=params.stride, patch_px=patch_px
    )
    return np.clip(resample(small, grey.shape), 0.0, 1.0)


def learned_method(model, params: LesionMapParams | None = None) -> ProbabilityMapMethod:
    """The learned lesion map as a quantification method (`lunglens.quant.quantify`): affected
    where the patch model's P(lesion) is at least 0.5 inside the lung mask."""
    card = model.card

    def probability(hu: np.ndarray, lung_labels: np.ndarray, voxel_mm: tuple[float, float, float]):
        return hu_lesion_map(model, hu, lung_labels > 0, voxel_mm[1:], params)

    return ProbabilityMapMethod(
        probability=probability,
        name="learned",
        description=(
            f"learned lesion map: P(lesion) >= 0.5 from the patch CNN of Polat et al. (2021), "
            f"{card.name} {card.version} (a demonstration model trained on 50 slices), "
            f"{card.patch_px} px patches at {card.pixel_mm:g} mm/px inside the lung mask"
        ),
    )
