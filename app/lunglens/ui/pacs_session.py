"""The viewer's PACS session, without widgets: the remembered connections (URL and user, never
a secret, in QSettings), the passwords typed for this session (kept in memory only, each for its
server and user), and the
background jobs that search (QIDO-RS), retrieve (WADO-RS into a temporary folder that is removed
when LungLens exits: a study chosen in the PACS dialog, or the series of a worklist row of a batch
over a PACS) and store results (STOW-RS) with `lunglens.pacs`.

Passwords: LUNGLENS_DICOMWEB_PASSWORD (or a bearer token in LUNGLENS_DICOMWEB_TOKEN) as on the
command line, or one typed into the dialog, which lives in this object until LungLens exits: it
is never written to the settings, a file or a message."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PySide6.QtCore import QObject, QSettings, Signal

from lunglens.pacs import (
    Connection,
    PacsError,
    SeriesAddress,
    find_studies,
    retrieve_study,
    store,
    stored_text,
)
from lunglens.ui.session_folders import make_session_folder
from lunglens.ui.workers import JobSlot, WorkerSignals, abandonable

SETTINGS_KEY = "pacs/connections"
MAX_CONNECTIONS = 8


def _server(url: str) -> str:
    """A server URL as compared: without surrounding spaces and trailing slashes."""
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class SessionConnection(Connection):
    """A `Connection` that may carry a password typed for this session (not in its repr, never
    saved); without one, the environment's credentials are used as `Connection` does."""

    password: str | None = field(default=None, repr=False, compare=False)

    def sign_in(self, session: requests.Session) -> None:
        if self.user and self.password:
            session.auth = (self.user, self.password)
        else:
            super().sign_in(session)


#: Why anonymised results are never sent to the PACS.
ANONYMISED_NOT_SENT = (
    "Exports are anonymised: anonymised results cannot join the study in the PACS (they would form "
    "a study of their own). Switch off “Anonymise exported reports” to send them."
)


class PacsSession(QObject):
    """Searches, retrievals and stores for one viewer session. `studiesFound(list[StudySummary])`,
    `retrieved(folder)`, `failed(title, text)` and `progress(done, total)` report searches and
    retrievals, `stored(text)` and `sendFailed(title, text)` the sending of results; `last` is the
    connection used last (offered first as where results are sent, `destinations`)."""

    studiesFound = Signal(object)
    retrieved = Signal(object)
    stored = Signal(str)
    failed = Signal(str, str)
    sendFailed = Signal(str, str)
    progress = Signal(int, int)

    def __init__(self, settings: QSettings):
        super().__init__()
        self.settings = settings
        self.sent: dict[str, list[str]] = {}
        """The results sent in this session per series (`SeriesRef.key`), one line per sending:
        when, where, and the decision sent ("10:41 to https://…: COVID-19: 19 of 23 …")."""
        self.passwords: dict[tuple[str, str], str] = {}
        """Passwords typed in this session, by (server URL, user): each is sent only there."""
        self.last: SessionConnection | None = None
        self.series_folders: dict[str, Path] = {}
        """Series retrieved for worklist rows in this session: address text -> folder."""
        self.jobs = {name: JobSlot() for name in ("search", "retrieve", "retrieve_series", "store")}

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

    def connection(self, url: str, user: str) -> SessionConnection:
        """The connection to `url` as `user` ("" for none) with the password typed for that
        server and user in this session (else the environment's credentials). Raises PacsError
        for a URL that is not http(s)."""
        password = self.passwords.get((_server(url), user)) if user else None
        return SessionConnection(url=url, user=user or None, password=password)

    def connect_to(self, url: str, user: str, password: str = "") -> SessionConnection:
        """The connection for `url` and `user` (a typed `password` is kept for the session, for
        that server and user only); remembers URL and user. Raises PacsError for a URL that is not
        http(s)."""
        url, user = url.strip(), user.strip()
        if password:
            self.passwords[(_server(url), user)] = password
        connection = self.connection(url, user)
        entry = {"url": connection.url, "user": connection.user or ""}
        items = [entry] + [i for i in self.remembered() if i != entry]
        self.settings.setValue(SETTINGS_KEY, json.dumps(items[:MAX_CONNECTIONS]))
        self.last = connection
        return connection

    def connection_for(self, url: str) -> SessionConnection:
        """The connection to `url` as remembered (its user, with the password typed for it in
        this session or the environment's credentials). Raises PacsError for a server this viewer
        never connected to: an address in a file (a worklist) is not trusted with credentials."""
        entry = next((i for i in self.remembered() if _server(i["url"]) == _server(url)), None)
        if entry is None:
            raise PacsError(
                f"{_server(url)}: this viewer has not connected to that server; connect to it once with "
                "File > Open from PACS… (signing in there), then open the row again"
            )
        return self.connection(entry["url"], entry["user"])

    def destinations(self) -> list[SessionConnection]:
        """Where results may be sent: the connection used last first (the server the series
        came from when it came from a PACS), then the other remembered ones, newest first. A
        remembered URL that is no longer valid (a settings file edited by hand) is left out."""
        found = [self.last] if self.last is not None else []
        for item in self.remembered():
            try:
                connection = self.connection(item["url"], item["user"])
            except PacsError:
                continue
            if connection not in found:
                found.append(connection)
        return found

    # --- jobs ------------------------------------------------------------------------------
    def search(self, connection: Connection, patient: str = "", date: str = "") -> None:
        """List the CT studies matching `patient` and `date` (QIDO-RS) in the background; the
        search can be abandoned at once (`cancel_search`)."""
        signals = self.jobs["search"].start(
            lambda _p, cancel: abandonable(
                lambda: find_studies(connection, patient=patient or None, date=date or None, modality="CT"),
                cancel,
            )
        )
        signals.finished.connect(self.studiesFound)
        signals.failed.connect(lambda message: self.failed.emit("Cannot search the PACS", message))

    @property
    def searching(self) -> bool:
        """Whether a search runs (started and neither answered, failed nor cancelled)."""
        return self.jobs["search"].running

    def cancel_search(self) -> bool:
        """Abandon the running search: nothing of it is reported, whenever the server answers
        (the request runs on to its answer or timeout in a thread of its own, `abandonable`).
        Returns whether a search was running."""
        running = self.searching
        self.jobs["search"].drop()
        return running

    def _retrieve(
        self, connection: Connection, study_uid: str, series_uid: str | None = None
    ) -> WorkerSignals:
        """Retrieve a study (one series of it when given) into a new temporary folder (removed when
        the session ends) in the background; the signals report progress, the folder, or the failure."""
        folder = make_session_folder("lunglens-pacs-")
        slot = self.jobs["retrieve" if series_uid is None else "retrieve_series"]
        return slot.start(
            lambda progress, _c: (
                retrieve_study(connection, study_uid, folder, series=series_uid, progress=progress).folder
            )
        )

    def _sent_back_to(self, connection: Connection):
        """The slot that makes `connection` the one results go to (once its series is there)."""
        return lambda _folder: setattr(self, "last", connection)

    def retrieve(self, connection: Connection, study_uid: str) -> None:
        """Retrieve a study, reporting through `progress`, `retrieved` and `failed`."""
        signals = self._retrieve(connection, study_uid)
        signals.finished.connect(self._sent_back_to(connection))
        signals.progress.connect(self.progress)
        signals.finished.connect(self.retrieved)
        signals.failed.connect(lambda message: self.failed.emit("Cannot retrieve the study", message))

    def retrieve_series(self, address: SeriesAddress) -> WorkerSignals:
        """Retrieve the series at `address` (`connection_for` its server; a job of its own, apart
        from the PACS dialog's); the caller connects to the signals. Raises PacsError for a
        server this viewer never connected to. A series retrieved before in this session is
        opened from its folder again, nothing asked of the server."""
        connection = self.connection_for(address.url)
        earlier = self.series_folders.get(address.text)
        if earlier is not None and earlier.is_dir():
            signals = self.jobs["retrieve_series"].start(lambda _p, _c: earlier)
        else:
            signals = self._retrieve(connection, address.study_uid, address.series_uid)
            signals.finished.connect(lambda folder: self.series_folders.update({address.text: Path(folder)}))
        signals.finished.connect(self._sent_back_to(connection))
        return signals

    def send_results(self, connection: Connection, analysis, series, anonymised: bool) -> None:
        """Build the DICOM results of `analysis` (SR, SEG, key images, PDF) and store them in
        their study on `connection` (the one the reader confirmed), in the background."""
        if anonymised:
            self.sendFailed.emit("Results not sent", ANONYMISED_NOT_SENT)
            return

        def work(_progress, _cancel) -> str:
            from lunglens.dicomout import build_dicom_results

            results = build_dicom_results(analysis, series, anonymise=False, outputs="viewer")
            stored = store(connection, [r.dataset for r in results])
            return stored_text(stored, results[0].dataset.StudyInstanceUID, connection)

        sent = (
            f"{time.strftime('%H:%M')} to {connection.where}: {analysis.decision.summary()}; "
            f"slices positive when {analysis.decision.params.slice_rule()}"
        )
        signals = self.jobs["store"].start(work)
        signals.finished.connect(lambda _text: self.sent.setdefault(series.ref.key, []).append(sent))
        signals.finished.connect(lambda text: self.stored.emit(text))
        signals.failed.connect(lambda message: self.sendFailed.emit("Cannot send the results", message))

    def shutdown(self) -> None:
        for job in self.jobs.values():
            job.drop()
