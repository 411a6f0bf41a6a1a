"""Cine: plays through the slices at the set rate, wraps at the end, stops on a new series,
keys and controls agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from lunglens.io.series import SeriesRef
from lunglens.ui.cine import MAX_FPS, MIN_FPS, CineController, CineControls
from lunglens.ui.state import ViewerState


def ref(n: int) -> SeriesRef:
    """A series of `n` slices (nothing is read: the cine only moves the index)."""
    return SeriesRef(
        key=f"series-{n}",
        source_format="dicom",
        frames=tuple((Path(f"/nowhere/{i}.dcm"), None) for i in range(n)),
        modality="CT",
        orientation="axial",
        rows=8,
        columns=8,
        pixel_spacing_mm=(1.0, 1.0),
        slice_thickness_mm=1.0,
        description="cine test",
    )


@pytest.fixture
def cine(qtbot):
    state = ViewerState()
    state.set_ref(ref(5))
    state.set_index(3)
    controller = CineController(state)
    controls = CineControls(controller)
    qtbot.addWidget(controls)
    return controller, controls


def test_plays_forward_and_wraps_to_the_first_slice(qtbot, cine):
    controller, controls = cine
    controller.set_fps(MAX_FPS)
    seen = []
    controller.state.sliceChanged.connect(seen.append)
    with qtbot.waitSignal(controller.playingChanged):
        controls.button.click()
    assert controller.playing and controls.button.text() == "Pause" and not controls.button.icon().isNull()
    qtbot.waitUntil(lambda: len(seen) >= 4, timeout=5000)
    controller.stop()
    assert seen[:4] == [4, 0, 1, 2]
    assert not controller.playing and not controls.button.isChecked()


def test_rate_is_clipped_and_shown(cine):
    controller, controls = cine
    controller.set_fps(100)
    assert controller.fps == MAX_FPS and controls.rate.value() == MAX_FPS
    controls.actions_by_key["["].trigger()
    assert controller.fps == MAX_FPS - 1
    controls.rate.setValue(0)
    assert controller.fps == MIN_FPS


def test_space_toggles_and_a_new_series_stops(cine):
    controller, controls = cine
    controls.actions_by_key["Space"].trigger()
    assert controller.playing
    controller.state.set_ref(ref(7))
    assert not controller.playing
    controls.actions_by_key["Space"].trigger()
    controls.actions_by_key["Space"].trigger()
    assert not controller.playing


def test_a_single_slice_does_not_play(cine):
    controller, _ = cine
    controller.state.set_ref(ref(1))
    controller.play()
    assert not controller.playing
