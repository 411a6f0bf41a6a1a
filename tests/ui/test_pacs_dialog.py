""" "Open from PACS…" and "Send results to PACS" against a real Orthanc (tests/pacs/conftest.py):
a phantom patient is uploaded, found, retrieved with progress and opened; the analysis' DICOM
results are stored in its study and found there; failures are named and never carry the
password; the remembered connection holds URL and user only. The reader confirms the server
results go to (that test stores with a fake, no Orthanc needed). A search of a server slow to
answer (a stand-in, `HeldAnswers`) is stopped at once, by Stop or by closing the dialog: its
late answer is ignored and a new search runs at once."""

from __future__ import annotations

import importlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PySide6.QtCore import QThreadPool

import lunglens.ui.pacs_session as session_module
from lunglens.pacs import Connection
from tests.batch.conftest import write_archive
from tests.pacs.conftest import USER, dicomweb_env, free_port, orthanc, start_refusing_orthanc  # noqa: F401 - fixtures

store_module = importlib.import_module(
    "lunglens.pacs.store"
)  # the module (lunglens.pacs.store is the function)


@pytest.fixture(scope="module")
def uploaded(orthanc, tmp_path_factory):  # noqa: F811 - the fixture imported above
    archive = write_archive(tmp_path_factory.mktemp("pacs-archive"), 1, bad=False)
    orthanc.upload(sorted((archive / "PAT000").glob("*.dcm")))
    return orthanc


#: The study the stand-in server lists, as DICOM JSON.
HELD_STUDY = {
    "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.8.498.1"]},
    "00100020": {"vr": "LO", "Value": ["LATE001"]},
    "00080061": {"vr": "CS", "Value": ["CT"]},
}
#: The longest a test waits for the stand-in server (seconds): it answers then anyway.
HELD_GUARD_S = 30


class HeldAnswers(BaseHTTPRequestHandler):
    """A DICOMweb server slow to answer, at http://127.0.0.1:PORT/<mode>/dicom-web: QIDO-RS lists
    HELD_STUDY (nothing from an offset on); mode `held` answers only once `release` is set, `quick`
    at once. `asked` is set when a held search came in, `answered` once its answer went out."""

    protocol_version = "HTTP/1.1"
    release = asked = answered = threading.Event()

    def log_message(self, *_args):
        pass

    def do_GET(self):
        mode = self.path.split("/")[1]
        offset = int(parse_qs(urlsplit(self.path).query).get("offset", ["0"])[0])
        if mode == "held":
            type(self).asked.set()
            type(self).release.wait(HELD_GUARD_S)
        body = json.dumps([] if offset else [HELD_STUDY]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if mode == "held":
            type(self).answered.set()


@pytest.fixture
def held_server(monkeypatch):
    """The root of a `HeldAnswers` server (no credentials sent to it); released after the test."""
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
    HeldAnswers.release, HeldAnswers.asked, HeldAnswers.answered = (threading.Event() for _ in range(3))
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeldAnswers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    HeldAnswers.release.set()
    server.shutdown()
    server.server_close()


def _held_search(qtbot, window, root: str):
    """The PACS dialog with a search of `root`'s held mode under way (the server has it)."""
    dialog = window.hospital.open_pacs()
    dialog.url_box.setEditText(f"{root}/held/dicom-web")
    dialog.user_edit.setText("")
    dialog.search_button.click()
    qtbot.waitUntil(HeldAnswers.asked.is_set, timeout=10000)
    assert dialog.stop_button.isEnabled() and not dialog.search_button.isEnabled()
    return dialog


def _late_answer_ignored(qtbot, dialog, reported: list) -> None:
    """Let the held search's answer come, and check that nothing of it is shown or reported."""
    HeldAnswers.release.set()
    assert HeldAnswers.answered.wait(10)
    qtbot.wait(500)  # time for the answer to be parsed and, were it not ignored, shown
    assert not reported and dialog.table.rowCount() == 0
    assert "Search cancelled" in dialog.message.text()


def test_a_slow_search_is_stopped_at_once_and_a_new_one_runs(qtbot, window, held_server, tmp_path):
    """The search waited for the server's answer or the timeout (60 s), Stop-less; now Stop
    abandons it at once: the dialog says so, frees its worker (the thread pool loads series and
    runs analyses), ignores the answer that comes later, and searches again at once."""
    dialog = _held_search(qtbot, window, held_server)
    reported = []
    dialog.session.studiesFound.connect(lambda studies: reported.append(studies))
    dialog.session.failed.connect(lambda *args: reported.append(args))
    dialog.grab().save(str(tmp_path / "searching.png"))
    started = time.monotonic()
    dialog.stop_button.click()
    assert time.monotonic() - started < 1.0
    assert "Search cancelled" in dialog.message.text()
    assert dialog.search_button.isEnabled() and not dialog.stop_button.isEnabled()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=2000)
    assert not HeldAnswers.answered.is_set()  # the server still holds its answer
    _late_answer_ignored(qtbot, dialog, reported)

    dialog.url_box.setEditText(f"{held_server}/quick/dicom-web")
    with qtbot.waitSignal(dialog.session.studiesFound, timeout=10000):
        dialog.search_button.click()
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "LATE001"
    assert dialog.search_button.isEnabled() and not dialog.stop_button.isEnabled()


def test_closing_the_dialog_during_a_search_abandons_it(qtbot, window, held_server):
    dialog = _held_search(qtbot, window, held_server)
    reported = []
    dialog.session.studiesFound.connect(lambda studies: reported.append(studies))
    dialog.session.failed.connect(lambda *args: reported.append(args))
    started = time.monotonic()
    dialog.close()
    assert time.monotonic() - started < 1.0 and not dialog.isVisible()
    _late_answer_ignored(qtbot, dialog, reported)
    assert window.hospital.open_pacs() is dialog and dialog.search_button.isEnabled()


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
    monkeypatch.setattr(store_module, "LIST_AGAIN_S", (0.1,))
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
