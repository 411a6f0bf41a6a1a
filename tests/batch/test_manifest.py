"""The manifest: states, attempts, recovery after a kill, settings bound to the folder."""

from __future__ import annotations

import sqlite3

import pytest

from lunglens.batch.jobs import plan_jobs
from lunglens.batch.manifest import MANIFEST_NAME, Manifest, ManifestError
from tests.batch.conftest import write_archive


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    return list(plan_jobs(write_archive(tmp_path_factory.mktemp("m"), 3, bad=False)).jobs)


def test_states_attempts_and_recovery(jobs, tmp_path):
    a, b, c = (job.job_id for job in jobs)
    with Manifest(tmp_path) as manifest:
        manifest.register(jobs)
        assert manifest.counts() == {"pending": 3, "running": 0, "done": 0, "failed": 0}
        assert manifest.mark_running(a) == 1
        manifest.mark_done(a, f"{a}.json", {"verdict": "normal"}, 1.5)
        manifest.mark_running(b)
        manifest.mark_running(c)
        manifest.mark_failed(c, "no slice could be decoded", 0.2)
        manifest.register(jobs)  # known jobs keep their state
    # a new process after a kill: the job left running goes back to pending, its attempt counted
    with Manifest(tmp_path) as manifest:
        assert manifest.recover() == 1
        assert manifest.get(b).state == "pending" and manifest.get(b).attempts == 1
        assert manifest.get(a).state == "done" and manifest.get(a).summary == {"verdict": "normal"}
        assert manifest.get(c).error == "no slice could be decoded"
        assert manifest.mark_running(b) == 2
        assert manifest.retry_failed() == 1 and manifest.get(c).state == "pending"


def test_wal_journal_and_readable_while_open(jobs, tmp_path):
    with Manifest(tmp_path) as manifest:
        manifest.register(jobs)
        manifest.mark_running(jobs[0].job_id)
        reader = sqlite3.connect(tmp_path / MANIFEST_NAME)
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0] == 1
        reader.close()


def test_other_settings_are_refused(tmp_path):
    with Manifest(tmp_path) as manifest:
        manifest.bind_settings({"model_sha256": "aa", "decision": {"patient_fraction": 0.1}})
        manifest.bind_settings({"model_sha256": "aa", "decision": {"patient_fraction": 0.1}})
    with Manifest(tmp_path) as manifest, pytest.raises(ManifestError, match="decision differ"):
        manifest.bind_settings({"model_sha256": "aa", "decision": {"patient_fraction": 0.0}})


def test_finished_jobs_whose_source_changed_are_reopened(jobs, tmp_path):
    a, b, c = (job.job_id for job in jobs)
    with Manifest(tmp_path) as manifest:
        manifest.register(jobs)
        manifest.mark_running(a, "files:1")
        manifest.mark_done(a, f"{a}.json", {}, 1.0)  # a result adopted from a killed batch's task
        manifest.mark_running(b, "files:2")
        manifest.mark_done(b, f"{b}.json", {}, 1.0, "files:2")
        manifest.mark_failed(c, "cannot be analysed: too few slices", source_signature="files:3")
        assert manifest.get(a).source_signature == "files:1"  # recorded when its job began
        # a: unchanged; b: changed; c (failed at planning): changed; unknown now: not reopened
        assert manifest.reopen_changed({a: "files:1", b: "files:2b", c: "files:3c"}) == [b, c]
        assert [manifest.get(j).state for j in (a, b, c)] == ["done", "pending", "pending"]
        assert manifest.get(c).attempts == 0 and "source changed" in manifest.get(c).error
        # running again, b keeps the source it was analysed of until this run's result replaces it
        assert manifest.mark_running(b, "files:2b") == 1 and manifest.get(b).source_signature == "files:2"
        manifest.mark_done(b, f"{b}.json", {}, 1.0, "files:2b")
        assert manifest.reopen_changed({a: "", b: "files:2b"}) == []
        # the series read from a server where it was read from a folder: another kind, a new baseline
        assert manifest.reopen_changed({a: "instances:40", b: "files:2b"}) == []
        assert manifest.get(a).source_signature == "instances:40" and manifest.get(a).state == "done"
        assert manifest.reopen_changed({a: "instances:41"}) == [a]


def test_a_manifest_made_before_source_signatures_gains_the_column_and_a_baseline(jobs, tmp_path):
    job = jobs[0]
    old = sqlite3.connect(tmp_path / MANIFEST_NAME)
    old.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, series_key TEXT NOT NULL, folder TEXT NOT NULL, "
        "patient TEXT NOT NULL, study_date TEXT NOT NULL, series_number INTEGER, description TEXT NOT NULL, "
        "state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', "
        "registered_at REAL NOT NULL, started_at REAL, finished_at REAL, seconds REAL, "
        "result TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT '{}');"
    )
    old.execute(
        "INSERT INTO jobs (job_id, series_key, folder, patient, study_date, description, state, "
        "registered_at, summary) VALUES (?, 'k', 'f', 'p', '', '', 'done', 0, '{\"verdict\": \"normal\"}')",
        (job.job_id,),
    )
    old.commit()
    old.close()
    with Manifest(tmp_path) as manifest:
        record = manifest.get(job.job_id)
        assert record.source_signature == "" and record.summary == {"verdict": "normal"}
        assert manifest.reopen_changed({job.job_id: job.source_signature}) == []  # cannot be told...
        assert manifest.get(job.job_id).source_signature == job.source_signature  # ...from now on it can
        assert manifest.reopen_changed({job.job_id: "files:other"}) == [job.job_id]
