"""WADO-RS: bring a study (or one series of it) from a DICOMweb server into a local folder,
instance by instance on parallel threads, with progress, retrying transient failures with
exponential back-off. The series come from the study's series listing and each is streamed
whole; what arrives is checked against the instances QIDO-RS lists, plus those the stream
brought that the listing left out, and against the number of instances the server counts for
each series (a server that caps its answers lists only part of a long series, and says so by no
other sign): a series with missing instances is never handed on as if it were whole
(PartialTransfer).

The server's Series and SOP Instance UIDs become folder and file names, so only valid UIDs are
(`is_valid_uid`): an instance listed under another UID ("../../x") is not saved, and its series
is then a partial transfer naming it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import RE_VALID_UID
from requests import RequestException

from lunglens.pacs.address import SeriesAddress
from lunglens.pacs.connection import (
    Connection,
    HostUnreachable,
    MalformedAnswer,
    PacsError,
    PacsTimeout,
    PartialTransfer,
    StudyNotFound,
    is_transient,
    named_error,
)
from lunglens.pacs.find import SeriesSummary, every_result, find_series

ProgressCallback = Callable[[int, int], None]
"""Called with (instances received, instances expected)."""

#: Ask for the instances as stored (no transcoding by the server: JPEG Lossless stays so).
AS_STORED = (("application/dicom", "*"),)


@dataclass(frozen=True)
class RetrySchedule:
    """How often to try one instance and how long to wait between tries (seconds, doubling)."""

    attempts: int = 3
    first_wait_s: float = 0.5


@dataclass
class Retrieved:
    """What a retrieval brought: the folder, the instances expected per series (listed by
    QIDO-RS, or streamed though the listing left them out), the number of instances the server
    counts per series (None where it does not say), the files received (`<folder>/<Series
    Instance UID>/<SOP Instance UID>.dcm`), and the server and study they came from."""

    folder: Path
    expected: dict[str, list[str]]
    counted: dict[str, int | None] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    url: str = ""
    study_uid: str = ""

    def origin(self, path: Path) -> tuple[str, str]:
        """(SOP Instance UID, series address) of a file of the folder, as the server names them
        (`lunglens.io.discover.Origin`: messages about the files outlive the folder)."""
        return path.stem, SeriesAddress(self.url, self.study_uid, path.parent.name).text

    def n_expected_in(self, series_uid: str) -> int:
        """The instances series `series_uid` holds: as many as listed, or as counted if more."""
        return max(len(self.expected.get(series_uid, ())), self.counted.get(series_uid) or 0)

    @property
    def n_expected(self) -> int:
        return sum(self.n_expected_in(uid) for uid in self.expected)

    def n_received_in(self, series_uid: str) -> int:
        return sum(1 for path in self.files if path.parent.name == series_uid)

    def short_series(self) -> dict[str, tuple[int, int]]:
        """{series UID: (instances received, instances expected)} of the series not whole."""
        return {
            uid: (self.n_received_in(uid), self.n_expected_in(uid))
            for uid in self.expected
            if self.n_received_in(uid) < self.n_expected_in(uid)
        }


def is_valid_uid(uid: str) -> bool:
    """Whether `uid` is a valid DICOM UID (PS3.5 9.1: digits in components separated by dots, no
    component empty or with a leading zero except "0" itself, at most 64 characters). Such a UID
    holds no "/" and no ".." component, so as a file or folder name it stays in its folder."""
    return len(uid) <= 64 and re.fullmatch(RE_VALID_UID, uid) is not None


def invalid_uid_problems(expected: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """{(series UID, SOP instance UID): the problem in words} for the listed instances that are
    not saved because one of their UIDs, which would become a folder or file name, is invalid."""
    problems = {}
    for series_uid, sops in expected.items():
        for sop_uid in sops:
            if not is_valid_uid(series_uid):
                problems[series_uid, sop_uid] = (
                    f"instances of a series with an invalid Series Instance UID {series_uid!r} not saved"
                )
            elif not is_valid_uid(sop_uid):
                problems[series_uid, sop_uid] = (
                    f"instance with an invalid SOP Instance UID {sop_uid!r} not saved"
                )
    return problems


def _uid(item: dict, tag: str) -> str:
    """The UID at `tag` (e.g. "00080018") of a QIDO-RS result. Raises MalformedAnswer (unnamed)."""
    try:
        return str(item[tag]["Value"][0])
    except (KeyError, TypeError, IndexError):
        raise MalformedAnswer(f"an instance is listed without a UID at ({tag[:4]},{tag[4:]})") from None


def _expected_instances(
    connection: Connection, study_uid: str, series_uids: list[str] | None
) -> tuple[dict[str, list[str]], dict[str, int | None]]:
    """({series UID: [SOP instance UIDs listed]}, {series UID: instances counted}) of the study
    (or of the series `series_uids`), from QIDO-RS: its series listing, and its instance
    listing, which may be short (a server that caps its answers). Raises StudyNotFound."""
    listed_series: list[SeriesSummary] = [
        s for s in find_series(connection, study_uid) if series_uids is None or s.series_uid in series_uids
    ]
    client = connection.client()
    what = f"listing the instances of study {study_uid}"
    expected: dict[str, list[str]] = {s.series_uid: [] for s in listed_series if s.series_uid}
    try:
        for series_uid in [None] if series_uids is None else series_uids:
            items, _offset_ignored = every_result(  # what the listing left out, streams and counts tell
                lambda offset, series_uid=series_uid: client.search_for_instances(
                    study_instance_uid=study_uid, series_instance_uid=series_uid, offset=offset
                ),
                "00080018",
            )
            for item in items:
                expected.setdefault(_uid(item, "0020000E"), []).append(_uid(item, "00080018"))
    except (PacsError, RequestException) as exc:
        raise named_error(connection, exc, what) from None
    if not any(expected.values()) and not any(s.n_instances for s in listed_series):
        target = (
            f"series {', '.join(series_uids)} of study {study_uid}" if series_uids else f"study {study_uid}"
        )
        raise StudyNotFound(f"{connection.where}: {target} not found")
    return expected, {s.series_uid: s.n_instances for s in listed_series if s.series_uid}


def _save(dataset: Dataset, path: Path) -> None:
    """Write `dataset` as a Part 10 file (temporary name, then rename)."""
    partial = path.with_suffix(".part")
    dataset.save_as(partial, enforce_file_format=True)
    partial.replace(path)


class _Transfer:
    """The shared state of one retrieval: what arrived, what failed, whether to stop."""

    def __init__(self, connection: Connection, study_uid: str, result: Retrieved, progress, retry):
        self.connection, self.study_uid, self.result = connection, study_uid, result
        self.progress, self.retry = progress, retry
        self.local = threading.local()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.received: set[str] = set()
        self.failures: dict[str, PacsError] = {}
        self.fatal: list[PacsError] = []
        self.invalid = invalid_uid_problems(result.expected)

    def client(self):
        if not hasattr(self.local, "client"):
            self.local.client = self.connection.client()
        return self.local.client

    def expect(self, series_uid: str, dataset: Dataset) -> None:
        """Add a streamed instance of series `series_uid` that the listing left out (a server that
        caps its answers and ignores the offset lists only part of a long series; the stream
        brings all of it) to what is expected, so that it is kept, or fetched on its own."""
        sop_uid = str(dataset.get("SOPInstanceUID", ""))
        if dataset.get("SeriesInstanceUID") != series_uid or not sop_uid:
            return
        with self.lock:
            expected = self.result.expected[series_uid]
            if sop_uid not in expected:
                expected.append(sop_uid)
                self.invalid.update(invalid_uid_problems({series_uid: [sop_uid]}))

    def keep(self, series_uid: str, dataset: Dataset) -> None:
        """Save an arrived instance (only one that was expected, not yet received and whose
        UIDs are valid: the others are named in `invalid`)."""
        sop_uid = str(dataset.get("SOPInstanceUID", ""))
        if sop_uid not in self.result.expected.get(series_uid, ()) or sop_uid in self.received:
            return
        if not (is_valid_uid(series_uid) and is_valid_uid(sop_uid)):
            return
        folder = self.result.folder / series_uid
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sop_uid}.dcm"
        _save(dataset, path)
        with self.lock:
            self.received.add(sop_uid)
            self.result.files.append(path)
            done = len(self.result.files)
        if self.progress is not None:
            self.progress(done, self.result.n_expected)

    def error(self, exc: Exception, what: str) -> PacsError:
        if isinstance(exc, PacsError | RequestException | ValueError | InvalidDicomError):
            return named_error(self.connection, exc, what)  # (RequestException is an OSError)
        return PartialTransfer(f"{self.result.folder}: cannot save an instance ({exc.strerror or exc})")

    def give_up(self, key: str, error: PacsError) -> None:
        """Record a final failure; a server that is gone, refuses us, answers what is no DICOMweb
        or not in time (each try of an instance timed out) stops the transfer."""
        with self.lock:
            self.failures[key] = error
            if not is_transient(error) or isinstance(error, HostUnreachable | PacsTimeout):
                self.fatal.append(error)
                self.stop.set()

    def stream_series(self, series_uid: str) -> None:
        """The whole series in one streamed multipart answer (one request: far faster than one
        per instance); what does not arrive is fetched one by one afterwards. A part is kept
        only once the next one has begun: the multipart decoder hands on the tail of a cut
        stream as if it were a last part, so the last part is never trusted (its instance is
        fetched on its own). A stream that repeats an instance, or brings more than twice what the
        server counts in the series, is stopped (MalformedAnswer: a server sending without end);
        a few more are instances arriving at the server meanwhile, and are kept."""
        what = f"retrieving series {series_uid}"
        pending, streamed = None, set()
        counted = self.result.counted.get(series_uid)
        try:
            for dataset in self.client().iter_series(self.study_uid, series_uid, media_types=AS_STORED):
                sop_uid = str(dataset.get("SOPInstanceUID", ""))
                if sop_uid in streamed:
                    raise MalformedAnswer(f"the stream repeats instance {sop_uid or '(no SOP Instance UID)'}")
                streamed.add(sop_uid)
                if counted is not None and len(streamed) > 2 * max(
                    counted, len(self.result.expected[series_uid])
                ):
                    raise MalformedAnswer(
                        f"the stream brings more than twice the {counted} instances the server counts"
                    )
                self.expect(series_uid, dataset)
                if pending is not None:
                    self.keep(series_uid, pending)
                pending = dataset
                if self.stop.is_set():
                    return
        except (PacsError, RequestException, OSError, ValueError, InvalidDicomError) as exc:
            error = self.error(exc, what)
            if not is_transient(error):
                self.give_up(series_uid, error)

    def fetch_instance(self, series_uid: str, sop_uid: str) -> None:
        """One instance, tried `retry.attempts` times with exponential back-off."""
        what = f"retrieving instance {sop_uid} of series {series_uid}"
        wait = self.retry.first_wait_s
        for attempt in range(self.retry.attempts):
            if self.stop.is_set():
                return
            try:
                dataset = self.client().retrieve_instance(
                    self.study_uid, series_uid, sop_uid, media_types=AS_STORED
                )
                self.keep(series_uid, dataset)
                return
            except (PacsError, RequestException, OSError, ValueError, InvalidDicomError) as exc:
                error = self.error(exc, what)
                if not is_transient(error) or attempt == self.retry.attempts - 1:
                    self.give_up(sop_uid, error)
                    return
            time.sleep(wait)
            wait *= 2

    def missing(self) -> list[tuple[str, str]]:
        """The expected (series UID, SOP instance UID) not received (those with an invalid UID
        included)."""
        return [
            (series_uid, sop_uid)
            for series_uid, sops in self.result.expected.items()
            for sop_uid in sops
            if sop_uid not in self.received
        ]


def _in_parallel(transfer: _Transfer, function, items: list, workers: int) -> None:
    """Run `function` over `items` in `workers` threads. An interrupt of the calling thread
    (Ctrl-C, or SIGTERM turned into one by the CLI) tells the threads to stop at their next
    instance before waiting for them, so a stopped retrieval ends within about one read."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            list(pool.map(function, items))
        except BaseException:
            transfer.stop.set()
            raise


def retrieve_study(
    connection: Connection,
    study_uid: str,
    dest_folder: Path,
    *,
    series: str | Collection[str] | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 4,
    retry: RetrySchedule = RetrySchedule(),
) -> Retrieved:
    """Retrieve study `study_uid` (only series `series` when given: one Series Instance UID or
    several) into `dest_folder`, one sub-folder per series: each series streamed in one request
    (series in parallel threads, one progress total over them all), then every instance that
    did not arrive fetched on its own (in parallel, with back-off).
    Raises StudyNotFound, AuthenticationFailed, HostUnreachable, PacsTimeout or
    PartialTransfer (naming each series with fewer instances than listed or counted, and how
    many)."""
    wanted = None if series is None else sorted({series} if isinstance(series, str) else set(series))
    expected, counted = _expected_instances(connection, study_uid, wanted)
    result = Retrieved(
        folder=Path(dest_folder), expected=expected, counted=counted, url=connection.url, study_uid=study_uid
    )
    transfer = _Transfer(connection, study_uid, result, progress, retry)
    _in_parallel(transfer, transfer.stream_series, [s for s in expected if is_valid_uid(s)], workers)
    to_fetch = [item for item in transfer.missing() if item not in transfer.invalid]
    _in_parallel(transfer, lambda item: transfer.fetch_instance(*item), to_fetch, workers)
    if not result.short_series():
        return result
    if transfer.fatal and not result.files:
        raise transfer.fatal[0]
    raise PartialTransfer(
        _partial_message(connection, result, transfer.failures, transfer.fatal, transfer.invalid)
    )


def _partial_message(connection, result: Retrieved, failures, fatal, invalid) -> str:
    parts = [
        f"series {uid}: {expected - received} of {expected} instances missing"
        for uid, (received, expected) in result.short_series().items()
    ]
    problems = list(dict.fromkeys(invalid.values()))
    if fatal or failures or not problems:
        problems.append(f"last failure: {(fatal or list(failures.values()) or [PacsError('stopped')])[0]}")
    return (
        f"{connection.where}: partial transfer, {len(result.files)} of {result.n_expected} instances "
        f"received ({'; '.join(parts)}); {'; '.join(problems)}"
    )
