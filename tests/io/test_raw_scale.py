"""The COVID-CTset raw scale, converted in one place: raw = clip(HU + 1024, 0, 65535)."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.io.raw_scale import hu_to_raw, raw_to_hu


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize(
    ("hu", "raw"),
    [(-1024, 0), (-3024, 0), (0, 1024), (-724, 300), (3071, 4095), (32767, 33791), (70000, 65535)],
)
def test_hu_to_raw_offsets_and_clips(dtype, hu, raw):
    out = hu_to_raw(np.array([hu], np.int32), dtype)
    assert out.dtype == dtype and out[0] == raw


def test_a_raw_threshold_in_hu():
    assert raw_to_hu(300) == -724  # the selector's dark pixels: raw < 300 is HU < -724
