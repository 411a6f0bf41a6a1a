"""The status bar never cuts a message silently: "…: no verdict" read "…: no" against the model
line, and the path of a written report was cut mid-name."""

from __future__ import annotations

NO_VERDICT = (
    "/home/reader/studies/2024/robustness/dicom-robustness/dcmqi_ct-3slice, series 2: no lung found: 46 mL of lung-like air (at least 100 mL "
    "needed): no verdict"
)


def test_a_message_too_long_for_the_bar_ends_in_an_ellipsis_with_the_whole_in_its_tooltip(qtbot, window):
    window.resize(1000, 650)
    bar = window.statusBar()
    bar.showMessage(NO_VERDICT, 15000)
    qtbot.wait(50)
    shown = bar.note.text()
    assert shown.endswith("…") and NO_VERDICT.startswith(shown[:-1]) and len(shown) < len(NO_VERDICT)
    assert bar.note.toolTip() == NO_VERDICT and bar.currentMessage() == NO_VERDICT
    assert bar.note.geometry().right() < window.model_label.geometry().left()  # beside it, not under it
    window.resize(2400, 650)  # room again: the whole message, no tooltip needed
    qtbot.waitUntil(lambda: bar.note.text() == NO_VERDICT)
    assert bar.note.toolTip() == ""


def test_messages_pass_and_clear_as_qts_do(qtbot, window):
    bar = window.statusBar()
    bar.showMessage("Report written to /tmp/r.pdf", 50)
    assert bar.currentMessage() == "Report written to /tmp/r.pdf"
    qtbot.waitUntil(lambda: bar.currentMessage() == "" and bar.note.text() == "")
    bar.showMessage("Reading /tmp/x…")  # until replaced
    qtbot.wait(100)
    assert bar.currentMessage() == "Reading /tmp/x…"
    bar.clearMessage()
    assert bar.currentMessage() == ""


def test_the_model_line_is_elided_with_the_whole_in_its_tooltip(qtbot, window):
    from lunglens.ui.main_window import MODEL_LABEL_PX

    label = window.model_label
    whole = "Model: lunglens-demo 1.0.0 · CPU — the CUDA provider could not start (no NVIDIA GPU, " * 2
    label.set_text(whole)
    qtbot.wait(50)
    assert label.width() <= MODEL_LABEL_PX
    assert label.text().endswith("…") and label.toolTip() == whole
    label.set_text("Model: none (see Analysis)", "No model could be loaded: why")
    assert label.toolTip() == "No model could be loaded: why"  # the details, whatever the width
