"""What a Dask worker runs for one job: load the series from its paths (a series on a DICOMweb
server is first retrieved into a folder of its own under the output folder, removed when the job
ends), analyse it, write the Analysis JSON (and the PDF report when asked) into the output
folder, and hand back a small summary for the manifest. The model is loaded once per worker
process and reused, and so is the lesion model of the learned lesion method
(`lunglens.analysis.shared_lesion_methods`).

Bad data (a series that cannot be decoded, or not retrieved) is an answer, not an exception: the
job comes back `failed` with the reason. Results are written atomically, the JSON last: a JSON in
the output folder means the job finished, and it is never replaced.

A job holds its lock (`job_lock`) in the output folder for its whole life on the worker. A batch
killed with kill -9 on an existing cluster leaves its jobs running there; the rerun's task of
such a job waits for the lock and adopts the result the orphan wrote instead of computing it
again, and the rerun leaves the temporaries of a job whose lock is held (`held_job_ids`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2

from lunglens.analysis import AnalysisOptions, load_and_analyse, shared_lesion_methods
from lunglens.analysis.result import analysis_json
from lunglens.atomic import WriteError, write_atomically
from lunglens.batch.jobs import Job, report_name, result_name
from lunglens.batch.worklist import RESULT_LIMIT_BYTES, summarise
from lunglens.inference import Model, ModelError, load_model
from lunglens.io import FolderError, LoadError, SeriesRef, discover
from lunglens.io.discover import skipped_text
from lunglens.io.files import kind_of, read_text
from lunglens.pacs import PacsError, PartialTransfer, retrieve_study
from lunglens.pacs.connection import is_transient
from lunglens.threads import thread_budget

#: How the error of a job begins when its server was unavailable (unreachable, no answer in time,
#: a server-side failure, or a transfer cut short): a rerun tries such a job again.
SERVER_UNAVAILABLE = "server unavailable, a rerun tries again: "


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


#: Where workers retrieve the series of DICOMweb jobs, inside the output folder: one sub-folder per
#: attempt, removed when it ends (the next run removes what a killed worker left).
RETRIEVING_FOLDER = ".retrieving"


#: The lock file of a job while a task runs it, inside the output folder: `.<job id>` + this.
JOB_LOCK_SUFFIX = ".job-lock"


def _lock_path(out: Path, job_id: str) -> Path:
    return Path(out) / f".{job_id}{JOB_LOCK_SUFFIX}"


def _take(path: Path, *, wait: bool) -> int | None:
    """An open descriptor holding the exclusive flock of the file `path` names now (created when
    missing), or None when `wait` is False and another process holds it. A lock taken on a file
    its holder has since removed (`_release`) is let go and taken again on the new one. The file
    is opened read-only (flock needs no more), so a lock file another user's worker left is taken
    too; one that cannot be opened, or is no regular file of its own (a link is not followed, a
    pipe not waited on), counts as held when not waiting, else raises WriteError."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    while True:
        try:
            fd = os.open(path, flags, 0o666)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(f"{kind_of(os.lstat(path).st_mode)}, not a lock file")
        except OSError as exc:
            if not wait:
                return None
            raise WriteError(f"{path}: cannot take the job's lock ({exc.strerror or exc})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        os.close(fd)


def _release(path: Path, fd: int) -> None:
    """Remove the lock file, then let the lock go (a waiter on the removed file takes it again)."""
    path.unlink(missing_ok=True)
    os.close(fd)


@contextlib.contextmanager
def job_lock(out: Path, job_id: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock of `job_id` in `out`, waiting while another task (of an earlier, killed
    batch) holds it; yields True. With `wait` False, yields False at once instead of waiting (the
    lock is not held then). The kernel lets it go when the process ends, however it ends."""
    path = _lock_path(out, job_id)
    fd = _take(path, wait=wait)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        _release(path, fd)


def held_job_ids(out: Path) -> set[str]:
    """The jobs whose lock a task holds in `out` now; removes the lock files nobody holds (left by
    a worker killed with its job)."""
    held = set()
    for path in Path(out).glob(f".*{JOB_LOCK_SUFFIX}"):
        fd = _take(path, wait=False)
        if fd is None:
            held.add(path.name[1 : -len(JOB_LOCK_SUFFIX)])
        else:
            _release(path, fd)
    return held


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


@contextlib.contextmanager
def job_series(job: Job, out: Path) -> Iterator[SeriesRef]:
    """The job's series as files: its own, or, for a series on a DICOMweb server, retrieved
    (WADO-RS) into a folder of this attempt's own under `out/.retrieving/` for the time of the job.
    Raises PacsError (named; PartialTransfer when fewer instances arrive than QIDO-RS lists or counts) or
    LoadError when what arrived is not the one analysable series the job is about."""
    if job.remote is None:
        yield job.ref
        return
    parent = Path(out) / RETRIEVING_FOLDER
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=f"{job.job_id}-"))
    try:
        address = job.remote.address
        retrieved = retrieve_study(
            job.remote.connection, address.study_uid, folder, series=address.series_uid
        )
        found = discover(folder, origin=retrieved.origin)  # skipped files named as on the server
        if not found.series:
            skipped = skipped_text(list(found.skipped), origin=retrieved.origin)
            raise LoadError(f"{address.text}: no readable CT image was retrieved ({skipped})")
        # instances of another modality under the UID form parts of their own, never analysed
        parts = [ref for ref in found.series if ref.modality == "CT"] or list(found.series)
        if len(parts) > 1:
            raise LoadError(
                f"{address.text}: its instances form {len(parts)} series, not one "
                f"({'; '.join(ref.summary() for ref in parts)}): the Series Instance UID is "
                "shared by several passes or image sizes; analyse one with lunglens analyze --dicomweb"
            )
        (ref,) = parts
        if ref.problems:
            raise LoadError(f"{address.text}: cannot be analysed: {'; '.join(ref.problems)}")
        yield ref
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _finished(path: Path, job: Job) -> dict | None:
    """The worklist summary of the finished result of `job` at `path`, or None when there is none
    (a file of another series is not one)."""
    try:
        data = json.loads(read_text(path, RESULT_LIMIT_BYTES))  # never blocks on a pipe put there
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise WriteError(f"{path}: a result is in the way and cannot be read ({exc})") from exc
    if data.get("series", {}).get("key") != job.series_key:
        raise WriteError(f"{path}: a result of another series is in the way")
    return summarise(data)


def run_job(job: Job, settings: JobSettings) -> dict:
    """Run one job on a worker, holding its lock (`job_lock`). Returns {"status": "done"|"failed",
    "error", "summary", "result", "adopted" (the result was there once the lock was held: written
    by a task of an earlier, killed batch, and not computed again), "seconds" (wall),
    "cpu_seconds" (this worker process, all its threads), "pid", "model_loads",
    "lesion_model_loads" (how often this process loaded the lesion model: 0 or 1)}; raises only
    on failures of the system itself (the client records those too)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    hold_opencv_to_budget()
    model = worker_model(settings)
    lesion_methods = shared_lesion_methods(provider=settings.provider)
    answer = {
        "pid": os.getpid(),
        "model_loads": _MODEL_LOADS,
        "result": "",
        "summary": {},
        "error": "",
        "adopted": False,
    }
    out = Path(settings.out_folder)
    path = out / result_name(job.job_id)
    try:
        with job_lock(out, job.job_id):
            summary = _finished(path, job)
            if summary is None:
                summary = _analyse_and_write(job, settings, model, lesion_methods)
            else:
                answer["adopted"] = True
    except (LoadError, WriteError, PacsError, FolderError) as exc:
        unavailable = isinstance(exc, PacsError) and (is_transient(exc) or isinstance(exc, PartialTransfer))
        answer.update(status="failed", error=(SERVER_UNAVAILABLE if unavailable else "") + str(exc))
    else:
        answer.update(status="done", result=path.name, summary=summary)
    answer.update(
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
        lesion_model_loads=lesion_methods.loads,
    )
    return answer


def _analyse_and_write(job: Job, settings: JobSettings, model: Model, lesion_methods) -> dict:
    """Analyse the job's series and write its results; returns the worklist summary. A result
    another process published meanwhile is kept and this one discarded. Raises LoadError,
    WriteError, PacsError, FolderError."""
    out = Path(settings.out_folder)
    with job_series(job, out) as ref:
        series, analysis = load_and_analyse(ref, model, settings.options, lesion_methods=lesion_methods)
        # where the series is, not where a DICOMweb job's retrieval put it for the job
        analysis = replace(analysis, series=replace(analysis.series, folder=job.folder))
        if settings.report:
            from lunglens.report import write_report

            write_report(analysis, series, out / report_name(job.job_id))
    path = out / result_name(job.job_id)
    data = analysis.to_dict()
    try:
        write_atomically(path, analysis_json(data).encode("utf-8"), replace=False)
    except FileExistsError:
        return _finished(path, job)
    return summarise(data)
