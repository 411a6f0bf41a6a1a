""" "Send results to PACS" is disabled, its tooltip saying why, for an analysed series that cannot
have DICOM results (no pixel spacing, multi-frame, TIFF: `dicom_results_problem`); before, a series
without pixel spacing or a multi-frame one let the reader send and crashed in the background."""

from __future__ import annotations

import pytest

from tests.dicomout.unusable import UNUSABLE


@pytest.mark.parametrize(("make", "reason"), UNUSABLE[:2])  # (the TIFF phantom holds no lung)
def test_send_is_disabled_with_the_reason(qtbot, window, tmp_path, make, reason):
    folder = make(tmp_path / "series")
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    action = window.hospital.send_action
    assert not action.isEnabled()
    assert reason in action.toolTip() and str(folder) in action.toolTip()
