"""WADO-RS: bring a study (or one series of it) from a DICOMweb server into a local folder,
instance by instance on parallel threads, with progress, retrying transient failures with
exponential back-off. What arrives is checked against what QIDO-RS said the series holds: a
series with missing instances is never handed on as if it were whole (PartialTransfer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from requests import RequestException

from lunglens.pacs.connection import (
    Connection,
    HostUnreachable,
    PacsError,
    PartialTransfer,
    StudyNotFound,
    is_transient,
    named_error,
)

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
    """What a retrieval brought: the folder, the instances expected per series (from QIDO-RS)
    and the files received."""

    folder: Path
    expected: dict[str, list[str]]
    files: list[Path] = field(default_factory=list)

    @property
    def n_expected(self) -> int:
        return sum(len(v) for v in self.expected.values())


def _uid(item: dict, keyword_tag: str) -> str:
    return str(item[keyword_tag]["Value"][0])


def _expected_instances(
    connection: Connection, study_uid: str, series_uid: str | None
) -> dict[str, list[str]]:
    """{series UID: [SOP instance UIDs]} of the study (or of the one series), from QIDO-RS."""
    client = connection.client()
    what = f"listing the instances of study {study_uid}"
    try:
        items = client.search_for_instances(study_instance_uid=study_uid, series_instance_uid=series_uid)
    except (PacsError, RequestException) as exc:
        raise named_error(connection, exc, what) from None
    expected: dict[str, list[str]] = {}
    for item in items:
        expected.setdefault(_uid(item, "0020000E"), []).append(_uid(item, "00080018"))
    if not expected:
        target = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        raise StudyNotFound(f"{connection.where}: {target} not found")
    return expected


def _save(dataset: Dataset, path: Path) -> None:
    """Write `dataset` as a Part 10 file (temporary name, then rename)."""
    partial = path.with_suffix(".part")
    dataset.save_as(partial, enforce_file_format=True)
    partial.replace(path)


def retrieve_study(
    connection: Connection,
    study_uid: str,
    dest_folder: Path,
    *,
    series: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 4,
    retry: RetrySchedule = RetrySchedule(),
) -> Retrieved:
    """Retrieve study `study_uid` (only series `series` when given) into `dest_folder`, one
    sub-folder per series. Raises StudyNotFound, AuthenticationFailed, HostUnreachable,
    PacsTimeout or PartialTransfer (naming the series and how many instances are missing)."""
    expected = _expected_instances(connection, study_uid, series)
    result = Retrieved(folder=Path(dest_folder), expected=expected)
    total = result.n_expected
    local = threading.local()
    lock = threading.Lock()
    stop = threading.Event()
    failures: dict[tuple[str, str], PacsError] = {}
    fatal: list[PacsError] = []

    def fetch(series_uid: str, sop_uid: str) -> None:
        if stop.is_set():
            return
        if not hasattr(local, "client"):
            local.client = connection.client()
        what = f"retrieving instance {sop_uid} of series {series_uid}"
        wait = retry.first_wait_s
        for attempt in range(retry.attempts):
            try:
                dataset = local.client.retrieve_instance(
                    study_uid, series_uid, sop_uid, media_types=AS_STORED
                )
                if str(dataset.SOPInstanceUID) != sop_uid:
                    raise PartialTransfer(
                        f"{connection.where}: asked for {sop_uid}, received another instance"
                    )
                folder = result.folder / series_uid
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{sop_uid}.dcm"
                _save(dataset, path)
            except (PacsError, RequestException, OSError) as exc:
                if isinstance(exc, PacsError | RequestException):  # (RequestException is an OSError)
                    error = named_error(connection, exc, what)
                else:
                    error = PartialTransfer(f"{result.folder}: cannot save {sop_uid} ({exc.strerror or exc})")
                if not is_transient(error) or attempt == retry.attempts - 1 or stop.is_set():
                    with lock:
                        failures[(series_uid, sop_uid)] = error
                        if not is_transient(error) or isinstance(error, HostUnreachable):
                            fatal.append(error)
                            stop.set()  # the server is gone or refuses us: do not hammer it
                    return
                time.sleep(wait)
                wait *= 2
                continue
            with lock:
                result.files.append(path)
                done = len(result.files)
            if progress is not None:
                progress(done, total)
            return

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for series_uid, sops in expected.items():
            for sop_uid in sops:
                pool.submit(fetch, series_uid, sop_uid)

    if len(result.files) == total:
        return result
    if fatal and not result.files:
        raise fatal[0]
    raise PartialTransfer(_partial_message(connection, result, failures, fatal))


def _partial_message(connection, result: Retrieved, failures, fatal) -> str:
    received = {path.stem for path in result.files}
    parts = []
    for series_uid, sops in result.expected.items():
        missing = [s for s in sops if s not in received]
        if missing:
            parts.append(f"series {series_uid}: {len(missing)} of {len(sops)} instances missing")
    reason = (fatal or list(failures.values()) or [PacsError("stopped")])[0]
    return (
        f"{connection.where}: partial transfer, {len(result.files)} of {result.n_expected} instances "
        f"received ({'; '.join(parts)}); last failure: {reason}"
    )
