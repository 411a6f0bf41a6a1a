"""The lung-open selector, exactly as the paper states it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunglens.core.selector import SelectorParams, dark_pixel_counts, select_slices
from lunglens.io import discover, load
from tests.benchmarks.common import authors_selector


def test_paper_worked_example_threshold():
    # counts 3030 and 30 -> threshold (3030 - 30) / 1.5 = 2000
    hu = np.zeros((2, 512, 512), np.int16)
    hu[0].reshape(-1)[:0] = 0
    region = np.zeros((100, 250), np.int16)
    region.reshape(-1)[:3030] = -1000
    hu[0, 240:340, 120:370] = region
    region2 = np.zeros((100, 250), np.int16)
    region2.reshape(-1)[:30] = -1000
    hu[1, 240:340, 120:370] = region2
    selection = select_slices(hu)
    assert selection.dark_pixel_counts.tolist() == [3030, 30]
    assert selection.threshold == 2000.0
    assert selection.kept.tolist() == [True, False]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 5), dark_share=st.floats(0.0, 1.0))
def test_equals_the_authors_per_pixel_loop(seed, n, dark_share):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2000, (n, 512, 512)).astype(np.uint16)
    raw[rng.random(raw.shape) < dark_share] = rng.integers(0, 300)
    raw[:, 240:340, 120:370][rng.random((n, 100, 250)) < 0.01] = 300  # the boundary value itself
    hu = raw.astype(np.int16) - 1024
    counts, threshold, kept = authors_selector(raw)
    selection = select_slices(hu)
    assert selection.dark_pixel_counts.tolist() == counts
    assert selection.threshold == pytest.approx(threshold)
    assert selection.kept.tolist() == kept


def test_region_scales_with_image_size():
    params = SelectorParams()
    assert params.region(512, 512) == (slice(240, 340), slice(120, 370))
    assert params.region(256, 256) == (slice(120, 170), slice(60, 185))
    assert params.region(768, 1024) == (slice(360, 510), slice(240, 740))
    hu = np.zeros((1, 256, 256), np.int16)
    hu[0, 120:170, 60:185] = -1000
    assert dark_pixel_counts(hu).tolist() == [50 * 125]


def test_parameters_are_data():
    hu = np.full((2, 512, 512), -800, np.int16)  # raw 224
    hu[1] = 0
    assert select_slices(hu, SelectorParams(dark_below_raw=200)).dark_pixel_counts.tolist() == [0, 0]
    assert select_slices(hu).dark_pixel_counts.tolist() == [25000, 0]


def _lung_area_per_slice(hu: np.ndarray) -> np.ndarray:
    """Independent measure: pixels of air (HU < -400) enclosed by the body (not connected to the
    image border), per slice, counting only components larger than 1000 pixels."""
    areas = []
    for plane in hu:
        air = (plane < -400).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(air, connectivity=4)
        border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
        inside = [i for i in range(1, n) if i not in border and stats[i, cv2.CC_STAT_AREA] > 1000]
        areas.append(int(stats[inside, cv2.CC_STAT_AREA].sum()) if inside else 0)
    return np.array(areas)


@pytest.mark.parametrize("name", ["P001", "normal001"])
def test_on_real_series_kept_slices_are_lung_open(covid_ct_md, name):
    series = load(discover(covid_ct_md / name).series[0])
    selection = select_slices(series.standard_hu)
    lung_area = _lung_area_per_slice(series.hu)
    lung_open = lung_area > 0.25 * lung_area.max()
    kept = selection.kept
    # every kept slice shows open lungs
    assert lung_open[kept].all()
    # the ends of the series (neck above, upper abdomen below) are discarded
    first, last = np.flatnonzero(lung_open)[[0, -1]]
    assert not kept[:first].any() and not kept[last + 1 :].any()
    assert not kept[:5].any() and not kept[-5:].any()
    # and the selector keeps the bulk of the lung-open span
    assert kept.sum() >= 0.55 * lung_open.sum()
