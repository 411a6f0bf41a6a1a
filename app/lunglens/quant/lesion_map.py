"""Dense lesion-probability maps from the Polat et al. (2021) patch CNN (no torch, no Qt).

The lesion model (DESIGN.md section 9) classifies 28 x 28 grey patches of a lung-window rendering
as lesion or healthy. A map is made from patches centred on a regular grid (every `stride` pixels)
by averaging the overlapping patch probabilities with bilinear (tent) weights: each patch votes for
the pixels within `stride` of its centre, so every pixel gets the weighted mean of its four nearest
patch centres. Only patches whose vote reaches the region of interest count (the lung mask for CT,
the whole image for 8-bit renderings).

The model is shipped fully convolutional: one pass over an image gives the probabilities of all
patches on a grid of its `output_stride` (4 px). `probability_map` runs that pass once over the
bounding box of the centres the region needs (shifted passes when `stride` is not a multiple of
the output stride), so the shared convolution work is done once; `patchwise_probability_map`
classifies the same patches one by one (the reference, and the path for patch classifiers such as
a torch model in evaluation). Both give the same map to float tolerance.

Scale: the model assumes a fixed pixel size (`pixel_mm` in its card). HU slices are resampled
from their DICOM pixel spacing to it; 8-bit images have no spacing, so theirs is estimated from
the width of the body in the image (`estimate_pixel_mm`). The map is resampled back to the input
grid. The one mapping from HU to the model's grey input is `hu_to_lesion_grey`; 8-bit images
rendered with another window are brought to it by `rendered_grey_to_lesion_grey`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from lunglens.core.windowing import Window, grey_to_hu, hu_to_grey_level, to_grey
from lunglens.inference.predict import CancelFlag, Cancelled
from lunglens.quant.bands import ProbabilityMapMethod
from lunglens.quant.result import LesionModelRecord

LEARNED = "learned"
"""The name of the learned lesion map method (`learned_method`), as `quantification.method` records it."""

LESION_WINDOW = Window("Lung", 1500, -600)
"""The lung window (W 1500 / L -600 HU) that maps HU to the lesion model's 8-bit grey input."""

ASSUMED_THORAX_WIDTH_MM = 350.0
"""Lateral width of an adult thorax assumed when an image has no pixel spacing: the median body
width of the lung-open slices of COVID-CT-MD P001 (380 mm) and normal001 (324 mm)."""

PatchPredictor = Callable[[np.ndarray], np.ndarray]
"""patches float32 [n, 1, P, P] grey 0..255 -> P(lesion) float [n]."""

GridPredictor = Callable[[np.ndarray], np.ndarray]
"""grey float32 [H, W] (H, W >= P) -> P(lesion) [(H - P) // s + 1, (W - P) // s + 1]: at (i, j) the
patch whose top-left corner is (s i, s j), s the model's output stride (a dense lesion model's
`lesion_grid`)."""


def hu_to_lesion_grey(hu: np.ndarray) -> np.ndarray:
    """HU -> float32 grey 0..255 of the lesion model's input: the lung window W 1500 / L -600
    mapped linearly to 8 bit and clipped (-1350 HU -> 0, +150 HU -> 255), as an 8-bit image
    would store it (`lunglens.core.windowing.to_grey`)."""
    return to_grey(np.asarray(hu), LESION_WINDOW).astype(np.float32)


def rendered_grey_to_lesion_grey(grey: np.ndarray, window: Window = LESION_WINDOW) -> np.ndarray:
    """Grey 0..255 of an 8-bit image rendered with `window` -> float32 grey 0..255 of the lesion
    model's input (the lung window `LESION_WINDOW`): grey -> HU (`grey_to_hu`) -> lung-window grey,
    linear and clipped, not quantised. With `window` = LESION_WINDOW the grey is returned unchanged.
    E.g. the COVID-SemiSeg JPEGs measure at about W 1240 / L -460 (their grey = 1.211 x the lung
    window's - 55.7; the lesion card's `domain_gap_grey`)."""
    return hu_to_grey_level(grey_to_hu(grey, window), LESION_WINDOW).astype(np.float32)


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


#: Pixel sizes (mm) an image of a thorax can have: what `lunglens lesions --pixel-mm` accepts and
#: an estimate (`estimate_pixel_mm`) must give for the image to be mapped.
PIXEL_MM_RANGE = (0.05, 10.0)
#: The largest side (mm) a mapped image may cover: more than any thorax (about 350 mm across); a
#: larger one would be resampled to an image of that many model pixels a side.
MAX_IMAGE_SIDE_MM = 1000.0


#: Pixels along the larger side of the copy `estimate_pixel_mm` measures a larger image on.
ESTIMATE_SIDE_PX = 1024


def estimate_pixel_mm(grey: np.ndarray, params: GreyScaleParams | None = None) -> float:
    """Estimated pixel size (mm) of an 8-bit lung-window image: the assumed thorax width over
    the larger extent (rows or columns, so a rotated image works) of the largest tissue
    component. An image cropped to the thorax gives about its own larger side. An image larger
    than `ESTIMATE_SIDE_PX` is measured on a copy shrunk to that size (its opening would cost
    minutes otherwise)."""
    params = params or GreyScaleParams()
    grey = np.asarray(grey)
    shrink = max(1.0, max(grey.shape) / ESTIMATE_SIDE_PX)
    if shrink > 1.0:
        size = (max(1, round(grey.shape[1] / shrink)), max(1, round(grey.shape[0] / shrink)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
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
    return params.thorax_width_mm / (max(int(extent), 1) * shrink)


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


def needed_centres(region: np.ndarray, stride: int) -> np.ndarray:
    """Which patch centres of the stride grid a map over `region` needs: bool [ceil(H / stride) + 1,
    ceil(W / stride) + 1], True at (k, l) when the tent of the centre at pixel (k stride, l stride)
    reaches a pixel of `region` (the four corners of every stride x stride block holding one)."""
    height, width = region.shape
    blocks_r, blocks_c = -(-height // stride), -(-width // stride)
    block_region = np.zeros((blocks_r * stride, blocks_c * stride), bool)
    block_region[:height, :width] = region
    block_region = block_region.reshape(blocks_r, stride, blocks_c, stride).any(axis=(1, 3))
    needed = np.zeros((blocks_r + 1, blocks_c + 1), bool)
    for dr in (0, 1):
        for dc in (0, 1):
            needed[dr : dr + blocks_r, dc : dc + blocks_c] |= block_region
    return needed


def _tent_upsample(grid: np.ndarray, stride: int, axis: int) -> np.ndarray:
    """Linear interpolation along `axis` between grid points `stride` pixels apart: n points ->
    (n - 1) stride + 1 pixels, the grid points included (the tent weights of one axis)."""
    grid = np.moveaxis(grid, axis, -1)
    t = np.arange(stride, dtype=np.float32) / stride
    inner = grid[..., :-1, None] * (1 - t) + grid[..., 1:, None] * t
    full = np.concatenate([inner.reshape(*grid.shape[:-1], -1), grid[..., -1:]], axis=-1)
    return np.moveaxis(full, -1, axis)


def tent_average(probs: np.ndarray, needed: np.ndarray, region: np.ndarray, stride: int) -> np.ndarray:
    """The map (float32, the shape of `region`) from the probabilities of the patch centres on the
    stride grid (`probs`, used where `needed`): each pixel the tent-weighted mean of its four
    surrounding needed centres (weight 1 at a centre, 0 one stride away; bilinear, so computed one
    axis at a time over the needed centres' bounding box); 0 outside `region`."""
    out = np.zeros(region.shape, np.float32)
    rows, cols = np.flatnonzero(needed.any(axis=1)), np.flatnonzero(needed.any(axis=0))
    if rows.size == 0:
        return out
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    weight = needed[box].astype(np.float32)
    numerator, denominator = (
        _tent_upsample(_tent_upsample(g, stride, 1), stride, 0) for g in (weight * probs[box], weight)
    )
    top, left = rows[0] * stride, cols[0] * stride
    height = min(numerator.shape[0], region.shape[0] - top)
    width = min(numerator.shape[1], region.shape[1] - left)
    inside = np.s_[:height, :width]
    np.divide(
        numerator[inside],
        denominator[inside],
        out=out[top : top + height, left : left + width],
        where=denominator[inside] > 0,
    )
    out[~region] = 0.0
    return out


def _checked_region(grey: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    region = np.ones(grey.shape, bool) if region is None else np.asarray(region, dtype=bool)
    if region.shape != grey.shape:
        raise ValueError(f"region {region.shape} and image {grey.shape} must have the same shape")
    return region


def dense_centre_probabilities(
    padded: np.ndarray,
    predict_grid: GridPredictor,
    first: tuple[int, int],
    last: tuple[int, int],
    step: int,
    output_stride: int,
    patch_px: int,
) -> np.ndarray:
    """P(lesion) of the patches centred every `step` pixels from pixel `first` to `last` (row,
    column, inclusive; offsets from `first` multiples of `step`, `step` dividing `output_stride`)
    of a `padded_for_patches` image: float32 [(last - first) // step + 1] per axis. One dense pass
    per phase (output_stride / step per axis) over the crop holding those patches."""
    (r0, c0), (r1, c1) = first, last
    out = np.zeros(((r1 - r0) // step + 1, (c1 - c0) // step + 1), np.float32)
    phases = output_stride // step
    for a in range(0, min(output_stride, r1 - r0 + 1), step):
        for b in range(0, min(output_stride, c1 - c0 + 1), step):
            grid = predict_grid(padded[r0 + a : r1 + patch_px, c0 + b : c1 + patch_px])
            out[a // step :: phases, b // step :: phases] = grid
    return out


def probability_map(
    grey: np.ndarray,
    predict_grid: GridPredictor,
    region: np.ndarray | None = None,
    *,
    stride: int = 4,
    patch_px: int = 28,
    output_stride: int = 4,
) -> np.ndarray:
    """Dense P(lesion) of a grey image already at the model's pixel size, from dense passes.

    Patches are centred every `stride` pixels (rows and columns 0, stride, 2 stride, ...); a
    pixel's value is the tent-weighted mean of the patch probabilities of its four surrounding
    centres (`tent_average`). Only centres whose tent reaches a pixel of `region` (bool, same
    shape; default: the whole image) count; the map is 0 outside `region`. `predict_grid` is a
    dense model's `lesion_grid` (output stride `output_stride`); it is run over the bounding box of
    the needed centres, once per phase when `stride` is not a multiple of `output_stride`.
    Returns float32 of the image's shape, values in [0, 1]; equal to `patchwise_probability_map`
    with the same model to float tolerance.
    """
    grey = np.asarray(grey, dtype=np.float32)
    region = _checked_region(grey, region)
    if not region.any():
        return np.zeros(grey.shape, np.float32)
    needed = needed_centres(region, stride)
    rows, cols = np.flatnonzero(needed.any(axis=1)), np.flatnonzero(needed.any(axis=0))
    step = math.gcd(stride, output_stride)
    fine = dense_centre_probabilities(
        padded_for_patches(grey, patch_px, extra=stride),
        predict_grid,
        (int(rows[0]) * stride, int(cols[0]) * stride),
        (int(rows[-1]) * stride, int(cols[-1]) * stride),
        step,
        output_stride,
        patch_px,
    )
    probs = np.zeros(needed.shape, np.float32)
    probs[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = fine[:: stride // step, :: stride // step]
    return tent_average(probs, needed, region, stride)


def patchwise_probability_map(
    grey: np.ndarray,
    predict: PatchPredictor,
    region: np.ndarray | None = None,
    *,
    stride: int = 4,
    patch_px: int = 28,
    batch_size: int = 1024,
) -> np.ndarray:
    """`probability_map` with the needed patches cut out and classified one by one by `predict`
    (in batches of `batch_size`): the reference for the dense pass, and the map of a patch
    classifier (e.g. a torch model in evaluation)."""
    grey = np.asarray(grey, dtype=np.float32)
    region = _checked_region(grey, region)
    if not region.any():
        return np.zeros(grey.shape, np.float32)
    needed = needed_centres(region, stride)
    centre_r, centre_c = np.nonzero(needed)
    padded = padded_for_patches(grey, patch_px, extra=stride)
    values = np.empty(centre_r.size, np.float32)
    for start in range(0, centre_r.size, batch_size):
        sl = slice(start, start + batch_size)
        values[sl] = predict(patches_at(padded, centre_r[sl] * stride, centre_c[sl] * stride, patch_px))
    probs = np.zeros(needed.shape, np.float32)
    probs[centre_r, centre_c] = values
    return tent_average(probs, needed, region, stride)


@dataclass(frozen=True)
class LesionMapParams:
    """How a dense map is computed: patch-centre spacing at the model scale (pixels)."""

    stride: int = 4
    """4 px = 4 mm at 1 mm/px: 1/7 of a patch; each pixel averages its 4 nearest patches."""
    patchwise: bool = False
    """Classify the patches one by one (`patchwise_probability_map`, the slow reference) instead of
    the dense pass (`probability_map`); the maps agree to float tolerance."""


def _map_with(model, grey: np.ndarray, region: np.ndarray | None, params: LesionMapParams) -> np.ndarray:
    """The map of `grey` (at the model scale) with the dense model `model`: `probability_map`, or
    `patchwise_probability_map` when `params.patchwise`."""
    card = model.card
    if params.patchwise:
        return patchwise_probability_map(
            grey, model.lesion_probability, region, stride=params.stride, patch_px=card.patch_px
        )
    return probability_map(
        grey,
        model.lesion_grid,
        region,
        stride=params.stride,
        patch_px=card.patch_px,
        output_stride=card.output_stride,
    )


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
    mapped over the lung (`probability_map`, one dense pass over the lung's bounding box), and the
    map resampled back. `progress(done, total)` is called after each slice."""
    params = params or LesionMapParams()
    model_pixel_mm = model.card.pixel_mm
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
            small = _map_with(model, grey, region, params)
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
    `estimate_pixel_mm` (an assumed thorax width). An image rendered with another window is
    brought to the lung window first (`rendered_grey_to_lesion_grey`). Raises ValueError with the
    reason for a pixel size outside `PIXEL_MM_RANGE` (no thorax found to size the image by) or
    an image covering more than `MAX_IMAGE_SIDE_MM` a side."""
    params = params or LesionMapParams()
    model_pixel_mm = model.card.pixel_mm
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 2:
        raise ValueError(f"a grey image is 2-D, found shape {grey.shape}")
    pixel_mm = _checked_pixel_mm(grey.shape, estimate_pixel_mm(grey) if pixel_mm is None else float(pixel_mm))
    shape = scaled_shape(grey.shape, (pixel_mm, pixel_mm), model_pixel_mm)
    small = _map_with(model, np.clip(resample(grey, shape), 0, 255), None, params)
    return np.clip(resample(small, grey.shape), 0.0, 1.0)


def _checked_pixel_mm(shape: tuple[int, int], pixel_mm: float) -> float:
    """`pixel_mm` when an image of `shape` pixels can be a thorax at that size, else ValueError."""
    low, high = PIXEL_MM_RANGE
    if not low <= pixel_mm <= high:
        raise ValueError(
            f"no thorax found to size the image by: {pixel_mm:.3g} mm per pixel, outside {low:g}-{high:g} mm "
            "(give the pixel size: --pixel-mm)"
        )
    side_mm = max(shape) * pixel_mm
    if side_mm > MAX_IMAGE_SIDE_MM:
        raise ValueError(
            f"{shape[1]} x {shape[0]} pixels at {pixel_mm:.3g} mm cover {side_mm:.0f} mm, more than any thorax "
            f"(at most {MAX_IMAGE_SIDE_MM:g} mm a side)"
        )
    return pixel_mm


def learned_method(model, params: LesionMapParams | None = None) -> ProbabilityMapMethod:
    """The learned lesion map as a quantification method (`lunglens.quant.quantify`): affected
    where the patch model's P(lesion) is at least `ProbabilityMapMethod.threshold` inside the lung
    mask. Its description names the model and quotes the intended use its card states."""
    card = model.card
    threshold = ProbabilityMapMethod.threshold

    def probability(
        hu: np.ndarray,
        lung_labels: np.ndarray,
        voxel_mm: tuple[float, float, float],
        cancel: CancelFlag | None = None,
    ):
        def check(_done: int, _total: int) -> None:  # after each slice: a cancel stops the map
            if cancel is not None and cancel.is_set():
                raise Cancelled()

        return hu_lesion_map(model, hu, lung_labels > 0, voxel_mm[1:], params, progress=check)

    return ProbabilityMapMethod(
        probability=probability,
        name=LEARNED,
        description=(
            f"learned lesion map: P(lesion) >= {threshold:g} from the patch CNN of Polat et al. (2021), "
            f"{card.name} {card.version}, {card.patch_px} px patches at {card.pixel_mm:g} mm/px inside the "
            # the readers end the description with a full stop of their own
            f"lung mask; intended use as its card states it: {card.intended_use.rstrip('. ') or 'not stated'}"
        ),
        threshold=threshold,
        lesion_model=LesionModelRecord(card.name, card.version, card.sha256),
    )
