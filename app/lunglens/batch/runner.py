"""Running a batch on Dask: plan the jobs (the series below a folder, or the CT series a DICOMweb
query finds), skip what an earlier run finished, hand the rest to the workers with a bounded
number in flight, and record every answer in the manifest as it arrives (this process is the
manifest's only writer).

The engine is `dask.distributed`: by default an embedded `LocalCluster` of N worker processes
(one task at a time each; decoding and onnxruntime get cores / N threads per worker), or an
existing cluster at `scheduler` (its workers must reach SOURCE, or the DICOMweb server with the
credentials in their environment, and the output folder under the same paths, and have LungLens
installed). A job whose worker dies is tried once more, then recorded as failed."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from requests import RequestException

from lunglens.analysis import Analysis, AnalysisOptions, ModelRecord
from lunglens.analysis.lesion_methods import HU_BANDS, LEARNED
from lunglens.atomic import WriteError, folder_destination_problem
from lunglens.batch.jobs import (
    UNREAD_KEY,
    DicomwebQuery,
    Job,
    Plan,
    plan_dicomweb_jobs,
    plan_jobs,
    source_changed,
)
from lunglens.batch.manifest import MANIFEST_NAME, Manifest, ManifestError, differing_settings
from lunglens.batch.progress import BatchSummary, ProgressLine
from lunglens.batch.task import (
    JOB_LOCK_SUFFIX,
    RETRIEVING_FOLDER,
    SERVER_UNAVAILABLE,
    JobSettings,
    held_job_ids,
    job_lock,
    report_name,
    result_name,
    run_job,
)
from lunglens.batch.worklist import RESULT_LIMIT_BYTES, WORKLIST_NAME, summarise, write_worklist
from lunglens.inference import ModelError, load_model
from lunglens.inference.session import bundled_model_card, card_path_for
from lunglens.io import FolderError, LoadError, load
from lunglens.io.files import kind_of, read_text
from lunglens.pacs import PacsError
from lunglens.pacs.connection import is_transient, named_error
from lunglens.threads import THREADS_VARIABLE, available_cores

#: A job is tried at most this often when its worker dies under it (the first try and one retry).
MAX_ATTEMPTS = 2
#: Least seconds between two rewrites of the worklist while a batch runs (always at the end).
WORKLIST_INTERVAL_S = 2.0
#: The lock file a running batch holds in its output folder (`_exclusive_lock`).
LOCK_NAME = ".lunglens-batch.lock"
#: Seconds to wait for an existing scheduler to answer.
CONNECT_TIMEOUT_S = 10
#: Seconds an existing scheduler may have no worker before the batch says it is waiting for one.
WORKERS_NOTICE_S = 10

#: The error of a job withdrawn before it started because the server was found unavailable.
SERVER_GONE_NOTE = "not run: the server was unavailable for an earlier job; a rerun runs it"

#: Dask settings for the batch: the scheduler does not retry a task whose worker died (the
#: client does, once, and records the attempt in the manifest).
DASK_CONFIG = {"distributed.scheduler.allowed-failures": 0}


class BatchError(Exception):
    """A batch that cannot start (bad SOURCE, output folder, model or scheduler); the message
    says what to fix."""


@dataclass(frozen=True)
class BatchConfig:
    """One batch: where the series are (`source`, a folder, or `dicomweb`, a query), where results
    go, and how to run them."""

    source: Path | None
    out: Path
    workers: int = 2
    """Worker processes of the embedded cluster (ignored with `scheduler`)."""
    scheduler: str | None = None
    """Address of an existing Dask scheduler, e.g. tcp://host:8786."""
    model: Path | None = None
    """Model card or .onnx (default: the bundled demonstration model)."""
    provider: str = "auto"
    options: AnalysisOptions = AnalysisOptions()
    report: bool = False
    retry_failed: bool = False
    threads: int | None = None
    """Threads per worker of the embedded cluster, for decoding and onnxruntime (default: cores /
    workers; `lunglens.threads.THREADS_VARIABLE` in the worker)."""
    dicomweb: DicomwebQuery | None = None
    """The studies to analyse on a DICOMweb server (instead of `source`)."""


Task = Callable[[Job, JobSettings], dict]


def check_folders(source: Path | None, out: Path) -> None:
    """Refuse an output folder that is not a folder, or is SOURCE or lies inside it (inputs are
    never written; `folder_destination_problem`), and one holding, under the names the batch
    writes in place (`_own_entry_problem`), anything but its own plain files and folder: checked
    before any series is analysed, not found at the end of the run."""
    problem = folder_destination_problem(out, [] if source is None else [source])
    if problem:
        raise BatchError(f"{out}: the output folder {problem}")
    if not out.is_dir():
        return
    names = [MANIFEST_NAME, WORKLIST_NAME, LOCK_NAME, RETRIEVING_FOLDER]
    names += [path.name for path in out.glob(f".*{JOB_LOCK_SUFFIX}")]
    for name in names:
        problem = _own_entry_problem(out / name, folder=name == RETRIEVING_FOLDER)
        if problem:
            raise BatchError(f"{out / name}: {problem}")


def _own_entry_problem(path: Path, *, folder: bool) -> str | None:
    """Why the batch must not use `path`, an entry it writes in place (opened, locked, written
    into, emptied; unlike its results, which are renamed over whatever is there), or None: it is
    absent, or a plain file (`folder`: a folder) of its own. A symbolic or hard link would lead
    its writes, or its clean-up, to the file or folder linked (inside SOURCE, or anywhere); a pipe
    would hang it."""
    try:
        stat_result = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    mode = stat_result.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link: the batch writes only its own files in its output folder"
    wanted = stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)
    if not wanted:
        return f"is {kind_of(mode)}, not the {'folder' if folder else 'file'} the batch keeps there"
    if not folder and stat_result.st_nlink > 1:
        return "has other names (a hard link): the batch writes only its own files in its output folder"
    return None


def _plan(config: BatchConfig) -> Plan:
    """The jobs of `config`, from its folder or its DICOMweb query. Raises BatchError."""
    if (config.source is None) == (config.dicomweb is None):
        raise BatchError("give a SOURCE folder or a DICOMweb query (--dicomweb URL), one of them")
    try:
        source = None if config.source is None else Path(config.source)
        check_folders(source, Path(config.out))
        plan = plan_dicomweb_jobs(config.dicomweb) if source is None else plan_jobs(source)
    except (FolderError, PacsError) as exc:
        raise BatchError(str(exc)) from exc
    if not plan.jobs:
        raise BatchError(plan.nothing_found())
    return plan


def _model_settings(config: BatchConfig) -> tuple[str, str, ModelRecord]:
    """(absolute card path, sha256, record) of the model, checked once here so that a bad model
    stops the batch before any worker starts."""
    try:
        card = card_path_for(Path(config.model)) if config.model else bundled_model_card()
        model = load_model(card, provider="cpu")
    except ModelError as exc:
        raise BatchError(str(exc)) from exc
    return str(card.resolve()), model.card.sha256, ModelRecord.of(model.card)


def _lesion_model_sha256(config: BatchConfig) -> str:
    """The sha256 of the bundled lesion model when the batch quantifies with the learned map (""
    otherwise), checked once here: a batch runs the method its manifest pins, so a lesion model
    that cannot load stops it before any worker starts instead of falling back."""
    if not config.options.quantify or config.options.lesion_method != LEARNED:
        return ""
    from lunglens.inference.lesion_model import load_lesion_model

    try:
        return load_lesion_model(provider="cpu").card.sha256
    except ModelError as exc:
        raise BatchError(
            f"{exc} (the learned lesion map needs it; or choose --lesion-method hu_bands)"
        ) from exc


def _settings_record(sha256: str, options: AnalysisOptions, lesion_sha256: str = "") -> dict:
    """What the results of an output folder depend on (checked on every rerun): the model, the
    selector, the decision, the slices classified, and the lesion method with its model."""
    from dataclasses import asdict

    return {
        "model_sha256": sha256,
        "selector": asdict(options.selector),
        "decision": asdict(options.decision),
        "all_slices": options.all_slices,
        "lesion_method": options.lesion_method if options.quantify else None,
        "lesion_model_sha256": lesion_sha256 or None,
    }


@contextlib.contextmanager
def _exclusive_lock(out: Path):
    """Hold an exclusive lock on the output folder (`LOCK_NAME` in it) for the whole run, so that
    two batches never write one folder side by side. The kernel releases it when the process
    ends, however it ends (kill -9 included), so a rerun after a crash takes it. Raises
    BatchError when another process holds it."""
    path = out / LOCK_NAME
    try:
        # not through a link, never waiting on a pipe (check_folders refused both before)
        handle = os.fdopen(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666), "a"
        )
    except OSError as exc:
        raise BatchError(f"{path}: cannot create the batch lock ({exc.strerror or exc})") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(
                f"{out}: another lunglens batch is writing to this folder (it holds {LOCK_NAME}); "
                "wait for it to end or choose another --out"
            ) from None
        yield


def _remove_temporaries(out: Path) -> int:
    """Delete what an interrupted run left in `out`: the temporary files of atomic writes
    (`.<name>.*.part`) and the series DICOMweb jobs were retrieving (`.retrieving/<job id>-*`),
    except those of jobs whose lock a task holds (`held_job_ids`: a task of a killed batch still
    running on an existing cluster). Returns how many temporary files there were."""
    held = held_job_ids(out)
    ours = tuple(f".{job_id}.{kind}." for job_id in held for kind in ("json", "pdf"))
    leftovers = [path for path in out.glob(".*.part") if not path.name.startswith(ours)]
    for path in leftovers:
        path.unlink(missing_ok=True)
    retrieving = out / RETRIEVING_FOLDER
    if retrieving.is_symlink() or not retrieving.is_dir():  # never followed out of `out`
        return len(leftovers)
    if not held:
        shutil.rmtree(retrieving, ignore_errors=True)
    else:
        for folder in retrieving.iterdir():
            if not folder.name.startswith(tuple(f"{job_id}-" for job_id in held)):
                shutil.rmtree(folder, ignore_errors=True)  # refuses a link: nothing outside is removed
    return len(leftovers)


def _result_settings(analysis: Analysis) -> dict:
    """The settings record (`_settings_record`) of a result, from what its Analysis JSON holds
    (the lesion model's sha256 from its quantification; none where it records no lesion model)."""
    quantification = analysis.quantification
    options = AnalysisOptions(
        selector=analysis.selection.params,
        decision=analysis.decision.params,
        all_slices=analysis.all_slices,
        quantify=quantification is not None,
        lesion_method=quantification.method if quantification else HU_BANDS,  # (unused without)
    )
    lesion_model = quantification.lesion_model if quantification else None
    return _settings_record(analysis.model.sha256, options, lesion_model.sha256 if lesion_model else "")


def _same_images(analysis: Analysis, job: Job) -> bool:
    """Whether the series of a folder job still holds the images `analysis` was made of
    (`SeriesRecord.same_images`; it is loaded, once per result to adopt: those an interrupted run
    left unrecorded). False for a series that no longer loads and for a result that records no
    fingerprint (it cannot be told). A series on a DICOMweb server is not retrieved to check."""
    if job.ref is None:
        return True
    try:
        return analysis.series.same_images(load(job.ref)) is True
    except LoadError:
        return False


def _adopt(manifest: Manifest, out: Path, job: Job, settings: dict) -> bool:
    """Record as done a job whose result an interrupted run wrote but did not record, when the
    file is a complete result of this series made with this run's `settings` (a settings record)
    of the images its folder holds now (`_same_images`) and of its source as planned now
    (`source_changed`). Returns whether it was adopted. A result of other images or of an older
    source runs again (its file is replaced); a result of this series made with other settings is
    never overwritten: the job fails, naming the file."""
    path = out / result_name(job.job_id)
    try:
        data = json.loads(read_text(path, RESULT_LIMIT_BYTES))  # never blocks on a pipe put there
        if data["series"]["key"] != job.series_key:
            return False
        analysis = Analysis.from_dict(data)
        made_with = _result_settings(analysis)
        differing = differing_settings(made_with, settings)
        summary = summarise(data)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if differing:
        unrecorded = differing == ["lesion_model_sha256"] and made_with["lesion_model_sha256"] is None
        made = (
            "made before LungLens recorded the lesion model of a learned map (which one made it "
            "cannot be told)"
            if unrecorded
            else f"made with other settings ({', '.join(differing)} differ)"
        )
        manifest.mark_failed(
            job.job_id,
            f"{path}: a result of this series {made} is in the way and is not overwritten; move it "
            "away or choose another output folder",
        )
        return False
    if source_changed(manifest.get(job.job_id).source_signature, job.source_signature):
        return False  # made of the source as it was when its job began
    if not _same_images(analysis, job):
        return False
    manifest.mark_done(job.job_id, path.name, summary, None)
    return True


@contextlib.contextmanager
def _dask_client(config: BatchConfig):
    """A Dask client on the embedded LocalCluster or on the scheduler named in `config`."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise BatchError("lunglens batch needs Dask: pip install 'lunglens[batch]'") from exc

    with dask.config.set(DASK_CONFIG):
        if config.scheduler:
            try:
                client = Client(config.scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                raise BatchError(f"{config.scheduler}: no Dask scheduler answers there ({exc})") from exc
            with client:
                _wait_for_a_worker(client, config.scheduler)
                yield client
            return
        threads = config.threads or max(1, available_cores() // config.workers)
        with (
            LocalCluster(
                n_workers=config.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                env={THREADS_VARIABLE: str(threads)},
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def _wait_for_a_worker(client, scheduler: str) -> None:
    """Wait until the cluster has a worker running, saying so on stderr when none has joined
    after `WORKERS_NOTICE_S` seconds (workers may join later; Ctrl-C stops the batch, no job
    handed out)."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_NOTICE_S)
    except TimeoutError:
        print(
            f"lunglens batch: waiting for a worker: the Dask scheduler at {scheduler} has none "
            f"running (start one: dask worker {scheduler}; Ctrl-C stops the batch)",
            file=sys.stderr,
            flush=True,
        )
        client.wait_for_workers(1)


class _WorkerWatch(threading.Thread):
    """While jobs run, says on stderr when the cluster has had no worker for `WORKERS_NOTICE_S`
    seconds (every worker left mid-run: the jobs in flight wait for one to join), and again when
    one has joined. A worker Dask has paused (its memory nearly full) is there: it finishes its
    job. Polls the scheduler about once a second. `scheduler`: the address of an existing
    cluster (the message says how to start a worker there), None for the embedded one."""

    def __init__(self, client, scheduler: str | None):
        super().__init__(name="lunglens-worker-watch", daemon=True)
        self.client = client
        self.scheduler = scheduler
        self.stopped = threading.Event()

    def _notice(self) -> str:
        if self.scheduler is None:
            return (
                "every worker process of the local cluster has stopped; the jobs in flight wait for one "
                "to start (Ctrl-C stops the batch)"
            )
        return (
            f"every worker of the Dask scheduler at {self.scheduler} has left; the jobs in flight wait for "
            f"one to join (start one: dask worker {self.scheduler}; Ctrl-C stops the batch)"
        )

    def run(self) -> None:
        lead = "\n" if sys.stderr.isatty() else ""  # below the progress bar redrawn in place
        none_since, said = None, False
        while not self.stopped.wait(min(1.0, WORKERS_NOTICE_S / 4)):
            try:
                present = self.client.run_on_scheduler(_present_workers)
            except Exception:  # noqa: BLE001 - the client is closing; the batch reports what matters
                return
            if present:
                if said:
                    print(
                        f"{lead}lunglens batch: a worker joined: the batch goes on",
                        file=sys.stderr,
                        flush=True,
                    )
                none_since, said = None, False
                continue
            none_since = time.monotonic() if none_since is None else none_since
            if not said and time.monotonic() - none_since >= WORKERS_NOTICE_S:
                print(
                    f"{lead}lunglens batch: waiting for a worker: {self._notice()}",
                    file=sys.stderr,
                    flush=True,
                )
                said = True

    def __enter__(self) -> _WorkerWatch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join(timeout=CONNECT_TIMEOUT_S)  # a poll in flight ends within the connect timeout


def _present_workers(dask_scheduler) -> int:
    """Workers of the cluster running or paused (run on the scheduler): not closing or gone."""
    return sum(1 for worker in dask_scheduler.workers.values() if worker.status.name in ("running", "paused"))


def _running_workers(dask_scheduler) -> int:
    """Workers of the cluster able to take a job now (run on the scheduler)."""
    return len(dask_scheduler.running)


def _check_workers_sign_in(client, query: DicomwebQuery | None) -> None:
    """Stop a DICOMweb batch before any job when a worker cannot sign in to the server (its
    environment lacks the password: an existing cluster's workers do not share the client's)."""
    if query is None:
        return
    problems = {w: p for w, p in client.run(query.connection.credentials_problem).items() if p}
    if problems:
        raise BatchError(
            f"{len(problems)} of the cluster's workers cannot sign in: {next(iter(problems.values()))} "
            "in their environment"
        )


def _crash_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "the cluster lost this job (cancelled)"
    return f"a worker died while analysing this series ({type(exc).__name__})"


def _running_keys(dask_worker) -> list:
    """The keys of the tasks running in a thread of this worker (run on each worker): a task the
    scheduler has handed to a busy worker waits there, not running."""
    return [task.key for task in dask_worker.state.all_running_tasks]


def _withdraw_unstarted(client, in_flight: dict) -> set:
    """Cancel the futures of `in_flight` that have not answered and that no worker runs (waiting
    for a worker, or on a busy one; a worker that does not answer runs none) and return them. A
    task that starts meanwhile is cancelled all the same: the result it may still write is
    adopted by the rerun, never computed again."""
    waiting = [future for future in in_flight if not future.done()]
    if not waiting:
        return set()
    answers = client.run(_running_keys, on_error="ignore")
    running = {key for keys in answers.values() for key in keys}
    unstarted = {future for future in waiting if future.key not in running}
    if unstarted:
        client.cancel(list(unstarted))
    return unstarted


def _server_answers(job: Job) -> bool:
    """Whether the DICOMweb server of `job`, which failed because its server was unavailable,
    answers a search for the series of the job's study (as it did when the batch was planned).
    A job may have met a failure of its own series (a server error on one study), which stops no
    batch; a server that is unreachable, too slow, or failing (HTTP 5xx, 429: `is_transient`) is
    gone; one that refuses the search (another HTTP 4xx) answers. A job of a folder has no server
    to ask: False."""
    if job.remote is None:
        return False
    connection = job.remote.connection
    try:
        connection.client().search_for_series(study_instance_uid=job.remote.address.study_uid)
    except (PacsError, RequestException, ValueError) as exc:
        return not is_transient(named_error(connection, exc, "searching for series"))
    return True


def _run_jobs(
    client,
    todo: deque,
    settings: JobSettings,
    task: Task,
    manifest: Manifest,
    out: Path,
    progress,
    server_answers: Callable[[Job], bool],
) -> tuple[int, set[str], dict[int, dict], float, bool]:
    """Submit `todo`, one job in flight per running worker, and record each answer as it arrives.
    One job per worker: a worker that dies takes only its own job down (Dask would fail every
    task queued on it), and a kill loses at most one job per worker. Once a job fails because its
    server was unavailable (`SERVER_UNAVAILABLE`) and its server does not answer `server_answers`
    (of that job) either, no job is submitted any more and those no
    worker has taken yet are withdrawn (`_withdraw_unstarted`): they stay pending for a rerun, as
    do the jobs not submitted; the jobs running finish or fail as they do. Returns (jobs finished,
    the ids of the jobs whose result a killed batch's task wrote and this run's task kept (not
    finished by this run), {worker pid: {"jobs", "model_loads", "lesion_model_loads",
    "cpu_seconds"}}, seconds from the first submission to the last answer, whether the batch
    stopped because the server was unavailable)."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    in_flight: dict = {}
    finished = as_completed()
    by_id = {job.job_id: job for job in todo}
    server_gone, withdrawn = False, set()

    def fill() -> None:
        if server_gone:
            return
        limit = max(1, client.run_on_scheduler(_running_workers)) if todo else 0
        while todo and len(in_flight) < limit:
            job = todo.popleft()
            attempt = manifest.mark_running(job.job_id, job.source_signature)
            future = client.submit(task, job, settings, key=f"lunglens-{job.job_id}-{attempt}", pure=False)
            in_flight[future] = job
            finished.add(future)

    ran, kept, workers, last_worklist = 0, set(), {}, time.monotonic()
    start = time.perf_counter()
    fill()
    for future in finished:
        job = in_flight.pop(future)
        if future in withdrawn:
            manifest.mark_pending(job.job_id, SERVER_GONE_NOTE, attempt_used=False)
        elif future.status == "finished":
            answer = future.result()
            seen = workers.setdefault(
                answer["pid"], {"jobs": 0, "model_loads": 0, "lesion_model_loads": 0, "cpu_seconds": 0.0}
            )
            seen["model_loads"] = answer["model_loads"]
            seen["lesion_model_loads"] = answer.get("lesion_model_loads", 0)
            if answer.get("adopted"):
                manifest.mark_done(job.job_id, answer["result"], answer["summary"], None)
                kept.add(job.job_id)
            else:
                seen["jobs"] += 1
                seen["cpu_seconds"] += answer["cpu_seconds"]
                if answer["status"] == "done":
                    manifest.mark_done(
                        job.job_id,
                        answer["result"],
                        answer["summary"],
                        answer["seconds"],
                        job.source_signature,
                    )
                else:
                    manifest.mark_failed(job.job_id, answer["error"], answer["seconds"], job.source_signature)
                    unavailable = answer["error"].startswith(SERVER_UNAVAILABLE)
                    if unavailable and not server_gone and not server_answers(job):
                        server_gone = True
                        withdrawn = _withdraw_unstarted(client, in_flight)
                ran += 1
        else:
            error = future.exception() if future.status == "error" else None
            if isinstance(error, KilledWorker) or error is None:
                if manifest.get(job.job_id).attempts < MAX_ATTEMPTS:
                    manifest.mark_pending(job.job_id, _crash_reason(error))
                    todo.appendleft(by_id[job.job_id])
                else:
                    manifest.mark_failed(
                        job.job_id,
                        _crash_reason(error) + f", {MAX_ATTEMPTS} times",
                        source_signature=job.source_signature,
                    )
                    ran += 1
            else:
                manifest.mark_failed(
                    job.job_id,
                    f"internal error: {type(error).__name__}: {error}",
                    source_signature=job.source_signature,
                )
                ran += 1
        future.release()
        fill()
        counts = manifest.series_counts()
        state = manifest.get(job.job_id).state
        gone = (
            f"; the server is unavailable: no job is started any more ({counts.running} running, "
            f"{counts.pending} left for a rerun)"
        )
        progress(
            counts.done,
            counts.series_failed,
            counts.left,
            ran,
            time.perf_counter() - start,
            f"{job.job_id} {state}" + gone * server_gone,
            not in_flight,  # the run's last answer
        )
        if time.monotonic() - last_worklist >= WORKLIST_INTERVAL_S:
            with contextlib.suppress(WriteError):  # the final write reports a lasting failure
                write_worklist(out, manifest.records())
            last_worklist = time.monotonic()
    return ran, kept, workers, time.perf_counter() - start, server_gone


def run_batch(
    config: BatchConfig,
    *,
    task: Task = run_job,
    progress: Callable | None = None,
) -> BatchSummary:
    """Run the batch described by `config`; returns what it did. Raises `BatchError` when it
    cannot start. `task` is what a worker runs per job (`run_job`)."""
    started = time.perf_counter()
    if config.workers < 1:
        raise BatchError(f"--workers must be at least 1, got {config.workers}")
    cores = available_cores()
    if config.scheduler is None and config.workers > cores:
        raise BatchError(
            f"--workers {config.workers}: more worker processes than this machine's {cores} cores "
            "(each runs one job at a time; more only share the cores and multiply the memory)"
        )
    if config.threads is not None and config.threads < 1:
        raise BatchError(f"--threads must be at least 1, got {config.threads}")
    if config.scheduler is None and config.threads is not None and config.threads > cores:
        raise BatchError(
            f"--threads {config.threads}: more threads per worker than this machine's {cores} cores "
            "(they would only wait for one another; at most one per core)"
        )
    out = Path(config.out)
    plan = _plan(config)
    card, sha256, model_record = _model_settings(config)
    lesion_sha256 = _lesion_model_sha256(config)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from exc
    progress = progress if progress is not None else ProgressLine()

    with _exclusive_lock(out):  # released however this process ends
        run_settings = _settings_record(sha256, config.options, lesion_sha256)
        try:
            manifest = Manifest(out)
            manifest.bind_settings(run_settings)
        except ManifestError as exc:
            raise BatchError(str(exc)) from exc
        with manifest:
            _remove_temporaries(out)
            interrupted = {record.job_id for record in manifest.records() if record.state == "running"}
            manifest.recover()
            manifest.retry_failed("" if config.retry_failed else SERVER_UNAVAILABLE)
            jobs = plan.jobs + plan.unread
            manifest.register(list(jobs))
            planned = {job.job_id for job in jobs}
            manifest.forget(  # folders that formed no series and now form one, or hold nothing skipped
                [
                    r.job_id
                    for r in manifest.records()
                    if r.series_key.startswith(UNREAD_KEY) and r.job_id not in planned
                ]
            )
            reopened = manifest.reopen_changed({job.job_id: job.source_signature for job in jobs})
            for job_id in reopened:  # a result of the source as it was
                (out / result_name(job_id)).unlink(missing_ok=True)
                (out / report_name(job_id)).unlink(missing_ok=True)
            changed = manifest.reopened()
            already_done = manifest.counts()["done"]
            adopted = 0
            todo = deque()
            for job in jobs:
                if manifest.get(job.job_id).state != "pending":
                    continue
                if job.problems:
                    manifest.mark_failed(
                        job.job_id,
                        "cannot be analysed: " + "; ".join(job.problems),
                        source_signature=job.source_signature,
                    )
                    continue
                with job_lock(out, job.job_id, wait=False) as idle:
                    if not idle:  # a task of a killed batch runs it: this run's task adopts its result
                        todo.append(job)
                    elif _adopt(manifest, out, job, run_settings):
                        adopted += 1
                    elif manifest.get(job.job_id).state == "pending":  # not failed as in the way
                        (out / result_name(job.job_id)).unlink(missing_ok=True)  # not its result
                        todo.append(job)
            submitted = {job.job_id for job in todo}
            if todo:  # the worklist says now what is to run (the final write reports a lasting failure)
                with contextlib.suppress(WriteError):
                    write_worklist(out, manifest.records())

            ran, workers, jobs_seconds, cluster_seconds, kept, server_gone = 0, {}, 0.0, 0.0, set(), False
            if todo:
                settings = JobSettings(
                    card, sha256, config.provider, config.options, str(out.resolve()), config.report
                )
                cluster_started = time.perf_counter()
                with _dask_client(config) as client:
                    cluster_seconds = time.perf_counter() - cluster_started
                    _check_workers_sign_in(client, config.dicomweb)
                    with _WorkerWatch(client, config.scheduler):
                        ran, kept, workers, jobs_seconds, server_gone = _run_jobs(
                            client,
                            todo,
                            settings,
                            task,
                            manifest,
                            out,
                            progress,
                            _server_answers,
                        )
                _remove_temporaries(out)  # every job of this run has answered
            counts = manifest.series_counts()
            records = manifest.records()
            try:
                write_worklist(out, records)
            except WriteError as exc:
                raise BatchError(str(exc)) from exc

    without_report = (
        sum(1 for r in records if r.state == "done" and not (out / report_name(r.job_id)).exists())
        if config.report
        else 0
    )
    verdicts: dict[str, int] = {}
    for record in records:
        if record.state == "done" and record.summary.get("verdict"):
            verdicts[record.summary["verdict"]] = verdicts.get(record.summary["verdict"], 0) + 1
    return BatchSummary(
        counts=counts,
        ran=ran,
        already_done=already_done,
        adopted=adopted + len(kept),
        recovered=len((interrupted & submitted) - kept),
        changed=len(changed),
        verdicts=verdicts,
        model=model_record.label,
        seconds=time.perf_counter() - started,
        studies_per_hour=3600.0 * ran / jobs_seconds if ran and jobs_seconds > 0 else 0.0,
        cluster_start_seconds=cluster_seconds,
        workers=workers,
        without_report=without_report,
        caveats=plan.caveats,
        skipped=plan.skipped_note,
        unavailable=sum(1 for r in records if r.state == "failed" and r.error.startswith(SERVER_UNAVAILABLE)),
        server_gone=server_gone,
    )
