"""The viewer's PACS session, without widgets: the remembered connections (URL and user, never
a secret, in QSettings), the password typed for this session (kept in memory only), and the
background jobs that search (QIDO-RS), retrieve (WADO-RS into a temporary folder that is removed
when LungLens exits: a study chosen in the PACS dialog, or the series of a worklist row of a batch
over a PACS) and store results (STOW-RS) with `lunglens.pacs`.

Passwords: LUNGLENS_DICOMWEB_PASSWORD (or a bearer token in LUNGLENS_DICOMWEB_TOKEN) as on the
command line, or one typed into the dialog, which lives in this object until LungLens exits: it
is never written to the settings, a file or a message."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PySide6.QtCore import QObject, QSettings, Signal

from lunglens.pacs import Connection, SeriesAddress, find_studies, retrieve_study, store
from lunglens.ui.workers import JobSlot, WorkerSignals

SETTINGS_KEY = "pacs/connections"
MAX_CONNECTIONS = 8


@dataclass(frozen=True)
class SessionConnection(Connection):
    """A `Connection` that may carry a password typed for this session (not in its repr, never
    saved); without one, the environment's credentials are used as `Connection` does."""

    password: str | None = field(default=None, repr=False, compare=False)

    def session(self) -> requests.Session:
        if not (self.user and self.password):
            return super().session()
        session = requests.Session()
        session.verify = self.ca_file or True
        session.auth = (self.user, self.password)
        return session


class PacsSession(QObject):
    """Searches, retrievals and stores for one viewer session. `studiesFound(list[StudySummary])`,
    `retrieved(folder)`, `failed(title, text)` and `progress(done, total)` report searches and
    retrievals, `stored(text)` and `sendFailed(title, text)` the sending of results; `last` is the connection used last (where results are sent)."""

    studiesFound = Signal(object)
    retrieved = Signal(object)
    stored = Signal(str)
    failed = Signal(str, str)
    sendFailed = Signal(str, str)
    progress = Signal(int, int)

    def __init__(self, settings: QSettings):
        super().__init__()
        self.settings = settings
        self.password: str | None = None
        self.last: SessionConnection | None = None
        self.jobs = {name: JobSlot() for name in ("search", "retrieve", "store")}

    # --- connections -----------------------------------------------------------------------
    def remembered(self) -> list[dict]:
        """The connections used before, newest first: [{"url": ..., "user": ...}]."""
        try:
            items = json.loads(self.settings.value(SETTINGS_KEY, "[]") or "[]")
        except (TypeError, ValueError):
            return []
        return [
            {"url": str(i.get("url", "")), "user": str(i.get("user") or "")} for i in items if i.get("url")
        ]

    def connect_to(self, url: str, user: str, password: str = "") -> SessionConnection:
        """The connection for `url` and `user` (a typed `password` is kept for the session);
        remembers URL and user. Raises PacsError for a URL that is not http(s)."""
        if password:
            self.password = password
        connection = SessionConnection(
            url=url.strip(), user=user.strip() or None, password=self.password if user.strip() else None
        )
        entry = {"url": connection.url, "user": connection.user or ""}
        items = [entry] + [i for i in self.remembered() if i != entry]
        self.settings.setValue(SETTINGS_KEY, json.dumps(items[:MAX_CONNECTIONS]))
        self.last = connection
        return connection

    def connection_for(self, url: str) -> SessionConnection:
        """The connection to `url` as remembered (its user, with the password typed in this
        session or the environment's credentials), without a user when `url` was never used.
        Raises PacsError for a URL that is not http(s)."""
        user = next((i["user"] for i in self.remembered() if i["url"] == url), "")
        return SessionConnection(url=url, user=user or None, password=self.password if user else None)

    # --- jobs ------------------------------------------------------------------------------
    def search(self, connection: Connection, patient: str = "", date: str = "") -> None:
        """List the CT studies matching `patient` and `date` (QIDO-RS) in the background."""
        signals = self.jobs["search"].start(
            lambda _p, _c: find_studies(connection, patient=patient or None, date=date or None, modality="CT")
        )
        signals.finished.connect(self.studiesFound)
        signals.failed.connect(lambda message: self.failed.emit("Cannot search the PACS", message))

    def _retrieve(
        self, connection: Connection, study_uid: str, series_uid: str | None = None
    ) -> WorkerSignals:
        """Retrieve a study (one series of it when given) into a new temporary folder (removed at
        exit) in the background; the signals report progress, the folder, or the failure."""
        folder = Path(tempfile.mkdtemp(prefix="lunglens-pacs-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        self.last = connection  # results are sent where their series came from
        return self.jobs["retrieve"].start(
            lambda progress, _c: (
                retrieve_study(connection, study_uid, folder, series=series_uid, progress=progress).folder
            )
        )

    def retrieve(self, connection: Connection, study_uid: str) -> None:
        """Retrieve a study, reporting through `progress`, `retrieved` and `failed`."""
        signals = self._retrieve(connection, study_uid)
        signals.progress.connect(self.progress)
        signals.finished.connect(self.retrieved)
        signals.failed.connect(lambda message: self.failed.emit("Cannot retrieve the study", message))

    def retrieve_series(self, address: SeriesAddress) -> WorkerSignals:
        """Retrieve the series at `address` (`connection_for` its server); the caller connects
        to the signals. Raises PacsError for an address whose URL is not http(s)."""
        return self._retrieve(self.connection_for(address.url), address.study_uid, address.series_uid)

    def send_results(self, analysis, series, anonymised: bool) -> None:
        """Build the DICOM results of `analysis` (SR, SEG, key images, PDF) and store them in
        their study on the connection used last, in the background."""
        if self.last is None:
            self.sendFailed.emit("No PACS", "Open a study from a PACS first (File > Open from PACS…).")
            return
        if anonymised:
            self.sendFailed.emit(
                "Results not sent",
                "Exports are anonymised: anonymised results cannot join the study in the PACS (they "
                "would form a study of their own). Switch off “Anonymise exported reports” to send them.",
            )
            return
        connection = self.last

        def work(_progress, _cancel) -> str:
            from lunglens.dicomout import build_dicom_results

            results = build_dicom_results(analysis, series, anonymise=False)
            stored = store(connection, [r.dataset for r in results])
            return f"{len(stored)} result objects stored in study {results[0].dataset.StudyInstanceUID} at {connection.where}"

        signals = self.jobs["store"].start(work)
        signals.finished.connect(lambda text: self.stored.emit(text))
        signals.failed.connect(lambda message: self.sendFailed.emit("Cannot send the results", message))

    def shutdown(self) -> None:
        for job in self.jobs.values():
            job.drop()
