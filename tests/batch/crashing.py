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
