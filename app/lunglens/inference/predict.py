"""Running a model over chosen slices of a series in batches, with progress and cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from lunglens.inference.postprocess import compact_cam, covid_probability
from lunglens.inference.preprocess import to_model_input
from lunglens.io.geometry import STANDARD_LAYOUT, StandardLayout


class Cancelled(Exception):
    """The caller asked to stop; raised between batches (within one batch of the request)."""


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


BatchProgress = Callable[[int, int], None]
"""Called after each batch with (slices done, slices total)."""


def classify(
    model,
    hu_volume: np.ndarray,
    indices: np.ndarray,
    *,
    layout: StandardLayout = STANDARD_LAYOUT,
    progress: BatchProgress | None = None,
    cancel: CancelFlag | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """P(COVID) (float64 [k]) and compact CAMs (float16 [k, h, w]) for the slices `indices` of an
    HU volume (z, y, x) stored in `layout`: the model reads them in the standard layout, and the
    CAMs come back as stored. Raises Cancelled when `cancel` is set before a batch starts."""
    indices = np.asarray(indices, dtype=int)
    h, w = model.card.cam_size[::-1] if layout.transpose else model.card.cam_size  # CAMs as stored
    p_covid = np.empty(len(indices), dtype=np.float64)
    cams = np.zeros((len(indices), h, w), dtype=np.float16)
    step = max(1, int(model.batch_size))
    for start in range(0, len(indices), step):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        chunk = indices[start : start + step]
        probabilities, cam = model.run(to_model_input(layout.to_standard(hu_volume[chunk])))
        p_covid[start : start + len(chunk)] = covid_probability(probabilities, model.card.covid_index)
        cams[start : start + len(chunk)] = layout.to_stored(compact_cam(cam))
        if progress is not None:
            progress(start + len(chunk), len(indices))
    return p_covid, cams
