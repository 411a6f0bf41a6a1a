""" "Open from PACS…" and "Send results to PACS" against a real Orthanc (tests/pacs/conftest.py):
a phantom patient is uploaded, found, retrieved with progress and opened; the analysis' DICOM
results are stored in its study and found there; failures are named and never carry the
password; the remembered connection holds URL and user only. The reader confirms the server
results go to (that test stores with a fake, no Orthanc needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lunglens.ui.pacs_session as session_module
from lunglens.pacs import Connection
from tests.batch.conftest import write_archive
from tests.pacs.conftest import USER, dicomweb_env, free_port, orthanc, start_refusing_orthanc  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def uploaded(orthanc, tmp_path_factory):  # noqa: F811 - the fixture imported above
    archive = write_archive(tmp_path_factory.mktemp("pacs-archive"), 1, bad=False)
    orthanc.upload(sorted((archive / "PAT000").glob("*.dcm")))
    return orthanc


def _wait_message(qtbot, dialog, fragment: str) -> str:
    qtbot.waitUntil(lambda: fragment in dialog.message.text(), timeout=30000)
    return dialog.message.text()


def test_search_open_and_send_results(qtbot, window, uploaded, dicomweb_env, tmp_path):  # noqa: F811
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(uploaded.dicomweb_url)
    dialog.user_edit.setText(USER)
    dialog.patient_edit.setText("PAT000")
    with qtbot.waitSignal(dialog.session.studiesFound, timeout=30000):
        dialog.search_button.click()
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "PAT000"
    study_uid = dialog.studies[0].study_uid
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        dialog.open_button.click()
    folder = Path(window.state.series.ref.folder)
    assert folder.name.startswith("lunglens-pacs-") or any(
        p.name.startswith("lunglens-pacs-") for p in folder.parents
    )
    assert window.state.series.n_slices == 24 and not dialog.isVisible()

    settings_text = Path(window.settings.fileName()).read_text()
    assert uploaded.dicomweb_url in settings_text and USER in settings_text
    assert uploaded.password not in settings_text

    assert not window.hospital.send_action.isEnabled()
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    assert window.hospital.send_action.isEnabled()
    window.controller.set_anonymise_exports(True)  # refused before any server is asked for
    with qtbot.waitSignal(window.messageShown) as shown:
        window.hospital.send_action.trigger()
    assert "anonymised" in shown.args[0] and window.hospital.send_dialog is None
    window.controller.set_anonymise_exports(False)
    window.hospital.send_action.trigger()
    assert window.hospital.send_dialog.destination().where == uploaded.dicomweb_url.rstrip("/")
    assert not window.hospital.send_dialog.sent_before.isVisibleTo(window.hospital.send_dialog)
    with qtbot.waitSignal(window.hospital.pacs.stored, timeout=120000) as stored:
        window.hospital.send_dialog.send_button.click()
    assert study_uid in stored.args[0]
    window.hospital.send_action.trigger()  # a second sending is warned of: the PACS would keep both sets
    again = window.hospital.send_dialog
    assert (
        again.sent_before.isVisibleTo(again)
        and window.state.analysis.decision.summary() in again.sent_before.text()
    )
    again.reject()
    series = Connection(url=uploaded.dicomweb_url, user=USER).client().search_for_series(study_uid)
    modalities = {item["00080060"]["Value"][0] for item in series}
    assert {"CT", "SR"} <= modalities


def test_sending_anonymised_results_is_refused(qtbot, window, uploaded, dicomweb_env):  # noqa: F811
    connection = window.hospital.pacs.connect_to(uploaded.dicomweb_url, USER)
    window.controller.set_anonymise_exports(True)
    with qtbot.waitSignal(window.messageShown) as shown:
        window.hospital.pacs.send_results(connection, object(), object(), window.controller.anonymise_exports)
    assert "anonymised" in shown.args[0]


def test_a_wrong_typed_password_is_named_and_not_shown(qtbot, window, uploaded, monkeypatch):  # noqa: F811
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(uploaded.dicomweb_url)
    dialog.user_edit.setText(USER)
    dialog.password_edit.setText("not-the-password-42")
    dialog.search_button.click()
    text = _wait_message(qtbot, dialog, "HTTP 401")
    assert "authentication failed" in text and "not-the-password-42" not in text
    assert "not-the-password-42" not in Path(window.settings.fileName()).read_text()
    assert "not-the-password-42" not in repr(window.hospital.pacs.last)


def test_a_typed_password_signs_in_for_the_session(qtbot, window, uploaded, monkeypatch):  # noqa: F811
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(uploaded.dicomweb_url)
    dialog.user_edit.setText(USER)
    dialog.password_edit.setText(uploaded.password)
    dialog.patient_edit.setText("PAT*")  # a wildcard reaches the server as typed, not as %2A
    with qtbot.waitSignal(dialog.session.studiesFound, timeout=30000):
        dialog.search_button.click()
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "PAT000"
    assert uploaded.password not in Path(window.settings.fileName()).read_text()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (f"http://127.0.0.1:{free_port()}/dicom-web", "host unreachable"),
        ("ftp://example.org/dicom-web", "not an http(s) DICOMweb URL"),
    ],
)
def test_failures_are_named(qtbot, window, url, named):
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(url)
    dialog.search_button.click()
    _wait_message(qtbot, dialog, named)


def test_connections_are_remembered_without_secrets(qtbot, window, uploaded, dicomweb_env):  # noqa: F811
    window.hospital.pacs.connect_to(uploaded.dicomweb_url, USER, "typed-secret")
    window.hospital.pacs.connect_to("https://pacs.example.org/dicom-web", "")
    assert window.hospital.pacs.remembered() == [
        {"url": "https://pacs.example.org/dicom-web", "user": ""},
        {"url": uploaded.dicomweb_url, "user": USER},
    ]
    assert "typed-secret" not in Path(window.settings.fileName()).read_text()


def test_a_new_search_clears_the_studies_of_the_last(qtbot, window, uploaded, dicomweb_env):  # noqa: F811
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(uploaded.dicomweb_url)
    dialog.user_edit.setText(USER)
    with qtbot.waitSignal(dialog.session.studiesFound, timeout=30000):
        dialog.search_button.click()
    assert dialog.table.rowCount() >= 1 and dialog.open_button.isEnabled()
    dialog.url_box.setEditText(f"http://127.0.0.1:{free_port()}/dicom-web")
    dialog.search_button.click()
    _wait_message(qtbot, dialog, "host unreachable")
    assert dialog.table.rowCount() == 0 and not dialog.open_button.isEnabled()


def test_the_reader_confirms_and_may_change_the_server_results_go_to(qtbot, window, tmp_path, monkeypatch):
    """ "Send results to PACS" stored at once on the server used last, which the reader was never
    shown; now a dialog names the study and the server (the one used last first, the others
    remembered), nothing is sent until the reader confirms, and the status names the server."""
    sent = []

    def fake_store(connection, datasets):
        sent.append((connection, datasets))
        return [str(d.SOPInstanceUID) for d in datasets]

    monkeypatch.setattr(session_module, "store", fake_store)
    archive = write_archive(tmp_path, 1, bad=False)
    with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
        window.controller.open_folder(archive / "PAT000")
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        window.controller.run_analysis()
    other, used = "https://other-pacs.example.org/dicom-web", "https://pacs.example.org/dicom-web"
    window.hospital.pacs.connect_to(other, "")
    window.hospital.pacs.connect_to(used, "reader")  # e.g. the server a study was opened from

    window.hospital.send_action.trigger()
    dialog = window.hospital.send_dialog
    assert dialog.isVisible()
    choices = [dialog.server_box.itemText(i) for i in range(dialog.server_box.count())]
    assert choices == [f"{used} (user reader)", f"{other} (no sign-in)"]
    assert dialog.server_box.currentText() == choices[0]
    assert window.state.series.ref.study_uid in dialog.what.text()
    dialog.reject()
    assert not sent

    window.hospital.send_action.trigger()
    dialog = window.hospital.send_dialog
    dialog.server_box.setCurrentIndex(1)
    with qtbot.waitSignal(window.hospital.pacs.stored, timeout=60000):
        dialog.send_button.click()
    assert [connection.where for connection, _ in sent] == [other]
    assert other in window.statusBar().currentMessage()


def test_results_a_site_rule_turned_away_are_named_when_sent(qtbot, window, tmp_path, monkeypatch):
    """Send results to PACS stores through the same `store` as `--store`: an Orthanc acknowledging
    the PDF its Lua filter refused is no "N result objects stored" but the same message, naming
    what the server did not keep."""
    server = start_refusing_orthanc(tmp_path / "orthanc", "DOC")
    try:
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
        monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
        archive = write_archive(tmp_path, 1, bad=False)
        with qtbot.waitSignal(window.controller.seriesLoaded, timeout=60000):
            window.controller.open_folder(archive / "PAT000")
        with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
            window.controller.run_analysis()
        window.hospital.pacs.connect_to(server.dicomweb_url, USER)
        window.hospital.send_action.trigger()
        with qtbot.waitSignal(window.messageShown, timeout=120000) as shown:
            window.hospital.send_dialog.send_button.click()
    finally:
        server.stop()
    assert "the server acknowledged every instance" in shown.args[0]
    assert shown.args[0].endswith(
        "the server did not keep: the PDF report (encapsulated PDF); look in the PACS before sending again"
    ), shown.args[0]
