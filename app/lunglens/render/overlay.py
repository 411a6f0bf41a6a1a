"""The Grad-CAM overlay, drawn one way for the viewer and the PDF report: one colour map
(inferno), shown only inside the body (or inside a given lung mask), its strength following the
slice's P(COVID) and hidden below the slice cut-off, filled with an alpha ramp or drawn as
isolines (outline mode, so the lesion under the map stays visible). Plain numpy + OpenCV +
scipy.ndimage; the viewer's `DisplayCache` and the report's key images both call it.

Values: the CAM is divided by its own slice maximum (0..1, computed before masking, so a map
whose peak lies on the CT table is not re-stretched inside the body) and stored as an 8-bit
colour index (0 = nothing drawn, 1..255 = CAM / slice maximum x 255)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from lunglens.inference.postprocess import cam_for_display

#: The one colour map of the overlay (perceptually uniform: dark = low, yellow = high), by name
#: and as OpenCV draws it.
COLOUR_MAP = "inferno"
_OPENCV_COLOUR_MAP = cv2.COLORMAP_INFERNO

#: Tissue is denser than this (HU); air, lung and the gap to the table are below it.
BODY_ABOVE_HU = -500.0
#: The body mask is worked out on a grid of about this many points across (every 4th pixel of a
#: 512 x 512 slice, 2-4 mm; the CAM it masks has cells of 16-32 pixels) and scaled back smoothly.
MASK_GRID = 128
#: Colour weights are multiples of this (0..1).
WEIGHT_STEP = 0.02
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


@dataclass(frozen=True)
class OverlayStyle:
    """How the CAM is drawn. Fractions are of the slice's own CAM maximum (0..1).

    - fill mode: transparent below `visible_from`, the colour's weight rising linearly to
      `opacity` at `opaque_at`;
    - outline mode (`outline=True`): isolines `outline_width_px` wide where the CAM crosses each
      of `outline_levels`, each in the colour of its level, at weight `opacity`;
    - strength: with `follow_p_covid` the weight is multiplied by the slice's P(COVID) (a slice
      at P 0.6 is drawn at 60 %); with `hide_below_cutoff` nothing is drawn on a slice whose
      P(COVID) is below the slice cut-off, so a cold slice never looks hot."""

    opacity: float = 0.5
    visible_from: float = 0.3
    opaque_at: float = 0.8
    follow_p_covid: bool = True
    hide_below_cutoff: bool = True
    outline: bool = False
    outline_levels: tuple[float, ...] = (0.4, 0.6, 0.8)
    outline_width_px: int = 2

    def __post_init__(self):
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"overlay opacity must be within [0, 1], got {self.opacity}")
        if not 0.0 < self.visible_from < self.opaque_at <= 1.0:
            raise ValueError(
                f"need 0 < visible_from < opaque_at <= 1, got {self.visible_from}, {self.opaque_at}"
            )
        if not self.outline_levels or not all(0.0 < level <= 1.0 for level in self.outline_levels):
            raise ValueError(f"outline levels must lie in (0, 1], got {self.outline_levels}")
        if self.outline_width_px < 1:
            raise ValueError(f"outline width must be at least 1 px, got {self.outline_width_px}")


#: The default style: the viewer starts with it and the PDF report draws with it.
DEFAULT_STYLE = OverlayStyle()


def colours(values: np.ndarray) -> np.ndarray:
    """Values in 0..1 (any shape) → RGB uint8 (shape + (3,)) of the overlay colour map."""
    index = np.clip(np.asarray(values, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(index.reshape(-1, 1), _OPENCV_COLOUR_MAP)
    return bgr[:, 0, ::-1].reshape(*index.shape, 3)


def overlay_lut(style: OverlayStyle = DEFAULT_STYLE) -> np.ndarray:
    """uint8 [256, 4]: colour and alpha of each colour index. Index 0 is always transparent; fill
    mode ramps alpha from `visible_from` to `opaque_at`, outline mode draws every index opaque
    (the outline image holds only the line pixels). Alpha 255 = the style's full weight."""
    rgba = np.empty((256, 4), np.uint8)
    fraction = np.arange(256, dtype=np.float32) / 255
    rgba[:, :3] = colours(fraction)
    if style.outline:
        alpha = np.ones(256, np.float32)
    else:
        alpha = np.clip((fraction - style.visible_from) / (style.opaque_at - style.visible_from), 0, 1)
    alpha[0] = 0.0
    rgba[:, 3] = np.rint(alpha * 255).astype(np.uint8)
    return rgba


def slice_weight(p_covid: float | None, cutoff: float | None, style: OverlayStyle) -> float:
    """Weight (0..1) of the colour on a slice: the style's opacity, times P(COVID) when it
    follows it, 0 when hidden below the cut-off; rounded to `WEIGHT_STEP` (so the viewer keeps
    few blend tables and draws exactly what the report draws). Unknown P(COVID) (None) or
    cut-off (None) leaves the opacity as it is; a NaN P(COVID) (slice not classified) draws
    nothing."""
    weight = style.opacity
    if p_covid is not None:
        if not np.isfinite(p_covid) or (style.hide_below_cutoff and cutoff is not None and p_covid < cutoff):
            return 0.0
        if style.follow_p_covid:
            weight *= float(np.clip(p_covid, 0.0, 1.0))
    return round(round(weight / WEIGHT_STEP) * WEIGHT_STEP, 4)


def body_mask(hu: np.ndarray, above_hu: float = BODY_ABOVE_HU) -> np.ndarray:
    """bool (y, x): the patient's body on one axial slice (HU, any shape): tissue denser than
    `above_hu`, opened by 2 steps to cut thin bridges to the table and the gown, its largest
    connected component, holes (the lungs, the airways) filled. Worked out on a grid of about
    `MASK_GRID` points across (the CAM it masks is far coarser) and scaled back. All False when
    nothing is denser than `above_hu`."""
    hu = np.asarray(hu)
    return (
        cv2.resize(coarse_body(hu, above_hu), (hu.shape[1], hu.shape[0]), interpolation=cv2.INTER_LINEAR)
        > 127
    )


def coarse_body(hu: np.ndarray, above_hu: float = BODY_ABOVE_HU) -> np.ndarray:
    """uint8 (grid rows, grid columns), 255 inside the body: `body_mask` of one axial slice
    before it is scaled back (every step-th pixel, step = min(rows, columns) // MASK_GRID, at
    least 1; about 16 KB). Stacked per slice, what `plane_body_mask` reads."""
    step = max(1, min(hu.shape) // MASK_GRID)
    coarse = (hu[::step, ::step] > above_hu).astype(np.uint8)
    tissue = cv2.morphologyEx(coarse, cv2.MORPH_OPEN, _CROSS, iterations=2, borderType=cv2.BORDER_REPLICATE)
    labels, count = ndimage.label(tissue)
    if count == 0:
        return np.zeros(coarse.shape, np.uint8)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes))).astype(np.uint8) * 255


def colour_index(
    cam: np.ndarray, shape: tuple[int, int], region: np.ndarray | None, style: OverlayStyle
) -> np.ndarray | None:
    """uint8 (rows, columns) colour index of one compact CAM [h, w] on a slice of `shape`: the
    CAM / its slice maximum x 255 inside `region` (bool, the body or the lungs; None: the whole
    slice) in fill mode, or only the isoline pixels at each level in outline mode. None when
    nothing would be drawn (an all-zero CAM, or nothing of it inside the region)."""
    if not np.any(cam > 0):
        return None
    return fraction_index(cam_for_display(cam, shape), region, style)


def fraction_index(fraction: np.ndarray, region: np.ndarray | None, style: OverlayStyle) -> np.ndarray | None:
    """uint8 colour index of a CAM already divided by its slice maximum (float 0..1, any 2-D
    plane), as `colour_index` describes; None when nothing would be drawn."""
    index = cv2.convertScaleAbs(np.asarray(fraction, np.float32), alpha=255.0)  # rounded, saturated
    if region is not None:
        index = cv2.bitwise_and(index, index, mask=np.asarray(region, bool).view(np.uint8))
    if style.outline:
        kernel = np.ones((2 * style.outline_width_px + 1,) * 2, np.uint8)
        lines = np.zeros_like(index)
        for level in sorted(style.outline_levels):
            value = max(1, round(level * 255))
            inside = (index >= value).astype(np.uint8)
            line = inside & ~cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            lines[line.astype(bool)] = value
        index = lines
    return index if index.any() else None


def plane_fraction(cams: np.ndarray, axis: str, index: int, shape: tuple[int, int]) -> np.ndarray:
    """float32 (slices, length): every slice's compact CAM (`cams` [n, h, w]) divided by its own
    maximum and resized to the slice `shape` as `cam_for_display` does (bilinear), taken along
    image row `index` ("coronal": length = columns) or column `index` ("sagittal": length =
    rows): the CAM of a reformat plane, row i from slice i."""
    cams = np.asarray(cams, np.float32)
    peaks = cams.reshape(len(cams), -1).max(axis=1)
    return _plane_line(cams / np.where(peaks > 0, peaks, 1)[:, None, None], axis, index, shape)


def plane_body_mask(coarse_masks: np.ndarray, axis: str, index: int, shape: tuple[int, int]) -> np.ndarray:
    """bool (slices, length): the body of every axial slice (`coarse_body` of each slice, stacked) along image
    row `index` (coronal) or column `index` (sagittal) of slices of `shape`, as `body_mask`
    scales it back: the region a reformat plane draws the CAM in (a 2-D body mask of the
    reformat itself would lose lungs that reach the plane's edge)."""
    return _plane_line(np.asarray(coarse_masks, np.float32), axis, index, shape) > 127


def _plane_line(volume: np.ndarray, axis: str, index: int, shape: tuple[int, int]) -> np.ndarray:
    """float32 (slices, length): each slice of `volume` [n, h, w] resized bilinearly to `shape`
    (OpenCV's INTER_LINEAR: half-pixel centres, edges clamped), taken along row `index`
    (coronal) or column `index` (sagittal). Only the two source lines around the plane are
    read, then one resize along the plane for all slices at once."""
    n, h, w = volume.shape
    rows, columns = shape
    if axis == "coronal":
        first, second, t = _source_pair(index, h, rows)
        line = volume[:, first, :] * (1 - t) + volume[:, second, :] * t
        return cv2.resize(
            np.ascontiguousarray(line, np.float32), (columns, n), interpolation=cv2.INTER_LINEAR
        )
    if axis == "sagittal":
        first, second, t = _source_pair(index, w, columns)
        line = volume[:, :, first] * (1 - t) + volume[:, :, second] * t
        return cv2.resize(np.ascontiguousarray(line, np.float32), (rows, n), interpolation=cv2.INTER_LINEAR)
    raise ValueError(f"axis must be coronal or sagittal, got {axis!r}")


def _source_pair(index: int, source: int, target: int) -> tuple[int, int, np.float32]:
    """The two source lines and the weight of the second that bilinear resizing from `source`
    to `target` lines mixes into target line `index` (OpenCV's half-pixel mapping)."""
    if not 0 <= index < target:
        raise IndexError(f"plane {index} is outside 0..{target - 1}")
    x = min(max((index + 0.5) * source / target - 0.5, 0.0), source - 1.0)
    first = int(np.floor(x))
    return first, min(first + 1, source - 1), np.float32(x - first)


def plane_overlay_rgb(
    grey: np.ndarray,
    fraction: np.ndarray,
    weights: np.ndarray,
    region: np.ndarray | None,
    style: OverlayStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """RGB uint8 (slices, length, 3) of a reformat plane: the uint8 `grey` plane with the CAM
    `fraction` (`plane_fraction`) drawn as `style` says inside `region`, row i at colour weight
    `weights[i]` (`slice_weight` of slice i: a row of a cold slice gets no colour)."""
    rgb = np.repeat(grey[..., None], 3, axis=2)
    index = fraction_index(fraction, region, style)
    if index is None:
        return rgb
    lut = overlay_lut(style)
    alpha = lut[index, 3:].astype(np.float32) / 255 * np.asarray(weights, np.float32)[:, None, None]
    mixed = rgb.astype(np.float32) * (1 - alpha) + lut[index, :3].astype(np.float32) * alpha
    return np.rint(mixed).astype(np.uint8)


def blend_table(lut: np.ndarray, weight: float) -> np.ndarray:
    """uint32 [65536]: the packed RGBA pixel for grey g (0..255) under colour index c at
    g * 256 + c: the index's colour mixed into the grey at its alpha x `weight` (0..1), opaque."""
    grey = np.arange(256, dtype=np.float32)[:, None, None]
    colour = lut[None, :, :3].astype(np.float32)
    alpha = lut[None, :, 3:].astype(np.float32) / 255 * np.float32(weight)
    rgba = np.full((256, 256, 4), 255, np.uint8)
    rgba[..., :3] = np.rint(grey * (1 - alpha) + colour * alpha)
    return rgba.view(np.uint32).reshape(65536)


def blend(grey: np.ndarray, index: np.ndarray | None, table: np.ndarray) -> np.ndarray:
    """RGBA uint8 (y, x, 4) of the uint8 `grey` slice with the colour `index` (None: none)
    blended in through `table` (`blend_table`): one look-up per pixel."""
    pair = grey.astype(np.uint16) << 8
    if index is not None:
        pair |= index
    return table[pair].view(np.uint8).reshape(*grey.shape, 4)


def overlay_rgb(
    grey: np.ndarray,
    cam: np.ndarray,
    *,
    p_covid: float | None,
    cutoff: float | None,
    region: np.ndarray | None,
    style: OverlayStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """RGB uint8 (y, x, 3): the uint8 `grey` slice with its compact CAM [h, w] drawn as `style`
    says, inside `region` (bool; None: everywhere), weighted by P(COVID) against `cutoff`.
    The grey image unchanged (as RGB) when nothing is drawn."""
    weight = slice_weight(p_covid, cutoff, style)
    index = colour_index(cam, grey.shape, region, style) if weight > 0 else None
    return blend(grey, index, blend_table(overlay_lut(style), weight))[..., :3].copy()


def colour_bar_rgb(width: int, height: int, style: OverlayStyle = DEFAULT_STYLE) -> np.ndarray:
    """RGB uint8 (height, width, 3): the colour map from CAM fraction 0 (left) to 1 (right) as
    the style draws it at full weight over dark grey (transparent parts show the grey); in
    outline mode the bar is plain and each level is marked by a white tick column."""
    fraction = np.linspace(0.0, 1.0, width)
    index = np.rint(fraction * 255).astype(np.uint8)
    fill = OverlayStyle(opacity=1.0, visible_from=style.visible_from, opaque_at=style.opaque_at)
    lut = overlay_lut(fill if not style.outline else OverlayStyle(opacity=1.0, outline=True))
    grey = np.full((height, width), 64, np.uint8)
    rgb = blend(grey, np.repeat(index[None], height, axis=0), blend_table(lut, 1.0))[..., :3].copy()
    if style.outline:
        for level in style.outline_levels:
            rgb[:, min(width - 1, round(level * (width - 1)))] = 255
    return rgb
