""" "Send results to PACS" is disabled, its tooltip saying why, for an analysed series that cannot
have DICOM results (no pixel spacing, multi-frame, TIFF: `dicom_results_problem`); before, a series
without pixel spacing or a multi-frame one let the reader send and crashed in the background. An
anonymised report of a series whose pixels carry identifying text is refused (`pixel_identity_problem`)."""

from __future__ import annotations

import pytest

from tests.dicomout.unusable import UNUSABLE, with_burned_in_annotation


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


def test_an_anonymised_report_of_pixels_with_identifying_text_is_refused(
    qtbot, window, tmp_path, monkeypatch
):
    """The series' files declare BurnedInAnnotation YES: with "Anonymise exported reports" on, Export
    says why before a file is asked for, and no report is written (its key images show the pixels)."""
    import lunglens.ui.main_window as main_window_module

    folder = with_burned_in_annotation(tmp_path / "series")
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    window.controller.set_anonymise_exports(True)
    asked = []
    monkeypatch.setattr(
        main_window_module.QFileDialog, "getSaveFileName", lambda *a: asked.append(a) or ("", "")
    )
    with qtbot.waitSignal(window.messageShown) as shown:
        window.export_action.trigger()
    assert "BurnedInAnnotation YES" in shown.args[0] and not asked
    target = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.controller.problem) as problem:
        window.controller.export_report(target)
    assert "BurnedInAnnotation YES" in problem.args[1] and not target.exists()
    window.controller.set_anonymise_exports(False)
    window.controller.export_report(target)  # identified: the reader's own
    assert target.exists()
