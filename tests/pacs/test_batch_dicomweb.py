"""`lunglens batch --dicomweb URL`: the CT series of the studies a DICOMweb query finds on a real
Orthanc (tests/pacs/conftest.py) become jobs with the ids a folder batch gives the same series;
each worker retrieves its series into the output folder for the time of its job; the results
equal the analysis of the same files read from a folder; series of other modalities are not
planned, a series too short to analyse is listed with its reason, bad data fails with its reason;
a server that refuses, is not there or holds nothing is named (exit 2), and one that goes away
under a job fails that job, not the batch."""

from __future__ import annotations

import csv
import itertools
import json

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from lunglens.analysis import Analysis, AnalysisOptions, load_and_analyse
from lunglens.batch import jobs as jobs_module
from lunglens.batch.jobs import DicomwebQuery, plan_dicomweb_jobs, plan_jobs
from lunglens.batch.manifest import Manifest
from lunglens.batch.runner import SERVER_GONE_NOTE, BatchConfig, BatchError, run_batch
from lunglens.batch.task import RETRIEVING_FOLDER, SERVER_UNAVAILABLE, JobSettings, run_job
from lunglens.batch.worklist import WORKLIST_NAME
from lunglens.cli import main as cli_main
from lunglens.inference import load_model
from lunglens.io import discover
from lunglens.pacs import (
    Connection,
    Listing,
    PartialTransfer,
    Retrieved,
    SeriesSummary,
    StudySummary,
    find_studies,
    retrieve_study,
)
from lunglens.pacs import find as find_module
from lunglens.pacs import retrieve as retrieve_module
from tests.batch.conftest import write_archive
from tests.pacs.conftest import USER, start_orthanc
from tests.tiny_model import write_tiny_model

HU_BANDS = AnalysisOptions(lesion_method="hu_bands")
PATIENTS = ["PAT000", "PAT001", "PAT002"]


def _copy_as_new_series(paths, folder, series_uid=None, **changes) -> list:
    """Copies of `paths` as another series of the same study (new instance UIDs; a new series UID
    unless given)."""
    folder.mkdir(parents=True)
    series_uid, out = series_uid or generate_uid(), []
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.SeriesInstanceUID = series_uid
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        for keyword, value in changes.items():
            setattr(dataset, keyword, value)
        out.append(folder / path.name)
        dataset.save_as(out[-1])
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Three phantom patients, the series without Hounsfield units and an MR study, as files."""
    return write_archive(tmp_path_factory.mktemp("pacs-archive"), len(PATIENTS))


@pytest.fixture(scope="module")
def on_server(orthanc, archive, tmp_path_factory):
    """The archive on Orthanc, plus three series in PAT001's study: a two-image CT scout (too
    short), a one-image secondary capture (another modality) and a CT series whose UID holds two
    passes over the same positions (two series once retrieved)."""
    extra = tmp_path_factory.mktemp("pacs-extra")
    pat001 = sorted((archive / "PAT001").glob("*.dcm"))
    scout = _copy_as_new_series(pat001[:2], extra / "scout", SeriesNumber=90, SeriesDescription="scout")
    capture = _copy_as_new_series(pat001[:1], extra / "capture", SeriesNumber=91, Modality="OT")
    shared_uid = generate_uid()
    passes = [
        _copy_as_new_series(
            pat001, extra / f"pass{n}", shared_uid, SeriesNumber=92, SeriesDescription="two passes"
        )
        for n in (1, 2)
    ]
    orthanc.upload(sorted(p for p in archive.rglob("*.dcm")) + scout + capture + passes[0] + passes[1])
    return orthanc


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def _comparable(analysis: Analysis) -> dict:
    """The analysis as JSON without what differs between two runs (times) and the folder."""
    data = json.loads(analysis.to_json())
    for key in ("timings_s", "created"):
        data.pop(key)
    data["series"].pop("folder")
    return data


def _query(server, **filters) -> DicomwebQuery:
    return DicomwebQuery(Connection(url=server.dicomweb_url, user=USER), **filters)


def _batch(server, out, card, *extra) -> list[str]:
    return ["batch", "--dicomweb", server.dicomweb_url, "--dicomweb-user", USER, "--out", str(out),
            "--model", str(card), "--provider", "cpu", "--lesion-method", "hu_bands", *extra]  # fmt: skip


def test_plan_has_the_folder_batch_ids_and_leaves_other_modalities_out(on_server, dicomweb_env, archive):
    plan = plan_dicomweb_jobs(_query(on_server))
    from_folder = {job.series_key: job.job_id for job in plan_jobs(archive).jobs}
    assert len(plan.jobs) == len(PATIENTS) + 3  # and BADTRUNC, the scout, the two passes; not the MR study
    same = [job for job in plan.jobs if job.series_key in from_folder]
    assert len(same) == len(PATIENTS) + 1 and all(job.job_id == from_folder[job.series_key] for job in same)
    for job in plan.jobs:
        assert job.folder.startswith(f"{on_server.dicomweb_url}/studies/") and job.ref is None
    assert plan.studies == len(PATIENTS) + 1 and plan.skipped_series == 1  # the secondary capture
    one = plan_dicomweb_jobs(_query(on_server, patient="PAT002"))
    assert [job.patient for job in one.jobs] == ["PAT002"]


def test_plan_takes_each_series_once_and_skips_those_it_cannot_retrieve(monkeypatch):
    study = StudySummary("1.2.3", "P1", "", "20200101", "", ("CT",), None, None)
    twice = StudySummary("1.2.4", "P1", "", "20200102", "", ("CT",), None, None)
    series = [
        SeriesSummary("1.2.3", "1.2.3.1", "CT", 1, "chest", 100),
        SeriesSummary("1.2.3", "", "CT", 2, "no UID", 100),  # cannot be retrieved
        SeriesSummary("1.2.3", "1.2.3.3", "", 3, "no modality", 100),  # its worker decides
        SeriesSummary("1.2.3", "1.2.3.4", "SR", 4, "results", 1),
    ]
    monkeypatch.setattr(jobs_module, "find_studies", lambda *a, **k: Listing([study, twice], "may be more"))
    monkeypatch.setattr(
        jobs_module, "find_series", lambda _c, uid: Listing(series if uid == "1.2.3" else series[:1])
    )
    plan = plan_dicomweb_jobs(DicomwebQuery(Connection(url="http://pacs.example/dicom-web/")))
    assert sorted(job.description for job in plan.jobs) == ["chest", "no modality"]
    assert {job.source_signature for job in plan.jobs} == {"instances:100"}  # instances arriving later: again
    assert plan.skipped_series == 2 and plan.studies == 2
    assert plan.caveats == ("may be more",)
    assert all(job.folder.startswith("http://pacs.example/dicom-web/studies/1.2.3/") for job in plan.jobs)


def test_studies_are_listed_page_by_page_from_a_server_that_caps_its_answers():
    studies = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{i}"]}} for i in range(5)]
    asked = []
    capped = lambda offset: asked.append(offset) or studies[offset : offset + 2]  # noqa: E731
    assert find_module.every_result(capped, "0020000D") == (studies, False)
    assert asked == [0, 2, 4, 5]


def test_a_server_that_ignores_the_offset_is_not_asked_forever():
    page = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{i}"]}} for i in range(3)]
    asked = []
    assert find_module.every_result(lambda offset: asked.append(offset) or page, "0020000D") == (page, True)
    assert asked == [0, 3]


def test_orthanc_lists_every_study_once(on_server, dicomweb_env, archive):
    studies = find_studies(Connection(url=on_server.dicomweb_url, user=USER))
    assert len(studies) == len({s.study_uid for s in studies}) == len(PATIENTS) + 2  # BADTRUNC, MR
    assert (
        len(find_studies(Connection(url=on_server.dicomweb_url, user=USER), modality="CT"))
        == len(PATIENTS) + 1
    )


class _PagesWithoutModality:
    """The DICOMweb client of a server holding five studies (three CT, two MR) that answers two
    at a time and pages by offset, except for a search by ModalitiesInStudy, whose offset it
    ignores (as Orthanc does)."""

    STUDIES = [
        {"0020000D": {"vr": "UI", "Value": [f"1.2.{i}"]}, "00080061": {"vr": "CS", "Value": [modality]}}
        for i, modality in enumerate(["CT", "MR", "CT", "MR", "CT"])
    ]

    def search_for_studies(self, fields=None, search_filters=None, offset=0):
        start = 0 if "ModalitiesInStudy" in (search_filters or {}) else offset
        return self.STUDIES[start : start + 2]


def test_a_server_that_pages_only_without_a_modality_lists_every_study_of_one(monkeypatch):
    monkeypatch.setattr(Connection, "client", lambda self: _PagesWithoutModality())
    connection = Connection(url="http://pacs.example/dicom-web")
    ct = find_studies(connection, modality="CT")
    assert [study.study_uid for study in ct] == ["1.2.0", "1.2.2", "1.2.4"] and not ct.caveat
    assert [study.study_uid for study in find_studies(connection, modality="M?")] == ["1.2.1", "1.2.3"]
    assert len(find_studies(connection)) == 5


def test_batch_over_dicomweb_equals_the_folder_analysis_and_reruns_nothing(
    on_server, dicomweb_env, archive, card, tmp_path, capsys
):
    out = tmp_path / "out"
    assert cli_main([*_batch(on_server, out, card), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "3 done" in printed and "3 failed" in printed, printed
    text = (out / WORKLIST_NAME).read_text(encoding="utf-8")
    rows = {row["patient"] + row["series_description"]: row for row in csv.DictReader(text.splitlines())}
    assert len(rows) == 6 and not (out / RETRIEVING_FOLDER).exists()
    assert "only 2 slice(s)" in rows["PAT001scout"]["error"]
    assert "its instances form 2 series, not one" in rows["PAT001two passes"]["error"]
    bad = next(row for key, row in rows.items() if key.startswith("BADTRUNC"))
    assert bad["status"] == "failed" and "RescaleSlope" in bad["error"]

    model = load_model(card, provider="cpu")
    for patient in PATIENTS:
        row = next(r for key, r in rows.items() if key.startswith(patient) and r["status"] == "done")
        saved = Analysis.from_json((out / row["result"]).read_text())
        (ref,) = discover(archive / patient).series
        _, local = load_and_analyse(ref, model, HU_BANDS)
        assert saved.series.key == ref.key and saved.series.folder == row["folder"]
        assert row["folder"].endswith(f"/series/{ref.key}")
        assert _comparable(saved) == _comparable(local)

    (out / RETRIEVING_FOLDER / "left-by-a-killed-worker").mkdir(parents=True)
    with Manifest(out) as manifest:
        finished_at = {r.job_id: r.finished_at for r in manifest.records()}
    assert cli_main(_batch(on_server, out, card, "--workers", "1")) == 0
    assert "this run: 0 finished" in capsys.readouterr().out
    with Manifest(out) as manifest:
        assert {r.job_id: r.finished_at for r in manifest.records()} == finished_at  # nothing twice
    assert not (out / RETRIEVING_FOLDER).exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--patient", "NOBODY"], "(patient NOBODY, modality CT): no study matches"),
        (["--dicomweb-user", "intruder"], "authentication failed (HTTP 401)"),
    ],
)
def test_a_query_that_finds_nothing_or_is_refused_exits_2(
    on_server, dicomweb_env, card, tmp_path, capsys, extra, message
):
    assert cli_main([*_batch(on_server, tmp_path / "out", card), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and on_server.password not in err


def test_source_and_dicomweb_together_or_neither_exit_2(
    on_server, dicomweb_env, archive, card, tmp_path, capsys
):
    assert cli_main([*_batch(on_server, tmp_path / "a", card), str(archive)]) == 2
    assert "one of them" in capsys.readouterr().err
    assert (
        cli_main(["batch", "--out", str(tmp_path / "b"), "--patient", "PAT000", "--dicomweb-user", "x"]) == 2
    )
    assert (
        "--patient, --dicomweb-user: options of a DICOMweb query; give --dicomweb URL"
        in capsys.readouterr().err
    )
    url = f"{on_server.dicomweb_url}?access_token=SECRET"
    assert cli_main(["batch", "--dicomweb", url, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "holds a query or a fragment" in err and "SECRET" not in err


def test_unreachable_server_is_named(card, tmp_path, capsys):
    from tests.pacs.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert cli_main(["batch", "--dicomweb", url, "--out", str(tmp_path / "out"), "--model", str(card)]) == 2
    assert f"{url}: host unreachable" in capsys.readouterr().err


def test_a_server_gone_under_a_job_fails_the_job_with_its_reason(
    isolated_orthanc, archive, card, tmp_path, monkeypatch
):
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    isolated_orthanc.upload(sorted((archive / "PAT000").glob("*.dcm")))
    (job,) = plan_dicomweb_jobs(_query(isolated_orthanc)).jobs
    isolated_orthanc.stop()
    out = tmp_path / "out"
    out.mkdir()
    settings = JobSettings(str(card), load_model(card, provider="cpu").card.sha256, "cpu", HU_BANDS, str(out))
    answer = run_job(job, settings)
    assert answer["status"] == "failed"
    assert answer["error"].startswith(
        f"{SERVER_UNAVAILABLE}{isolated_orthanc.dicomweb_url}: host unreachable"
    )
    assert not any((out / RETRIEVING_FOLDER).iterdir())
    assert not list(out.glob("*.json"))


def _plain_rerun_with_the_server_back(orthanc, argv, n_series, done_result, monkeypatch, capsys):
    """Orthanc started again (its storage, port and password), a plain rerun of the batch `argv`
    of `n_series` series, one of which finished earlier (`done_result`, its JSON): it runs the
    rest, exit 0, and leaves the finished one as it was (not computed again)."""
    import lunglens.cli.batch

    written = done_result.stat().st_mtime_ns
    orthanc.restart()
    monkeypatch.setattr(lunglens.cli.batch, "run_batch", run_batch)
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{n_series} series: {n_series} done, 0 failed, 0 left" in printed
    assert f"this run: {n_series - 1} finished" in printed and "1 done earlier, skipped" in printed
    assert done_result.stat().st_mtime_ns == written  # not computed again


def test_a_server_gone_mid_batch_stops_it_leaving_the_rest_pending_for_a_plain_rerun(
    isolated_orthanc, archive, card, tmp_path, monkeypatch, capsys
):
    """Orthanc stopped once the first job has answered: the next job finds it unreachable, the
    batch starts no other (the rest stay pending, not failed) and exits 2 saying so; once Orthanc
    is back (its storage, port and password) a plain rerun analyses the rest, not the finished one."""
    from functools import partial

    import lunglens.cli.batch
    from tests.batch.crashing import wait_after_first_job

    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    isolated_orthanc.upload(sorted(path for p in PATIENTS for path in (archive / p).glob("*.dcm")))
    out = tmp_path / "out"

    def stop_after_the_first(done, failed, *_):
        if done + failed == 1:  # the second job waits for `go` (wait_after_first_job)
            isolated_orthanc.stop()
            (tmp_path / "go").touch()

    run = partial(run_batch, task=wait_after_first_job, progress=stop_after_the_first)
    monkeypatch.setattr(lunglens.cli.batch, "run_batch", run)
    argv = _batch(isolated_orthanc, out, card, "--workers", "1")
    assert cli_main(argv) == 2
    printed = capsys.readouterr().out
    assert "3 series: 1 done, 1 failed, 1 left" in printed
    assert (
        "the server was unavailable, so the batch stopped: 1 series was not analysed and is left" in printed
    )
    with Manifest(out) as manifest:
        done, failed, pending = sorted(manifest.records(), key=lambda r: r.state)
    assert (done.state, failed.state, pending.state, pending.attempts) == ("done", "failed", "pending", 0)
    assert failed.error.startswith(f"{SERVER_UNAVAILABLE}{isolated_orthanc.dicomweb_url}: host unreachable")

    _plain_rerun_with_the_server_back(isolated_orthanc, argv, 3, out / done.result, monkeypatch, capsys)


def test_a_job_waiting_when_the_server_is_found_gone_is_withdrawn_pending_for_a_plain_rerun(
    isolated_orthanc, archive, card, tmp_path, monkeypatch, capsys
):
    """Four series and one worker that is handed up to three jobs at a time (`_running_workers`
    made to say 3), so that jobs wait for it: the first is done; Orthanc is then stopped; the
    second fails, the server unavailable; the third holds the worker until the batch has found the
    server gone; the job submitted behind it, waiting, is withdrawn: pending, its attempt not
    counted. Once Orthanc is back a plain rerun runs the rest, not the finished one."""
    from functools import partial

    import lunglens.cli.batch
    from lunglens.batch import runner
    from tests.batch.crashing import hold_after_the_first

    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    pat000 = sorted((archive / "PAT000").glob("*.dcm"))
    others = [path for p in PATIENTS[1:] for path in sorted((archive / p).glob("*.dcm"))]
    isolated_orthanc.upload(pat000 + others + _copy_as_new_series(pat000, tmp_path / "copy"))
    out = tmp_path / "out"
    monkeypatch.setattr(runner, "_running_workers", lambda dask_scheduler: len(dask_scheduler.running) + 2)
    said = []

    def stop_after_the_first(done, failed, remaining, ran, seconds, last, final):
        said.append(last)
        if done + failed == 1 and not (tmp_path / "go").exists():
            isolated_orthanc.stop()
            (tmp_path / "go").touch()
        if "no job is started any more" in last:
            (tmp_path / "release").touch()

    run = partial(run_batch, task=hold_after_the_first, progress=stop_after_the_first)
    monkeypatch.setattr(lunglens.cli.batch, "run_batch", run)
    argv = _batch(isolated_orthanc, out, card, "--workers", "1")
    assert cli_main(argv) == 2
    printed = capsys.readouterr().out
    with Manifest(out) as manifest:
        records = manifest.records()
    withdrawn = [r for r in records if r.error == SERVER_GONE_NOTE]
    assert withdrawn, records
    assert all((r.state, r.attempts) == ("pending", 0) for r in withdrawn)
    (done,) = [r for r in records if r.state == "done"]
    failed = [r for r in records if r.state == "failed"]
    assert failed and all(r.error.startswith(SERVER_UNAVAILABLE) for r in failed)
    assert len(failed) + len(withdrawn) == 3
    assert f"4 series: 1 done, {len(failed)} failed, {len(withdrawn)} left" in printed
    assert any(f"{len(withdrawn)} left for a rerun)" in last for last in said), said

    _plain_rerun_with_the_server_back(isolated_orthanc, argv, 4, out / done.result, monkeypatch, capsys)


def test_a_job_that_met_a_server_failure_of_its_own_stops_no_batch_while_the_server_answers(
    isolated_orthanc, archive, card, tmp_path, monkeypatch, capsys
):
    """A job failed as if its server were unavailable (a server error on its study) while the
    server answers a search: the batch goes on with the other jobs; the failed one is tried again
    by a plain rerun (exit 2 says so)."""
    from functools import partial

    import lunglens.cli.batch
    from tests.batch.crashing import first_job_meets_a_server_failure

    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    isolated_orthanc.upload(sorted(path for p in PATIENTS for path in (archive / p).glob("*.dcm")))
    out = tmp_path / "out"
    run = partial(run_batch, task=first_job_meets_a_server_failure)
    monkeypatch.setattr(lunglens.cli.batch, "run_batch", run)
    assert cli_main(_batch(isolated_orthanc, out, card, "--workers", "1")) == 2
    printed = capsys.readouterr().out
    assert "3 series: 2 done, 1 failed, 0 left" in printed
    assert "the batch stopped" not in printed
    with Manifest(out) as manifest:
        assert sorted(r.state for r in manifest.records()) == ["done", "done", "failed"]


@pytest.mark.parametrize(
    ("status", "answers"), [(200, True), (400, True), (403, True), (429, False), (503, False)]
)
def test_the_server_gone_check_asks_for_the_failed_jobs_study_and_only_transient_failures_count(
    status, answers, monkeypatch
):
    """The check was an unfiltered study search, and any failure counted as "gone": a PACS that
    refuses searches without a filter (HTTP 400) stopped the batch on one job's failure. It now
    lists the series of the failed job's study; a refusal (4xx) is an answer."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from lunglens.batch.jobs import Job, RemoteSeries
    from lunglens.batch.runner import _server_answers
    from lunglens.pacs import SeriesAddress
    from tests.pacs.conftest import free_port

    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
    asked = []

    class Answer(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass

        def do_GET(self):
            asked.append(self.path)
            body = b"[]"
            self.send_response(status)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def job(url: str) -> Job:
        address = SeriesAddress(url, "1.2.3.4", "1.2.3.4.5")
        return Job("j1", "P", "", 1, "", remote=RemoteSeries(Connection(url=url, read_timeout_s=5), address))

    try:
        assert _server_answers(job(f"http://127.0.0.1:{server.server_port}/dicom-web")) is answers
    finally:
        server.shutdown()
        server.server_close()
    assert [path.split("?")[0] for path in asked] == ["/dicom-web/studies/1.2.3.4/series"]
    assert _server_answers(job(f"http://127.0.0.1:{free_port()}/dicom-web")) is False  # unreachable


def test_a_series_the_server_lists_in_part_is_retrieved_whole_or_not_analysed(
    archive, card, tmp_path, monkeypatch
):
    """Orthanc capping its listings lists 11 of the series' 24 instances, and no page after: the
    series' stream brings all 24. When only what was listed arrives (no stream), the job is a
    partial transfer (the server counts 24), never an analysis of part of the series."""
    server = start_orthanc(tmp_path / "capped", LimitFindInstances=10)
    try:
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
        server.upload(sorted((archive / "PAT000").glob("*.dcm")))
        (job,) = plan_dicomweb_jobs(_query(server)).jobs
        answers = {}
        for streamed in (True, False):
            if not streamed:
                monkeypatch.setattr(retrieve_module._Transfer, "stream_series", lambda self, uid: None)
            out = tmp_path / f"out-{streamed}"
            out.mkdir()
            settings = JobSettings(
                str(card), load_model(card, provider="cpu").card.sha256, "cpu", HU_BANDS, str(out)
            )
            answers[streamed] = run_job(job, settings), out
    finally:
        server.stop()
    (whole, out) = answers[True]
    assert whole["status"] == "done", whole
    assert Analysis.from_dict(json.loads((out / whole["result"]).read_text())).series.n_slices == 24
    (part, out) = answers[False]
    assert part["status"] == "failed", part
    assert "partial transfer" in part["error"] and "instances missing" in part["error"]
    assert not list(out.glob("*.json")) and not any((out / RETRIEVING_FOLDER).iterdir())


def test_a_study_the_server_lists_in_part_is_retrieved_whole_or_named_partial(archive, tmp_path, monkeypatch):
    """Orthanc capping its instance listing at 11 lists one series of a two-series study: both
    series are streamed whole (the series listing names them). A stream cut after 5 instances is
    a partial transfer, though the instances it did not bring were never listed."""
    server = start_orthanc(tmp_path / "capped", LimitFindInstances=10)
    try:
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
        first = sorted((archive / "PAT000").glob("*.dcm"))
        server.upload(first + _copy_as_new_series(first, tmp_path / "second"))
        connection = Connection(url=server.dicomweb_url, user=USER)
        study_uid = pydicom.dcmread(first[0], stop_before_pixels=True).StudyInstanceUID
        whole = retrieve_study(connection, study_uid, tmp_path / "whole")
        real_iter_series = DICOMwebClient.iter_series
        monkeypatch.setattr(
            DICOMwebClient,
            "iter_series",
            lambda self, *a, **k: itertools.islice(real_iter_series(self, *a, **k), 5),
        )
        with pytest.raises(PartialTransfer) as caught:
            retrieve_study(connection, study_uid, tmp_path / "cut")
    finally:
        server.stop()
    assert len(whole.files) == whole.n_expected == 48 and len(whole.expected) == 2
    assert str(caught.value).count("of 24 instances missing") == 2


def test_workers_of_an_existing_cluster_without_the_password_stop_the_batch_before_any_job(
    on_server, card, tmp_path, monkeypatch
):
    from distributed import LocalCluster

    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", on_server.password)  # the client's, not the workers'
        config = BatchConfig(
            source=None,
            dicomweb=_query(on_server, patient="PAT000"),
            out=tmp_path / "out",
            scheduler=cluster.scheduler_address,
            model=card,
            options=HU_BANDS,
        )
        with pytest.raises(
            BatchError, match="1 of the cluster's workers cannot sign in: .*PASSWORD is not set"
        ):
            run_batch(config, progress=lambda *a: None)
    with Manifest(tmp_path / "out") as manifest:
        assert {r.state for r in manifest.records()} == {"pending"}  # no job ran, none failed


def test_a_series_with_an_invalid_instance_uid_fails_its_job_and_writes_nothing_outside(
    isolated_orthanc, archive, card, tmp_path, monkeypatch
):
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    paths = _copy_as_new_series(sorted((archive / "PAT000").glob("*.dcm")), tmp_path / "upload")
    dataset = pydicom.dcmread(paths[3])
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = "../../../../victim"
    dataset.save_as(paths[3])
    isolated_orthanc.upload(paths)
    (job,) = plan_dicomweb_jobs(_query(isolated_orthanc)).jobs
    out = tmp_path / "out"
    out.mkdir()
    settings = JobSettings(str(card), load_model(card, provider="cpu").card.sha256, "cpu", HU_BANDS, str(out))
    answer = run_job(job, settings)
    assert answer["status"] == "failed", answer
    assert "instance with an invalid SOP Instance UID '../../../../victim' not saved" in answer["error"]
    assert not list(out.glob("*.json")) and not any((out / RETRIEVING_FOLDER).iterdir())
    assert not list(tmp_path.rglob("victim*"))


def test_a_job_over_a_uid_holding_an_instance_of_another_modality_analyses_its_ct_part(tmp_path, monkeypatch):
    """Discovery splits an MR-tagged instance off a CT series' UID; the job takes the CT part, as
    a batch over a folder does, instead of refusing the UID as shared by several passes."""
    import numpy as np

    from lunglens.batch import task
    from lunglens.batch.jobs import Job, RemoteSeries
    from lunglens.pacs import SeriesAddress
    from tests.factory import write_series

    volume = np.full((5, 16, 16), 1024, np.uint16)
    volume[:, 4:12, 4:12] = 200
    paths = write_series(tmp_path / "src", volume, np.arange(5) * -2.0)
    mr = pydicom.dcmread(paths[0])
    mr.Modality = "MR"
    mr.save_as(paths[0])

    def retrieve(connection, study_uid, folder, series=None):
        for path in paths:
            (folder / path.name).write_bytes(path.read_bytes())
        return Retrieved(folder, {}, url="http://pacs/dicom-web", study_uid=study_uid)

    monkeypatch.setattr(task, "retrieve_study", retrieve)
    address = SeriesAddress("http://pacs/dicom-web", mr.StudyInstanceUID, mr.SeriesInstanceUID)
    job = Job("j", "p", "", 1, "d", remote=RemoteSeries(connection=None, address=address))
    with task.job_series(job, tmp_path / "out") as ref:
        assert ref.modality == "CT" and ref.n_slices == 4 and ref.key == mr.SeriesInstanceUID
