"""What a Dask worker runs for one job: load the series from its paths, analyse it, write the
Analysis JSON (and the PDF report when asked) into the output folder, and hand back a small
summary for the manifest. The model is loaded once per worker process and reused, and so is the
lesion model of the learned lesion method (`lunglens.analysis.shared_lesion_methods`).

Bad data (a series that cannot be decoded) is an answer, not an exception: the job comes back
`failed` with the reason. Results are written atomically, the JSON last: a JSON in the output
folder means the job finished."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from lunglens.analysis import AnalysisOptions, load_and_analyse, shared_lesion_methods
from lunglens.atomic import WriteError, write_atomically
from lunglens.batch.jobs import Job
from lunglens.batch.worklist import summarise
from lunglens.inference import Model, ModelError, load_model
from lunglens.io import LoadError
from lunglens.threads import thread_budget


@dataclass(frozen=True)
class JobSettings:
    """What every job of a batch shares: the model (card path and the sha256 the client checked),
    the execution provider, the analysis options, the output folder, and whether to write PDFs."""

    model_card: str
    model_sha256: str
    provider: str
    options: AnalysisOptions
    out_folder: str
    report: bool = False


def result_name(job_id: str) -> str:
    """The Analysis JSON of a job, inside the output folder."""
    return f"{job_id}.json"


def report_name(job_id: str) -> str:
    return f"{job_id}.pdf"


# --- one model per worker process -----------------------------------------------------------------
_MODELS: dict[tuple[str, str, str], Model] = {}
_MODEL_LOADS = 0
"""How many times this process loaded a model (reported with each result, so a batch can show
that each worker loaded it once)."""


def hold_opencv_to_budget() -> None:
    """OpenCV's own parallel loops (resizing, morphology) held to this worker's thread budget
    (`lunglens.threads`); without it OpenCV uses every core whatever the budget. Idempotent: run
    before each job."""
    budget = thread_budget()
    if budget is not None and cv2.getNumThreads() != budget:
        cv2.setNumThreads(budget)


def worker_model(settings: JobSettings) -> Model:
    """The model for `settings`, loaded on first use in this process and reused afterwards
    (keyed by card path, sha256 and provider). Raises `ModelError`."""
    global _MODEL_LOADS
    key = (settings.model_card, settings.model_sha256, settings.provider)
    model = _MODELS.get(key)
    if model is None:
        model = load_model(Path(settings.model_card), provider=settings.provider)
        if model.card.sha256 != settings.model_sha256:
            raise ModelError(
                f"{settings.model_card}: changed during the batch (sha256 {model.card.sha256[:12]}…, "
                f"expected {settings.model_sha256[:12]}…)"
            )
        _MODELS.clear()
        _MODELS[key] = model
        _MODEL_LOADS += 1
    return model


def run_job(job: Job, settings: JobSettings) -> dict:
    """Run one job on a worker. Returns {"status": "done"|"failed", "error", "summary",
    "result", "seconds" (wall), "cpu_seconds" (this worker process, all its threads), "pid",
    "model_loads", "lesion_model_loads" (how often this process loaded the lesion model: 0 or
    1)}; raises only on failures of the system itself (the client records those too)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    hold_opencv_to_budget()
    model = worker_model(settings)
    lesion_methods = shared_lesion_methods(provider=settings.provider)
    answer = {"pid": os.getpid(), "model_loads": _MODEL_LOADS, "result": "", "summary": {}, "error": ""}
    try:
        series, analysis = load_and_analyse(job.ref, model, settings.options, lesion_methods=lesion_methods)
        out = Path(settings.out_folder)
        if settings.report:
            from lunglens.report import write_report

            write_report(analysis, series, out / report_name(job.job_id))
        write_atomically(out / result_name(job.job_id), analysis.to_json().encode("utf-8"))
    except (LoadError, WriteError) as exc:
        answer.update(status="failed", error=str(exc))
    else:
        answer.update(
            status="done",
            result=result_name(job.job_id),
            summary=summarise(analysis.to_dict(include_cams=False)),
        )
    answer.update(
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
        lesion_model_loads=lesion_methods.loads,
    )
    return answer
