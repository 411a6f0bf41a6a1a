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


def test_send_says_what_the_files_lack_before_a_server_is_asked_for(qtbot, window, tmp_path, monkeypatch):
    """The files are read when the reader sends, not on every move of the operating point: Send
    is enabled from the series' record, and a click names what the results need and the files lack."""
    import pydicom

    from tests.dicomout.unusable import phantom_slices

    folder = tmp_path / "series"
    for path in phantom_slices(folder):
        dataset = pydicom.dcmread(path)
        del dataset.FrameOfReferenceUID
        dataset.save_as(path)
    window.controller.set_lesion_method("hu_bands")
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    said = []
    monkeypatch.setattr(window, "show_message", lambda title, text: said.append((title, text)))
    assert window.hospital.send_action.isEnabled()
    assert window.hospital.send_results() is None
    assert said and said[0][0] == "Results not sent" and "FrameOfReferenceUID" in said[0][1]
