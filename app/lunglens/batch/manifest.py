"""The batch manifest: one SQLite file in the output folder recording every job's state.

States: `pending` (to run), `running` (handed to the cluster), `done` (result written), `failed`
(with its reason). Only the client process writes it; every change is committed at once (WAL
journal), so a `kill -9` at any moment loses at most the jobs that were `running`: `recover()`
at the start of the next run puts them back to `pending`, their interrupted attempt counted.
Readers (the viewer, tests) can open it while a batch runs."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from lunglens.batch.jobs import UNREAD_KEY, Job, signature_kind, source_changed
from lunglens.batch.progress import SeriesCounts

MANIFEST_NAME = "manifest.sqlite"
#: The error a job reopened because its source changed carries until its new result.
CHANGED_SOURCE = "its source changed since it was analysed: to be analysed again"
STATES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    series_key TEXT NOT NULL,
    folder TEXT NOT NULL,
    patient TEXT NOT NULL,
    study_date TEXT NOT NULL,
    series_number INTEGER,
    description TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    registered_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    result TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '{}',
    source_signature TEXT NOT NULL DEFAULT ''
);
"""
#: Columns added since the first manifests, with their definitions (added when missing).
_ADDED_COLUMNS = {"source_signature": "TEXT NOT NULL DEFAULT ''"}


def differing_settings(before: dict, now: dict) -> list[str]:
    """The names of the settings that differ between two settings records (as `bind_settings`
    takes them), compared as JSON (a tuple equals the list JSON reads back)."""
    before, now = (json.loads(json.dumps(record, sort_keys=True)) for record in (before, now))
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


class ManifestError(Exception):
    """The output folder's manifest cannot be used (unreadable, or made with other settings)."""


@dataclass(frozen=True)
class JobRecord:
    """One row of the manifest. Times are Unix seconds; `seconds` is the job's own run time on
    its worker; `result` is the result file name inside the output folder; `summary` is what the
    worklist shows (verdict, k, n, P(COVID) range, quantification)."""

    job_id: str
    series_key: str
    folder: str
    patient: str
    study_date: str
    series_number: int | None
    description: str
    state: str
    attempts: int
    error: str
    registered_at: float
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    result: str
    summary: dict
    source_signature: str = ""
    """`Job.source_signature` of the source the job's result (or failure) is of: recorded when
    the job is first handed to the cluster, replaced by each result a run makes itself ("" in
    manifests made before LungLens recorded it, until a rerun takes the source as it finds it)."""


class Manifest:
    """The manifest of one output folder (created on first use)."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / MANIFEST_NAME
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for column, definition in _ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
        except sqlite3.Error as exc:
            raise ManifestError(f"{self.path}: cannot be used as a batch manifest ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- settings -------------------------------------------------------------------------
    def bind_settings(self, settings: dict) -> None:
        """Record the settings the results depend on (model, selector, decision); refuse a
        folder whose results were made with other settings, so one worklist never mixes them."""
        text = json.dumps(settings, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('settings', ?)", (text,))
            return
        if row[0] != text:
            differing = differing_settings(json.loads(row[0]), settings)
            raise ManifestError(
                f"{self.path.parent}: holds results made with other settings ({', '.join(differing)} "
                "differ); choose another output folder"
            )

    # --- life cycle ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Put jobs left `running` by an interrupted run back to `pending` (their attempt stays
        counted). Returns how many there were."""
        cursor = self._db.execute("UPDATE jobs SET state = 'pending' WHERE state = 'running'")
        return cursor.rowcount

    def register(self, jobs: list[Job]) -> None:
        """Add jobs not yet known, as pending; known jobs keep their state and take their folder
        as found now (an archive moved elsewhere: the worklist opens the series where they are)."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO jobs (job_id, series_key, folder, patient, study_date, series_number, "
                "description, state, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) "
                "ON CONFLICT (job_id) DO UPDATE SET folder = excluded.folder",
                [
                    (
                        j.job_id,
                        j.series_key,
                        str(j.folder),
                        j.patient,
                        j.study_date,
                        j.series_number,
                        j.description,
                        now,
                    )
                    for j in jobs
                ],
            )

    def forget(self, job_ids: list[str]) -> None:
        """Remove jobs that hold no result and are no longer planned (a folder that formed no
        series and now forms one: its row would say it failed)."""
        self._db.executemany("DELETE FROM jobs WHERE job_id = ?", [(job_id,) for job_id in job_ids])

    def retry_failed(self, error_start: str = "") -> int:
        """Put failed jobs back to pending (attempts reset), those whose error begins with
        `error_start` only when given. Returns how many."""
        cursor = self._db.execute(
            "UPDATE jobs SET state = 'pending', attempts = 0, error = '' "
            "WHERE state = 'failed' AND substr(error, 1, ?) = ?",
            (len(error_start), error_start),
        )
        return cursor.rowcount

    def reopen_changed(self, signatures: dict[str, str]) -> list[str]:
        """Put back to pending the finished (done or failed) jobs whose source has changed since
        they ran (`source_changed` between the recorded signature and `signatures[job id]`, the
        source now), and return their ids: their result files are the caller's to remove. A
        finished job without a signature of this kind (a manifest made before LungLens recorded
        them, or the series read from a server where it was read from a folder) takes the
        current one as its baseline."""
        changed, baselines = [], []
        for record in self._select("WHERE state IN ('done', 'failed')", ()):
            now = signatures.get(record.job_id, "")
            if source_changed(record.source_signature, now):
                changed.append(record.job_id)
            elif now and signature_kind(now) != signature_kind(record.source_signature):
                baselines.append((now, record.job_id))
        with self._transaction():
            self._db.executemany(
                "UPDATE jobs SET state = 'pending', attempts = 0, error = ? WHERE job_id = ?",
                [(CHANGED_SOURCE, job_id) for job_id in changed],
            )
            self._db.executemany("UPDATE jobs SET source_signature = ? WHERE job_id = ?", baselines)
        return changed

    def reopened(self) -> set[str]:
        """The ids of the jobs `reopen_changed` put back that have not run again yet (this run's,
        or a killed run's)."""
        rows = self._db.execute(
            "SELECT job_id FROM jobs WHERE state = 'pending' AND error = ?", (CHANGED_SOURCE,)
        ).fetchall()
        return {row[0] for row in rows}

    def mark_running(self, job_id: str, source_signature: str = "") -> int:
        """The job is handed to the cluster: one more attempt. Returns the attempt number. A job
        without a recorded source takes `source_signature`; one with a recorded source keeps it
        until a result of this run replaces it (`mark_done`): a task of a killed batch may still
        be analysing the source as it was."""
        self._db.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, "
            "source_signature = CASE WHEN source_signature = '' THEN ? ELSE source_signature END "
            "WHERE job_id = ?",
            (time.time(), source_signature, job_id),
        )
        return self.get(job_id).attempts

    def mark_pending(self, job_id: str, error: str, *, attempt_used: bool = True) -> None:
        """Back in the queue (a retry after a worker died), with what happened; `attempt_used`
        False: the job was withdrawn before it started, and its attempt is not counted."""
        self._db.execute(
            "UPDATE jobs SET state = 'pending', error = ?, attempts = attempts - ? WHERE job_id = ?",
            (error, 0 if attempt_used else 1, job_id),
        )

    def mark_done(
        self,
        job_id: str,
        result: str,
        summary: dict,
        seconds: float | None,
        source_signature: str | None = None,
    ) -> None:
        """The job's result is written; `source_signature`: the source this run analysed (None
        for a result adopted from a killed batch's task: the source recorded when it began stays)."""
        self._db.execute(
            "UPDATE jobs SET state = 'done', error = '', result = ?, summary = ?, seconds = ?, "
            "finished_at = ?, source_signature = COALESCE(?, source_signature) WHERE job_id = ?",
            (result, json.dumps(summary), seconds, time.time(), source_signature, job_id),
        )

    def mark_failed(
        self, job_id: str, error: str, seconds: float | None = None, source_signature: str | None = None
    ) -> None:
        """The job failed with `error`; `source_signature`: the source this run tried (None: the
        recorded one stays)."""
        self._db.execute(
            "UPDATE jobs SET state = 'failed', error = ?, seconds = ?, finished_at = ?, "
            "source_signature = COALESCE(?, source_signature) WHERE job_id = ?",
            (error, seconds, time.time(), source_signature, job_id),
        )

    # --- reading -------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord:
        rows = self._select("WHERE job_id = ?", (job_id,))
        if not rows:
            raise KeyError(job_id)
        return rows[0]

    def records(self) -> list[JobRecord]:
        """Every job, ordered by id."""
        return self._select("ORDER BY job_id", ())

    def counts(self) -> dict[str, int]:
        """Jobs per state (every state present, zero where none)."""
        found = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in STATES}

    def series_counts(self) -> SeriesCounts:
        """`counts`, the rows of folders in which no series could be read (`UNREAD_KEY`) counted
        apart (`SeriesCounts.unread`), as the progress line and the summary show them."""
        (unread,) = self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE substr(series_key, 1, ?) = ?", (len(UNREAD_KEY), UNREAD_KEY)
        ).fetchone()
        return SeriesCounts(**self.counts(), unread=int(unread))

    def _select(self, where: str, parameters: tuple) -> list[JobRecord]:
        names = list(JobRecord.__dataclass_fields__)
        rows = self._db.execute(f"SELECT {', '.join(names)} FROM jobs {where}", parameters).fetchall()
        records = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            records.append(JobRecord(**{**values, "summary": json.loads(values["summary"])}))
        return records

    @contextlib.contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
