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
