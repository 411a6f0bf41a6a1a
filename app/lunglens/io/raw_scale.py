"""The COVID-CTset raw scale (DESIGN.md section 1): raw = clip(HU + 1024, 0, 65535).

The method's selector threshold and the model input are defined on this scale; LungLens keeps
volumes in HU and converts here, in the lowest layer, so every layer above uses one rule."""

from __future__ import annotations

import numpy as np

#: Offset between COVID-CTset raw values and Hounsfield units: raw = HU + 1024.
RAW_OFFSET_HU = 1024
#: The largest raw value (16-bit unsigned).
RAW_MAX = 65535


def hu_to_raw(hu: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """HU values (any shape, any numeric dtype) → raw = clip(HU + 1024, 0, 65535) as `dtype`
    (float32, the model input, by default; uint16 for files)."""
    work = np.float32 if np.issubdtype(dtype, np.floating) else np.int32
    raw = np.asarray(hu).astype(work) + work(RAW_OFFSET_HU)
    np.clip(raw, 0, RAW_MAX, out=raw)
    return raw.astype(dtype, copy=False)


def raw_to_hu(raw: float) -> float:
    """A value on the raw scale → HU (raw - 1024), e.g. a threshold given in raw values."""
    return raw - RAW_OFFSET_HU
