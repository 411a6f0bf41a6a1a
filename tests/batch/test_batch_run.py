"""`lunglens batch` end to end on a LocalCluster of 2 workers: a run killed with kill -9 midway
and rerun ends with a complete worklist and no result computed twice; bad data fails with its
reason without stopping the others; a job that kills its worker is retried once, then failed;
each worker loads the model once."""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lunglens.analysis import Analysis, AnalysisOptions, analyse
from lunglens.batch.manifest import MANIFEST_NAME, Manifest
from lunglens.batch.runner import LOCK_NAME, BatchConfig, run_batch
from lunglens.batch.task import JobSettings, result_name
from lunglens.batch.worklist import WORKLIST_NAME
from lunglens.cli import main as cli_main
from lunglens.core.decision import DecisionParams
from lunglens.inference import load_model
from lunglens.io import discover, load
from tests.batch.conftest import write_archive
from tests.batch.crashing import crash_marked_patients, server_gone_after_one, slow_jobs

HU_BANDS = AnalysisOptions(lesion_method="hu_bands")
"""The batch mechanics are tested with the fast lesion method, named (the default may be either)."""
N_SERIES = 32  # 30 patients, the series without HU, the MR series
KILL_AFTER_DONE = 6
POLL_S = 0.02


def _batch_command(source, out, card, *extra):
    return [sys.executable, "-m", "lunglens", "batch", str(source), "--out", str(out), "--workers", "2",
            "--model", str(card), "--lesion-method", "hu_bands", *extra]  # fmt: skip


def _states(out) -> dict[str, tuple[str, int]]:
    db = sqlite3.connect(f"file:{out / MANIFEST_NAME}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0]: (row[1], row[2]) for row in db.execute("SELECT job_id, state, attempts FROM jobs")}
    finally:
        db.close()


def _a_job_runs(out) -> bool:
    """Whether the manifest in `out` has a job running (False while it is being created)."""
    try:
        return any(state == "running" for state, _ in _states(out).values())
    except sqlite3.OperationalError:  # no manifest yet, or its table not yet made
        return False


def _wait_for_done(out, proc, at_least: int, timeout_s: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the batch finished before it could be killed"
        if (out / MANIFEST_NAME).exists():
            try:
                states = _states(out)
            except sqlite3.OperationalError:  # the schema is being created
                states = {}
            if sum(state == "done" for state, _ in states.values()) >= at_least:
                return states
        time.sleep(POLL_S)
    raise AssertionError("the batch made no progress")


def _process_group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_9_midway_then_rerun_completes_and_computes_nothing_twice(phantom_archive, tiny_card, tmp_path):
    out = tmp_path / "out"
    command = _batch_command(phantom_archive, out, tiny_card)
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_done(out, proc, KILL_AFTER_DONE)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and the worker processes
        proc.communicate()
    for _ in range(100):
        if _process_group_gone(proc.pid):
            break
        time.sleep(0.05)
    assert _process_group_gone(proc.pid), "a process of the killed batch survived"

    at_kill = _states(out)
    done_at_kill = {job for job, (state, _) in at_kill.items() if state == "done"}
    in_flight_at_kill = {job for job, (state, _) in at_kill.items() if state == "running"}
    assert KILL_AFTER_DONE <= len(done_at_kill) < N_SERIES - 2
    written = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.glob("*.json")}
    assert {result_name(job) for job in done_at_kill} <= set(written)

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert f"{len(done_at_kill)} done earlier, skipped" in rerun.stdout
    assert "studies/hour" in rerun.stderr and "left" in rerun.stderr  # progress lines

    final = _states(out)
    assert len(final) == N_SERIES
    assert sorted(state for state, _ in final.values()).count("done") == N_SERIES - 2
    # no finished result rewritten: the same file (inode) with the same modification time
    for name, identity in written.items():
        path = out / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, f"{name} was rewritten"
    # every job ran once, except those in flight at the kill (their interrupted attempt counts)
    for job, (state, attempts) in final.items():
        expected = 2 if job in in_flight_at_kill and result_name(job) not in written else 1
        if state == "done":
            assert attempts == expected, job
    assert set(out.glob(".*")) == {out / LOCK_NAME}, "temporary files left behind"  # the lock stays

    rows = list(csv.DictReader((out / WORKLIST_NAME).open()))
    assert len(rows) == N_SERIES and len({r["job_id"] for r in rows}) == N_SERIES
    by_patient = {r["patient"]: r for r in rows}
    assert by_patient["BADTRUNC"]["status"] == "failed"
    assert "no slice could be decoded" in by_patient["BADTRUNC"]["error"]
    assert by_patient["T0001"]["status"] == "failed" and "not CT" in by_patient["T0001"]["error"]
    for row in rows:
        if row["status"] == "done":
            assert row["verdict"] in ("COVID-19", "normal") and int(row["n_kept"]) > 0
            assert (out / row["result"]).exists()
    # a completed batch run again does nothing and keeps every file
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"{N_SERIES - 2} done earlier, skipped" in again.stdout
    assert "0 finished" in again.stdout


def test_worker_death_is_retried_once_and_each_worker_loads_the_model_once(tiny_card, tmp_path):
    source = write_archive(
        tmp_path / "src", 0, bad=False, names=["PAT000", "PAT001", "PAT002", "CRASHONCE", "CRASHALWAYS"]
    )
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=2, model=tiny_card, provider="cpu", options=HU_BANDS)
    summary = run_batch(config, task=crash_marked_patients, progress=lambda *a: None)

    with Manifest(out) as manifest:
        records = {r.patient: r for r in manifest.records()}
    assert records["CRASHONCE"].state == "done" and records["CRASHONCE"].attempts == 2
    assert records["CRASHALWAYS"].state == "failed" and records["CRASHALWAYS"].attempts == 2
    assert "worker died" in records["CRASHALWAYS"].error
    for name in ("PAT000", "PAT001", "PAT002"):  # a worker's death takes only its own job down
        assert records[name].state == "done" and records[name].attempts == 1
    assert (summary.done, summary.failed, summary.pending) == (4, 1, 0)
    # every worker process (including those restarted after a crash) loaded the model once
    assert all(seen["model_loads"] == 1 for seen in summary.workers.values())
    assert sum(seen["jobs"] for seen in summary.workers.values()) == 4
    assert max(seen["jobs"] for seen in summary.workers.values()) >= 2  # a session was reused


def test_result_written_but_not_recorded_is_kept_not_recomputed(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 2, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=2, model=tiny_card, provider="cpu", options=HU_BANDS)
    first = run_batch(config, progress=lambda *a: None)
    assert first.done == 2
    with Manifest(out) as manifest:
        job = manifest.records()[0]
        # as if the client was killed after the worker wrote the JSON, before it was recorded
        manifest.mark_running(job.job_id)
    identity = (out / job.result).stat().st_ino, (out / job.result).stat().st_mtime_ns
    second = run_batch(config, progress=lambda *a: None)
    # counted once: kept, not run again
    assert (second.recovered, second.adopted, second.ran, second.done) == (0, 1, 0, 2)
    assert "1 results of an interrupted run kept" in second.lines()[1]
    assert "run again" not in second.lines()[1]
    assert ((out / job.result).stat().st_ino, (out / job.result).stat().st_mtime_ns) == identity


def test_runs_on_an_existing_scheduler(tiny_card, tmp_path):
    from distributed import LocalCluster

    source = write_archive(tmp_path / "src", 2, bad=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        config = BatchConfig(
            source=source,
            out=tmp_path / "out",
            scheduler=cluster.scheduler_address,
            model=tiny_card,
            options=HU_BANDS,
        )
        summary = run_batch(config, progress=lambda *a: None)
    assert (summary.done, summary.failed) == (2, 0) and len(summary.workers) == 1
    card = json.loads(Path(tiny_card).read_text())
    # the summary names the model, and calls it a demonstration model only when its card says so
    assert f"verdicts ({card['name']} {card['version']}; not a diagnosis): 2 " in "\n".join(summary.lines())


def test_a_scheduler_without_workers_is_waited_for_and_said_so(tiny_card, tmp_path, monkeypatch, capsys):
    import threading

    from distributed import LocalCluster

    from lunglens.batch import runner

    monkeypatch.setattr(runner, "WORKERS_NOTICE_S", 0.2)
    source = write_archive(tmp_path / "src", 1, bad=False)
    with LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        config = BatchConfig(
            source=source, out=tmp_path / "out", scheduler=cluster.scheduler_address, model=tiny_card,
            options=HU_BANDS,
        )  # fmt: skip
        summaries = []
        batch = threading.Thread(target=lambda: summaries.append(run_batch(config, progress=lambda *a: None)))
        batch.start()
        said, deadline = "", time.monotonic() + 120
        while "waiting for a worker" not in said:
            assert batch.is_alive() and time.monotonic() < deadline, said
            said += capsys.readouterr().err
            time.sleep(POLL_S)
        assert f"the Dask scheduler at {cluster.scheduler_address} has none running" in said
        assert batch.is_alive() and not summaries  # still waiting: a worker may join
        cluster.scale(1)
        batch.join()
    (summary,) = summaries
    assert (summary.done, summary.failed) == (1, 0)


def test_workers_leaving_mid_run_are_waited_for_and_said_so(tiny_card, tmp_path, monkeypatch, capsys):
    """Every worker of an existing cluster leaves while a job runs: the batch says it waits for
    one, says when one joins, and then finishes every job."""
    import threading

    from distributed import LocalCluster

    from lunglens.batch import runner

    monkeypatch.setattr(runner, "WORKERS_NOTICE_S", 0.5)
    source = write_archive(tmp_path / "src", 2, bad=False)
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        config = BatchConfig(
            source=source, out=out, scheduler=cluster.scheduler_address, model=tiny_card, options=HU_BANDS
        )
        summaries = []
        batch = threading.Thread(
            target=lambda: summaries.append(run_batch(config, task=slow_jobs, progress=lambda *a: None))
        )
        batch.start()
        deadline = time.monotonic() + 120
        while not _a_job_runs(out):
            assert batch.is_alive() and time.monotonic() < deadline
            time.sleep(POLL_S)
        cluster.scale(0)  # the job in flight loses its worker
        said = ""
        while "waiting for a worker" not in said:
            assert batch.is_alive() and time.monotonic() < deadline, said
            said += capsys.readouterr().err
            time.sleep(POLL_S)
        assert f"every worker of the Dask scheduler at {cluster.scheduler_address} has left" in said
        assert not summaries  # still waiting: a worker may join
        cluster.scale(1)
        batch.join(timeout=120)
    said += capsys.readouterr().err
    assert "a worker joined: the batch goes on" in said
    (summary,) = summaries
    assert (summary.done, summary.failed) == (2, 0)


def test_a_worker_paused_for_memory_is_not_a_worker_gone():
    """Dask pauses a worker whose memory is nearly full (it leaves the scheduler's running set but
    finishes its job): the batch must not say that every worker has left."""
    from types import SimpleNamespace

    from distributed.core import Status

    from lunglens.batch.runner import _present_workers

    def scheduler(*statuses):
        return SimpleNamespace(workers={i: SimpleNamespace(status=s) for i, s in enumerate(statuses)})

    assert _present_workers(scheduler(Status.paused)) == 1
    assert _present_workers(scheduler(Status.running, Status.closing_gracefully)) == 1
    assert _present_workers(scheduler(Status.closing, Status.closed)) == 0


def test_report_pdfs_when_asked(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(
        source=source, out=out, workers=1, model=tiny_card, provider="cpu", report=True, options=HU_BANDS
    )
    assert run_batch(config, progress=lambda *a: None).done == 1
    (pdf,) = out.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.with_suffix(".json").exists()


def test_a_rerun_with_report_says_which_finished_series_have_no_pdf(tiny_card, tmp_path):
    """A finished result is never made again, so its PDF does not appear: the summary says so."""
    source = write_archive(tmp_path / "src", 1, bad=False)
    config = BatchConfig(
        source=source, out=tmp_path / "out", workers=1, model=tiny_card, provider="cpu", options=HU_BANDS
    )
    assert run_batch(config, progress=lambda *a: None).done == 1
    again = run_batch(dataclasses.replace(config, report=True), progress=lambda *a: None)
    assert again.without_report == 1 and not list((tmp_path / "out").glob("*.pdf"))
    assert any("1 finished series have no PDF report" in line for line in again.lines())
    assert run_batch(config, progress=lambda *a: None).without_report == 0  # not asked: not said


def test_a_rerun_analyses_again_the_series_whose_files_changed_and_only_those(tiny_card, tmp_path):
    """A series that lost a file since it was analysed (a copy still arriving, a slice removed) is
    analysed again, its result replaced; the others are skipped, their results untouched; the
    archive moved elsewhere is not a change."""
    source = write_archive(tmp_path / "src", 2, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 2
    results = {path.name.split("_")[0]: path for path in out.glob("PAT*.json")}
    slices = json.loads(results["PAT000"].read_text())["series"]["n_slices"]
    untouched = (results["PAT001"].stat().st_mtime_ns, results["PAT001"].read_bytes())
    sorted((source / "PAT000").iterdir())[-1].unlink()

    again = run_batch(config, progress=lambda *a: None)
    assert (again.changed, again.ran, again.done, again.already_done) == (1, 1, 2, 1)
    assert any("1 finished series changed since" in line for line in again.lines())
    assert json.loads(results["PAT000"].read_text())["series"]["n_slices"] == slices - 1
    assert (results["PAT001"].stat().st_mtime_ns, results["PAT001"].read_bytes()) == untouched
    with Manifest(out) as manifest:
        assert {r.state for r in manifest.records()} == {"done"}

    moved = tmp_path / "moved"
    source.rename(moved)
    still = run_batch(dataclasses.replace(config, source=moved), progress=lambda *a: None)
    assert (still.changed, still.ran, still.already_done) == (0, 0, 2)
    with open(out / WORKLIST_NAME, newline="", encoding="utf-8") as fh:  # opens them where they are
        assert {row["folder"].rsplit("/", 1)[0] for row in csv.DictReader(fh)} == {str(moved)}


def test_a_changed_series_is_listed_as_to_run_again_before_its_new_analysis_begins(
    tiny_card, tmp_path, monkeypatch
):
    """Its old result is removed at the start: the worklist says so at once, not once the first
    job has answered (a batch killed meanwhile left 'done' rows whose result was gone)."""
    from lunglens.batch import runner

    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 1
    sorted((source / "PAT000").iterdir())[-1].unlink()

    def killed_as_the_cluster_starts(_config):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_dask_client", killed_as_the_cluster_starts)
    with pytest.raises(KeyboardInterrupt):
        run_batch(config, progress=lambda *a: None)
    with open(out / WORKLIST_NAME, newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["status"] == "pending" and "source changed" in row["error"] and not list(out.glob("PAT*.json"))
    monkeypatch.undo()
    again = run_batch(config, progress=lambda *a: None)  # the rerun after the kill still says why
    assert (again.changed, again.ran, again.done) == (1, 1, 1)


def test_a_result_left_by_a_killed_run_is_not_adopted_once_its_source_changed(tiny_card, tmp_path):
    """A killed run wrote a result before recording it; the file then grew (same pixels: the
    images' fingerprint cannot tell). The result is of the source as it was: analysed again."""
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 1
    db = sqlite3.connect(out / MANIFEST_NAME)
    db.execute("UPDATE jobs SET state = 'running'")  # killed after writing the result, before recording it
    db.commit()
    db.close()
    with open(sorted((source / "PAT000").iterdir())[0], "ab") as fh:
        fh.write(b"\0\0")
    again = run_batch(config, progress=lambda *a: None)
    assert (again.adopted, again.ran, again.done) == (0, 1, 1)


def test_batch_result_equals_the_single_series_analysis(covid_ct_md, tiny_card, tmp_path):
    out = tmp_path / "out"
    options = HU_BANDS
    summary = run_batch(
        BatchConfig(source=covid_ct_md, out=out, workers=2, model=tiny_card, provider="cpu", options=options),
        progress=lambda *a: None,
    )
    assert (summary.done, summary.failed) == (3, 0)
    with Manifest(out) as manifest:
        records = {r.folder.rsplit("/", 1)[-1]: r for r in manifest.records()}
    assert records["P001"].summary["n_kept"] == 90
    batch = Analysis.from_json((out / records["P001"].result).read_text())
    ref = discover(covid_ct_md / "P001").series[0]
    direct = analyse(load(ref), load_model(tiny_card, provider="cpu"), options)
    np.testing.assert_array_equal(batch.selection.kept, direct.selection.kept)
    np.testing.assert_allclose(batch.p_covid, direct.p_covid, rtol=0, atol=1e-12, equal_nan=True)
    assert batch.decision.k_positive == direct.decision.k_positive


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--fraction", "2"), "patient fraction"),
        (("--workers", "0"), "--workers must be at least 1"),
        (("--scheduler", "tcp://127.0.0.1:1"), "no Dask scheduler answers there"),
    ],
)
def test_bad_options_exit_2_with_a_message(phantom_archive, tiny_card, tmp_path, extra, message):
    result = subprocess.run(
        _batch_command(phantom_archive, tmp_path / "out", tiny_card, *extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_output_inside_source_writes_nothing(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 1, bad=False)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    result = subprocess.run(
        _batch_command(source, source / "results", tiny_card), capture_output=True, text=True, timeout=120
    )
    assert (
        result.returncode == 2
        and "a folder being read: LungLens never writes into its input folders" in result.stderr
    )
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before


def test_rerun_with_other_settings_is_refused(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    out.mkdir()
    with Manifest(out) as manifest:
        manifest.bind_settings({"model_sha256": "0" * 64})
    result = subprocess.run(
        _batch_command(source, out, tiny_card), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "other settings" in result.stderr
    assert not list(out.glob("*.json")) and not (out / WORKLIST_NAME).exists()


def test_job_settings_travel_as_paths(phantom_archive, tiny_card):
    """What a worker receives pickles small: paths and parameters, no pixels."""
    import pickle

    from lunglens.batch.jobs import plan_jobs

    job = plan_jobs(phantom_archive).jobs[0]
    settings = JobSettings(str(tiny_card), "0" * 64, "cpu", AnalysisOptions(), "/tmp/out")
    assert len(pickle.dumps((job, settings))) < 20_000


def test_a_second_batch_on_a_folder_in_use_is_refused_and_runs_once_the_first_is_gone(
    tiny_card, tmp_path, capsys
):
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["batch", str(source), "--out", str(out), "--workers", "1", "--model", str(tiny_card),
            "--provider", "cpu", "--lesion-method", "hu_bands"]  # fmt: skip
    with open(out / LOCK_NAME, "a") as held:  # as a running batch holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert cli_main(argv) == 2
    assert f"{out}: another lunglens batch is writing to this folder" in capsys.readouterr().err
    assert not (out / MANIFEST_NAME).exists() and not list(out.glob("*.json"))
    assert cli_main(argv) == 0  # the holder closed it (a killed process releases it the same way)
    assert len(list(out.glob("*.json"))) == 1


def test_results_without_a_manifest_are_adopted_only_when_made_with_the_same_settings(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 1
    (result,) = out.glob("*.json")
    identity = result.stat().st_ino, result.stat().st_mtime_ns
    (out / MANIFEST_NAME).unlink()  # as if the manifest was lost
    other = AnalysisOptions(lesion_method="hu_bands", decision=DecisionParams(patient_fraction=0.5))
    refused = run_batch(replace(config, options=other), progress=lambda *a: None)
    assert (refused.adopted, refused.ran, refused.failed) == (0, 0, 1)
    with Manifest(out) as manifest:
        (record,) = manifest.records()
    assert f"{result}: a result of this series made with other settings (decision differ)" in record.error
    assert (result.stat().st_ino, result.stat().st_mtime_ns) == identity
    (out / MANIFEST_NAME).unlink()
    same = run_batch(config, progress=lambda *a: None)
    assert (same.adopted, same.ran, same.done) == (1, 0, 1)
    assert (result.stat().st_ino, result.stat().st_mtime_ns) == identity


def test_a_result_of_other_images_under_the_same_uids_is_not_adopted_but_run_again(tiny_card, tmp_path):
    """A series re-sent with the same UIDs but other pixels (mirrored here) after an interrupted
    run: its unrecorded result was made of the old images, so the job runs again."""
    import pydicom

    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 1
    (result,) = out.glob("*.json")
    before = Analysis.from_json(result.read_text()).series
    (out / MANIFEST_NAME).unlink()  # as if the run was killed before it recorded the result
    for path in sorted(source.rglob("*.dcm")):
        dataset = pydicom.dcmread(path)
        dataset.PixelData = np.ascontiguousarray(dataset.pixel_array[:, ::-1]).tobytes()
        dataset.save_as(path)
    again = run_batch(config, progress=lambda *a: None)
    assert (again.adopted, again.ran, again.done) == (0, 1, 1)
    after = Analysis.from_json(result.read_text()).series
    assert after.key == before.key and after.fingerprint != before.fingerprint
    assert after.same_images(load(discover(source).series[0])) is True


def test_more_workers_than_cores_exit_2_and_an_existing_scheduler_ignores_them(
    tiny_card, tmp_path, monkeypatch, capsys
):
    from lunglens.batch import runner

    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _pid: set(range(2)))
    out = tmp_path / "out"
    argv = ["batch", str(tmp_path / "src"), "--out", str(out), "--workers", "3", "--model", str(tiny_card)]
    assert cli_main(argv) == 2
    assert "--workers 3: more worker processes than this machine's 2 cores" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(runner.BatchError, match="no Dask scheduler answers there"):  # past the check
        run_batch(
            BatchConfig(
                source=write_archive(tmp_path / "src", 1, bad=False),
                out=out,
                workers=3,
                scheduler="tcp://127.0.0.1:1",
                model=tiny_card,
                options=HU_BANDS,
            ),
            progress=lambda *a: None,
        )


def _one_result(source, out, card):
    """The result file of a batch of the one series in `source`, run into `out`."""
    config = BatchConfig(source=source, out=out, workers=1, model=card, provider="cpu", options=HU_BANDS)
    assert run_batch(config, progress=lambda *a: None).done == 1
    (result,) = out.glob("*.json")
    return result


ORPHAN = """
import fcntl, os, shutil, sys
from pathlib import Path

out, job_id, result = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
part, retrieving = out / f".{job_id}.json.orphan.part", out / ".retrieving" / f"{job_id}-orphan"
lock = out / f".{job_id}.job-lock"
with open(lock, "a") as held:  # as its task holds the job's lock (batch.task.job_lock)
    fcntl.flock(held, fcntl.LOCK_EX)
    part.write_bytes(b"")
    retrieving.mkdir(parents=True)
    print("holding", flush=True)
    sys.stdin.readline()
    part.unlink()
    shutil.rmtree(retrieving)
    os.link(result, out / result.name)  # publishes the result it computed
    lock.unlink()
"""


def test_a_job_a_killed_batch_left_running_on_its_cluster_is_adopted_not_run_twice(tiny_card, tmp_path):
    """kill -9 of a batch on an existing cluster leaves its task running there (here a process
    holding the job's lock, as the task does). The rerun leaves its temporaries, waits for it,
    and keeps the result it writes: computed once, written once, counted once."""
    from lunglens.batch.jobs import plan_jobs
    from lunglens.batch.task import RETRIEVING_FOLDER

    source = write_archive(tmp_path / "src", 1, bad=False)
    computed = tmp_path / "computed"  # the orphan's result, made beforehand
    result = _one_result(source, computed, tiny_card)
    out = tmp_path / "out"
    out.mkdir()
    (job,) = plan_jobs(source).jobs
    db = sqlite3.connect(computed / MANIFEST_NAME)
    (settings,) = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
    db.close()
    with Manifest(out) as manifest:  # as the killed run left it: the job handed to the cluster
        manifest.bind_settings(json.loads(settings))
        manifest.register([job])
        manifest.mark_running(job.job_id)
    orphan = subprocess.Popen(
        [sys.executable, "-c", ORPHAN, str(out), job.job_id, str(result)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    rerun = None
    try:
        assert orphan.stdout.readline() == "holding\n"
        rerun = subprocess.Popen(
            _batch_command(source, out, tiny_card, "--workers", "1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while _states(out)[job.job_id] != ("running", 2):  # handed to this run's cluster
            assert rerun.poll() is None and time.monotonic() < deadline, rerun.communicate()
            time.sleep(POLL_S)
        # the orphan's temporaries were left where it writes them
        assert (out / f".{job.job_id}.json.orphan.part").exists()
        assert (out / RETRIEVING_FOLDER / f"{job.job_id}-orphan").is_dir()
        orphan.communicate("publish\n", timeout=60)
        assert orphan.returncode == 0
        stdout, stderr = rerun.communicate(timeout=240)
    finally:
        for process in (orphan, rerun):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert rerun.returncode == 0, stderr
    assert (out / result.name).stat().st_ino == result.stat().st_ino  # the orphan's file, kept
    assert "0 finished" in stdout and "1 results of an interrupted run kept" in stdout
    assert "run again" not in stdout
    assert _states(out)[job.job_id] == ("done", 2)
    assert not list(out.glob("*.pdf")) and set(out.glob(".*")) == {out / LOCK_NAME}


def test_a_result_another_process_publishes_meanwhile_is_kept_not_replaced(tiny_card, tmp_path, monkeypatch):
    """A finished result is never replaced: a task that finds one published while it computed
    (by a writer that did not hold the job's lock) discards its own copy."""
    from lunglens.batch import task
    from lunglens.batch.jobs import plan_jobs

    source = write_archive(tmp_path / "src", 1, bad=False)
    theirs = _one_result(source, tmp_path / "computed", tiny_card)
    out = tmp_path / "out"
    out.mkdir()
    (job,) = plan_jobs(source).jobs
    sha256 = load_model(tiny_card, provider="cpu").card.sha256
    analyse_series = task.load_and_analyse

    def published_meanwhile(*args, **kwargs):
        os.link(theirs, out / theirs.name)
        return analyse_series(*args, **kwargs)

    monkeypatch.setattr(task, "load_and_analyse", published_meanwhile)
    answer = task.run_job(job, JobSettings(str(tiny_card), sha256, "cpu", HU_BANDS, str(out)))
    assert answer["status"] == "done" and answer["result"] == theirs.name
    assert (out / theirs.name).stat().st_ino == theirs.stat().st_ino
    assert sorted(p.name for p in out.iterdir()) == [theirs.name]  # no temporary, no lock left


def test_a_job_serialises_its_analysis_once_for_the_result_and_the_worklist(tiny_card, tmp_path, monkeypatch):
    from lunglens.batch import task
    from lunglens.batch.jobs import plan_jobs
    from lunglens.batch.worklist import summarise

    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    out.mkdir()
    (job,) = plan_jobs(source).jobs
    sha256 = load_model(tiny_card, provider="cpu").card.sha256
    calls = []
    to_dict = Analysis.to_dict

    def counted(self, *args, **kwargs):
        calls.append(args or kwargs)
        return to_dict(self, *args, **kwargs)

    monkeypatch.setattr(Analysis, "to_dict", counted)
    answer = task.run_job(job, JobSettings(str(tiny_card), sha256, "cpu", HU_BANDS, str(out)))
    assert answer["status"] == "done" and len(calls) == 1
    assert answer["summary"] == summarise(json.loads((out / answer["result"]).read_text()))


def test_a_job_lock_that_cannot_be_opened_counts_as_held_and_fails_its_job_by_name(tmp_path, monkeypatch):
    """A lock file another user's worker left and this user cannot open: the batch leaves its
    temporaries (it cannot tell whether a task holds it) and the job's task fails naming the file,
    never a traceback."""
    import errno

    from lunglens.atomic import WriteError
    from lunglens.batch import task

    lock = tmp_path / f".J{task.JOB_LOCK_SUFFIX}"
    lock.touch()
    opened = os.open

    def refused(path, *args, **kwargs):
        if str(path) == str(lock):
            raise PermissionError(errno.EACCES, "Permission denied")
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(task.os, "open", refused)
    assert task.held_job_ids(tmp_path) == {"J"}
    refusal = r"\.J\.job-lock: cannot take the job's lock \(Permission denied\)"
    with pytest.raises(WriteError, match=refusal), task.job_lock(tmp_path, "J"):
        pass


def test_a_folder_whose_files_were_all_skipped_is_a_failed_row_until_it_forms_a_series(tiny_card, tmp_path):
    """Every file of a series cut short (a copy still arriving): the folder forms no series, yet
    the batch shows it, a failed row naming the folder and why, counted apart from the series in
    the summary and in the progress line alike. A rerun keeps the row as it is (no second row, not rewritten, --retry-failed fails it
    again); once the copy has arrived the folder is one series, analysed, and the row is gone."""
    source = write_archive(tmp_path / "src", 2, bad=False)
    files = sorted((source / "PAT001").glob("*.dcm"))
    arriving = tmp_path / "arriving"
    files[0].parent.rename(arriving)
    (source / "PAT001").mkdir()
    for path in sorted(arriving.glob("*.dcm")):
        (source / "PAT001" / path.name).write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    out = tmp_path / "out"
    config = BatchConfig(source=source, out=out, workers=1, model=tiny_card, provider="cpu", options=HU_BANDS)
    shown = []
    summary = run_batch(config, progress=lambda *a: shown.append(a[:3]))
    assert (summary.total, summary.done, summary.failed, summary.pending) == (2, 1, 1, 0)
    assert (
        summary.lines()[0] == "batch: 1 series: 1 done, 0 failed, 0 left; 1 folder without a readable series"
    )
    assert shown == [(1, 0, 0)]  # the progress line counted the folder as a failed series
    skipped_line = (
        f"skipped: {len(files)} entries in 1 folder when SOURCE was read; 1 of the folders forms no series"
    )
    assert any(skipped_line in line for line in summary.lines())
    with Manifest(out) as manifest:
        (row,) = [r for r in manifest.records() if r.state == "failed"]
    assert row.job_id.startswith("skipped_src-PAT001_") and row.folder == str(source / "PAT001")
    assert row.error.startswith(
        f"cannot be analysed: {source / 'PAT001'}: no series: {len(files)} entries skipped"
    )
    assert f"{len(files)} entries skipped (file cut short: " in row.error
    with open(out / WORKLIST_NAME, newline="", encoding="utf-8") as fh:
        assert [r["status"] for r in csv.DictReader(fh) if r["job_id"] == row.job_id] == ["failed"]

    for again in (config, replace(config, retry_failed=True)):
        rerun = run_batch(again, progress=lambda *a: None)
        assert (rerun.total, rerun.done, rerun.failed, rerun.ran) == (2, 1, 1, 0)
        with Manifest(out) as manifest:
            kept = manifest.get(row.job_id)
        assert kept.error == row.error and (kept.state, kept.source_signature) == (
            "failed",
            row.source_signature,
        )
    assert run_batch(config, progress=lambda *a: None).total == 2
    with Manifest(out) as manifest:
        assert manifest.get(row.job_id).finished_at == kept.finished_at  # not rewritten

    for path in sorted(arriving.glob("*.dcm")):  # the copy has arrived
        (source / "PAT001" / path.name).write_bytes(path.read_bytes())
    arrived = run_batch(config, progress=lambda *a: None)
    assert (arrived.total, arrived.done, arrived.failed, arrived.ran) == (2, 2, 0, 1) and not arrived.skipped
    with Manifest(out) as manifest:
        assert all(not r.job_id.startswith("skipped_") for r in manifest.records())


def test_a_server_found_unavailable_stops_the_batch_leaving_the_rest_pending_for_a_plain_rerun(
    tiny_card, tmp_path, monkeypatch, capsys
):
    """A batch whose PACS went away after planning did not do its work: once a job finds the
    server unavailable no job is started any more; the jobs not run stay pending (not failed),
    the summary says so, exit 2 (as a server unreachable before planning). A plain rerun, the
    server back, tries the failed job again and runs those left, not the finished one."""
    from functools import partial

    import lunglens.cli.batch

    source = write_archive(tmp_path / "src", 4, bad=False)
    out = tmp_path / "out"
    monkeypatch.setattr(lunglens.cli.batch, "run_batch", partial(run_batch, task=server_gone_after_one))
    argv = ["batch", str(source), "--out", str(out), "--workers", "1", "--model", str(tiny_card),
            "--lesion-method", "hu_bands"]  # fmt: skip
    assert cli_main(argv) == 2
    printed = capsys.readouterr().out
    assert "4 series: 1 done, 1 failed, 2 left" in printed
    assert "1 of the failed series failed because the server was unavailable" in printed
    assert (
        "the server was unavailable, so the batch stopped: 2 series were not analysed and are left" in printed
    )
    states = _states(out)
    assert sorted(states.values()) == [("done", 1), ("failed", 1), ("pending", 0), ("pending", 0)]
    (done,) = [job_id for job_id, (state, _) in states.items() if state == "done"]
    written = (out / result_name(done)).stat().st_mtime_ns
    with open(out / WORKLIST_NAME, newline="", encoding="utf-8") as fh:
        assert sorted(r["status"] for r in csv.DictReader(fh)) == ["done", "failed", "pending", "pending"]

    (tmp_path / "server-gone").unlink()  # the server is back
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 series: 4 done, 0 failed, 0 left" in printed
    assert "this run: 3 finished" in printed and "1 done earlier, skipped" in printed
    assert (out / result_name(done)).stat().st_mtime_ns == written  # not computed again


def test_once_the_server_is_unavailable_a_job_no_worker_runs_is_withdrawn_not_one_running():
    """`_withdraw_unstarted` cancels the futures no worker runs (one handed to a busy worker
    waits there, and would then find the server gone); the one running finishes; both answer
    (the batch does not wait for ever)."""
    from distributed import Client, LocalCluster, as_completed

    from lunglens.batch.runner import _running_keys, _withdraw_unstarted

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        running = client.submit(time.sleep, 2, key="running")
        waiting = client.submit(time.sleep, 0, key="waiting")
        deadline = time.monotonic() + 30
        while list(client.run(_running_keys).values()) != [["running"]]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _withdraw_unstarted(client, {running: "job A", waiting: "job B"}) == {waiting}
        assert {future.key: future.status for future in as_completed([running, waiting])} == {
            "running": "finished",
            "waiting": "cancelled",
        }
