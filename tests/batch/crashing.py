"""Tasks that kill their Dask worker process, for the tests of worker-death retries, or that take
their time. Importable by the workers (the tests run with the project root on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lunglens.batch.task import run_job

#: Seconds `slow_jobs` waits before each job.
SLOW_JOB_S = 4.0


def crash_marked_patients(job, settings):
    """Kill the worker on patient CRASHALWAYS every time, on CRASHONCE the first time only (a
    marker file beside the output folder remembers), else run the job."""
    if job.patient == "CRASHALWAYS":
        os._exit(1)
    if job.patient == "CRASHONCE":
        marker = Path(settings.out_folder).parent / f"crashed-{job.job_id}"
        if not marker.exists():
            marker.touch()
            os._exit(1)
    return run_job(job, settings)


def slow_jobs(job, settings):
    """Run the job after a pause of SLOW_JOB_S seconds (a job long enough to be in flight when the
    test takes the cluster's workers away)."""
    time.sleep(SLOW_JOB_S)
    return run_job(job, settings)


def server_gone_after_one(job, settings):
    """Run the first job, then fail every job as a job whose server went away does while the file
    `server-gone` beside the output folder (made after the first job) is there."""
    beside = Path(settings.out_folder).parent
    if (beside / "server-gone").exists():
        return _server_unavailable()
    answer = run_job(job, settings)
    if not (beside / "served-one").exists():
        (beside / "served-one").touch()
        (beside / "server-gone").touch()
    return answer


def hold_after_the_first(job, settings):
    """Run the first job; the second waits (at most a minute) for the file `go` beside the output
    folder (the test stops its server meanwhile), then runs; every later one also waits for the
    file `release` (the test makes it once the batch has found the server gone), keeping its
    worker busy meanwhile, so that the jobs submitted behind it wait. One worker: jobs start in turn."""
    beside = Path(settings.out_folder).parent
    started = len(list(beside.glob("started-*")))
    (beside / f"started-{started}").touch()
    for name in ["go", "release"][: min(started, 2)]:
        deadline = time.monotonic() + 60
        while not (beside / name).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return run_job(job, settings)


def wait_after_first_job(job, settings):
    """Run the first job; every later one waits (at most a minute) for the file `go` beside the
    output folder before it runs (the test stops its server meanwhile)."""
    beside = Path(settings.out_folder).parent
    if (beside / "ran-one").exists():
        deadline = time.monotonic() + 60
        while not (beside / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        (beside / "ran-one").touch()
    return run_job(job, settings)


def first_job_meets_a_server_failure(job, settings):
    """Fail the first job as a job whose server was unavailable does (a server error on its
    study, say); run the others."""
    marker = Path(settings.out_folder).parent / "failed-one"
    if marker.exists():
        return run_job(job, settings)
    marker.touch()
    return _server_unavailable()


def _server_unavailable() -> dict:
    """The answer of a job whose server went away while it listed the series."""
    from lunglens.batch.task import SERVER_UNAVAILABLE

    error = (
        SERVER_UNAVAILABLE + "http://pacs.example/dicom-web: host unreachable while listing (no connection)"
    )
    return {"pid": os.getpid(), "model_loads": 0, "result": "", "summary": {}, "error": error,
            "adopted": False, "status": "failed", "seconds": 0.0, "cpu_seconds": 0.0}  # fmt: skip
