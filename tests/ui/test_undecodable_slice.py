"""A slice that fails to decode is not in the loaded `Series`: the viewer counts slices from the
Series everywhere (strip, slider, navigation), not from what discovery found."""

from __future__ import annotations

import numpy as np
import pytest

from lunglens.core.selector import select_slices
from lunglens.io import discover, load
from lunglens.ui.slice_strip import SliceStrip
from lunglens.ui.state import ViewerState
from tests.factory import patch_bytes, write_series


@pytest.fixture
def folder_with_a_broken_slice(tmp_path):
    """Six slices found, five decodable (the last has RescaleSlope inf), with lung enough to be
    found (about 130 mL: an analysis of less gives no verdict)."""
    volume = np.full((6, 256, 256), 1064, np.uint16)
    volume[:, 60:200, 30:226] = 300  # -895 HU: air, not gas
    paths = write_series(tmp_path / "patient", volume, np.arange(6) * -2.0, slope=1.234567, intercept=-1265.0)
    patch_bytes(paths[-1], b"1.234567", b"inf")
    return tmp_path / "patient"


@pytest.mark.parametrize("discovered_index", [0, 3, 5])
def test_state_and_strip_count_the_loaded_slices(qtbot, folder_with_a_broken_slice, discovered_index):
    (ref,) = discover(folder_with_a_broken_slice).series
    series = load(ref)
    assert (ref.n_slices, series.n_slices) == (6, 5)
    state = ViewerState()
    strip = SliceStrip(state)
    qtbot.addWidget(strip)
    strip.resize(90, 300)
    state.set_ref(ref)
    state.index = discovered_index
    state.set_series(series, select_slices(series.standard_hu))
    assert state.n_slices == 5 and 0 <= state.index <= 4
    strip.grab()  # paints every row: an IndexError here is a test error
    state.set_index(99)
    assert state.index == 4
    assert strip.describe(4).startswith("Slice 5 of 5")


def test_viewer_with_a_slice_that_fails_to_decode(qtbot, window, folder_with_a_broken_slice):
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder_with_a_broken_slice)
    assert window.state.n_slices == 5 and window.slider.maximum() == 4
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    window.state.set_index(window.state.n_slices - 1)
    window.strip.grab()
    window.grab()
    assert window.state.index == 4
