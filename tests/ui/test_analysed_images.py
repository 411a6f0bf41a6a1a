"""An analysis is shown only on the images it was made of: one remembered from earlier in the
session or saved (a batch's JSON, a worklist row) is compared with the series on screen by the
fingerprint of its images (`Series.fingerprint`), not only by its key and slice count."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from lunglens.analysis import Analysis, AnalysisOptions, analyse
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.synthetic import make_phantom, write_dicom_series
from lunglens.synthetic.writers import write_tiff_series
from lunglens.ui.controller import session_key

#: 256 pixels a side: TIFF states no pixel size (a nominal 1 mm), and smaller phantoms hold too
#: little lung to quantify at that size.
SLICES, SIZE, SPACING_MM = 24, 256, 0.7 * 512 / 256


def _volume(seed: int, covid: bool) -> np.ndarray:
    made = make_phantom(
        n_slices=SLICES,
        size=SIZE,
        pixel_spacing_mm=SPACING_MM,
        seed=seed,
        covid_severity=0.7 if covid else 0.0,
    )
    return made.hu


def _open(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(folder)


def test_a_remembered_analysis_is_not_shown_on_replaced_tiff_slices(qtbot, window, tmp_path):
    """A TIFF folder (key: its path) whose slices were replaced by another patient's, as many:
    the analysis made earlier in the session is not shown on them, and the reader is told."""
    patient, other = tmp_path / "patient", tmp_path / "other"
    write_tiff_series(_volume(1, covid=True), patient)
    write_tiff_series(_volume(2, covid=False), other)
    control = window.controller
    _open(qtbot, window, patient)
    with qtbot.waitSignal(control.analysisDone, timeout=60000):
        control.run_analysis()
    key = window.state.series.ref.key
    _open(qtbot, window, other)
    _open(qtbot, window, patient)  # unchanged: it comes back
    assert window.state.analysis is not None and window.state.analysis.series.key == key
    _open(qtbot, window, other)
    shutil.rmtree(patient / "SR_2")
    write_tiff_series(_volume(0, covid=False), patient)
    with qtbot.waitSignal(window.messageShown, timeout=60000) as told:
        control.open_folder(patient)
    qtbot.waitUntil(lambda: window.state.series is not None and window.state.series.ref.key == key)
    assert "differ from those analysed earlier" in told.args[0] and str(patient / "SR_2") in told.args[0]
    assert window.state.analysis is None and session_key(window.state.series.ref) not in control.results
    assert not window.export_action.isEnabled()
    assert "images differ" in window.analysis_panel.message.text()


@pytest.fixture
def saved(tmp_path, tiny_model_card) -> tuple[Path, Path, Analysis]:
    """A DICOM series and its analysis saved as JSON beside it (as a batch writes one)."""
    folder = tmp_path / "series"
    write_dicom_series(_volume(1, covid=True), np.arange(SLICES) * -5.0, SPACING_MM, 5.0, folder, seed=7)
    analysis = analyse(
        load(discover(folder).series[0]),
        load_model(tiny_model_card, provider="cpu"),
        AnalysisOptions(lesion_method="hu_bands"),
    )
    path = tmp_path / "result.json"
    path.write_text(analysis.to_json())
    return folder, path, analysis


def test_a_saved_analysis_is_not_shown_on_changed_pixels(qtbot, window, saved):
    """The same files, UIDs and slice count, the pixels mirrored (a corrected re-send): the saved
    analysis is not shown, and the reader is told which file was not shown and why."""
    folder, path, analysis = saved
    for file in sorted(folder.glob("*.dcm")):
        dataset = pydicom.dcmread(file)
        dataset.PixelData = np.ascontiguousarray(dataset.pixel_array[:, ::-1]).tobytes()
        dataset.save_as(file)
    with qtbot.waitSignal(window.messageShown, timeout=60000) as told:
        window.controller.open_with_analysis(folder, analysis, str(path))
    assert str(path) in told.args[0] and "other images" in told.args[0]
    qtbot.waitUntil(lambda: window.state.series is not None)
    assert window.state.series.ref.key == analysis.series.key
    assert window.state.analysis is None and not window.export_action.isEnabled()


def test_a_saved_analysis_is_shown_on_its_own_images(qtbot, window, saved):
    folder, path, analysis = saved
    window.lesion_method_actions["hu_bands"].trigger()  # its method: it is shown as saved
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.open_with_analysis(folder, analysis, str(path))
    assert (
        window.state.analysis.series == analysis.series and window.state.analysis.created == analysis.created
    )
    assert "cannot be confirmed" not in window.analysis_panel.message.text()


def test_an_older_saved_analysis_without_fingerprint_is_shown_with_a_note(qtbot, window, saved):
    folder, path, analysis = saved
    data = json.loads(path.read_text())
    del data["series"]["fingerprint"]  # as LungLens wrote it before it recorded the images
    older = Analysis.from_dict(data)
    assert older.series.fingerprint == ""
    window.lesion_method_actions["hu_bands"].trigger()  # its method: it is shown as saved
    with qtbot.waitSignal(window.messageShown, timeout=60000) as told:
        window.controller.open_with_analysis(folder, older, str(path))
    assert str(path) in told.args[0] and "cannot be confirmed to match" in told.args[0]
    assert window.state.analysis.series == older.series
    assert "cannot be confirmed to match these images" in window.analysis_panel.message.text()


def test_a_saved_analysis_of_another_lesion_method_is_shown_as_saved_and_the_menu_follows_it(
    qtbot, window, saved
):
    """Saved with the HU bands, opened while the learned map is chosen: shown as saved (no model
    runs), the menu turns to the HU bands; choosing the learned map then quantifies it again."""
    folder, path, analysis = saved
    assert window.controller.lesion_method == "learned" and analysis.quantification.method == "hu_bands"
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.open_with_analysis(folder, analysis, str(path))
    assert window.state.analysis.quantification.method == "hu_bands"
    assert window.lesion_method_actions["hu_bands"].isChecked()
    assert not window.controller.jobs["analysis"].running  # no re-quantification started
    window.lesion_method_actions["learned"].trigger()
    qtbot.waitUntil(lambda: window.state.analysis.quantification.method == "learned", timeout=120000)
    assert window.state.analysis.created == analysis.created
    assert "did not run again" in window.analysis_panel.message.text()


def test_a_copy_of_a_series_in_another_folder_keeps_its_own_analysis(qtbot, window, small_patient, tmp_path):
    """Two folders of the same series UIDs (the whole series and a copy of part of it): each
    keeps its own analysis in the session; neither is taken for the other with its files changed."""
    part = tmp_path / "part"
    part.mkdir()
    for path in sorted(small_patient.glob("CT*.dcm"))[2:-2]:
        shutil.copy(path, part / path.name)
    control, told = window.controller, []
    window.messageShown.connect(told.append)
    _open(qtbot, window, small_patient)
    with qtbot.waitSignal(control.analysisDone, timeout=60000):
        control.run_analysis()
    whole = window.state.analysis
    _open(qtbot, window, part)
    assert window.state.series.ref.key == whole.series.key and window.state.n_slices == whole.n_slices - 4
    assert window.state.analysis is None and told == []
    with qtbot.waitSignal(control.analysisDone, timeout=60000):
        control.run_analysis()
    with qtbot.waitSignal(control.analysisRestored, timeout=60000):
        control.open_folder(small_patient)
    restored = window.state.analysis
    assert np.array_equal(restored.p_covid, whole.p_covid, equal_nan=True) and told == []
    with qtbot.waitSignal(control.analysisRestored, timeout=60000):
        control.open_folder(part)
    assert window.state.analysis.n_slices == whole.n_slices - 4 and told == []
