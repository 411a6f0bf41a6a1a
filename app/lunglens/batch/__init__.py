"""Many series: `lunglens batch` plans one job per series below a folder, runs them on Dask
(an embedded LocalCluster or an existing cluster), records each job in a SQLite manifest so a
rerun resumes, and writes one Analysis JSON per series plus a worklist CSV (no Qt)."""

from lunglens.batch.jobs import Job, Plan, plan_jobs
from lunglens.batch.manifest import Manifest, ManifestError
from lunglens.batch.progress import BatchSummary
from lunglens.batch.runner import BatchConfig, BatchError, run_batch

__all__ = [
    "BatchConfig",
    "BatchError",
    "BatchSummary",
    "Job",
    "Manifest",
    "ManifestError",
    "Plan",
    "plan_jobs",
    "run_batch",
]
