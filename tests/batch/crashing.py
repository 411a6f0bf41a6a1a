"""Tasks that kill their Dask worker process, for the tests of worker-death retries. Importable
by the workers (the tests run with the project root on PYTHONPATH)."""

from __future__ import annotations

import os
from pathlib import Path

from lunglens.batch.task import run_job


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
