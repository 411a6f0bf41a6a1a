"""The report's key images: which slices to show, and each slice in the lung window with and
without its Grad-CAM overlay, as uint8 arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lunglens.analysis import Analysis
from lunglens.analysis.readout import position_text
from lunglens.core.decision import exact_text, probability_text, slice_call
from lunglens.core.windowing import PRESETS, Window, to_grey
from lunglens.render.contours import burn_outlines
from lunglens.render.overlay import COLOUR_MAP, DEFAULT_STYLE, OverlayStyle, body_mask, overlay_rgb

#: The window the key images are shown in: Lung, W 1500 / L -600 HU.
LUNG_WINDOW: Window = next(w for w in PRESETS if w.name == "Lung")
#: How the Grad-CAM is drawn on the key images: the viewer's default style (inferno inside the
#: body, from 0.3 of the slice's maximum, weighted by P(COVID), none below the slice cut-off).
OVERLAY_STYLE: OverlayStyle = DEFAULT_STYLE
#: At most this many key images when several slices are positive.
MAX_KEY_SLICES = 4


@dataclass(frozen=True)
class KeyImage:
    """One key slice: its index in the series, position (mm), P(COVID), whether it is positive,
    and the slice in the lung window without the Grad-CAM (`plain`, grey uint8, rows x columns)
    and with it (`overlay`, RGB uint8, rows x columns x 3)."""

    index: int
    position_mm: float
    position_stated: bool
    """False when the files state no slice positions (`SeriesRecord.positions_stated`)."""
    p_covid: float
    positive: bool
    plain: np.ndarray
    overlay: np.ndarray


def cam_description() -> str:
    """How the key images' Grad-CAM is drawn, as `OVERLAY_STYLE` draws it (the one description
    the PDF and the key-image DICOM objects give): "in the inferno colour map (dark low to bright
    high) inside the body, where it reaches 0.3 of the slice's own maximum, at an opacity up to
    0.5 times the slice's P(COVID), none on a slice below the cut-off"."""
    style = OVERLAY_STYLE
    where = (
        f"as isolines at {', '.join(f'{level:g}' for level in style.outline_levels)} of the slice's own maximum"
        if style.outline
        else f"where it reaches {style.visible_from:g} of the slice's own maximum"
    )
    strength = f"at an opacity up to {style.opacity:g}" + (
        " times the slice's P(COVID)" if style.follow_p_covid else ""
    )
    hidden = ", none on a slice below the cut-off" if style.hide_below_cutoff else ""
    return f"in the {COLOUR_MAP} colour map (dark low to bright high) inside the body, {where}, {strength}{hidden}"


def key_image_caption(image: KeyImage, n_slices: int, cutoff: float) -> str:
    """The key image's caption (PDF and key-image DICOM objects): "Slice 80 of 148, position
    -120.5 mm, P(COVID) = 0.912 (positive at cut-off 0.5)"; a negative slice's says when no
    Grad-CAM is drawn on it ("(negative at cut-off 0.5, no Grad-CAM drawn)")."""
    blank = ", no Grad-CAM drawn" if not image.positive and OVERLAY_STYLE.hide_below_cutoff else ""
    return (
        f"Slice {image.index + 1} of {n_slices}, position {position_text(image.position_mm, image.position_stated)}, "
        "P(COVID) = "
        f"{probability_text(image.p_covid, cutoff)} ({slice_call(image.positive)} at cut-off "
        f"{exact_text(cutoff)}{blank})"
    )


def key_slices(analysis: Analysis, limit: int = MAX_KEY_SLICES) -> list[int]:
    """The most suspicious kept slices, by P(COVID) from highest: the positive ones (at most
    `limit`), or the single most suspicious kept slice when none is positive; ties keep series
    order. Empty when no kept slice was classified."""
    scored = np.flatnonzero(analysis.selection.kept & analysis.classified)
    order = scored[np.argsort(-analysis.p_covid[scored], kind="stable")]
    positive = [int(i) for i in order if analysis.decision.positive[i]]
    return positive[:limit] if positive else [int(i) for i in order[:1]]


def key_images(analysis: Analysis, hu: np.ndarray) -> list[KeyImage]:
    """The key slices of `analysis` from the series volume `hu` (int16 HU, z, y, x); the overlay
    carries the lung contours and lesion outlines too when the analysis' quantification holds
    its masks."""
    masks = analysis.quantification.masks if analysis.quantification is not None else None
    lung_labels = lesion_labels = None
    if masks is not None:
        lung_labels, lesion_labels = masks.lung_labels(), masks.lesion_classes()
    images = []
    for index in key_slices(analysis):
        grey = to_grey(hu[index], LUNG_WINDOW)
        overlay = overlay_rgb(
            grey,
            analysis.cams[index],
            p_covid=float(analysis.p_covid[index]),
            cutoff=analysis.decision.params.slice_cutoff,
            region=body_mask(hu[index]),
            style=OVERLAY_STYLE,
        )
        if masks is not None:
            overlay = burn_outlines(overlay, lesion_labels[index], lung_labels[index])
        images.append(
            KeyImage(
                index=index,
                position_mm=float(analysis.positions_mm[index]),
                position_stated=analysis.series.positions_stated,
                p_covid=float(analysis.p_covid[index]),
                positive=bool(analysis.decision.positive[index]),
                plain=grey,
                overlay=overlay,
            )
        )
    return images
