"""`lunglens batch --dicomweb URL`: the CT series of the studies a DICOMweb query finds on a real
Orthanc (tests/pacs/conftest.py) become jobs with the ids a folder batch gives the same series;
each worker retrieves its series into the output folder for the time of its job; the results
equal the analysis of the same files read from a folder; series of other modalities are not
planned, a series too short to analyse is listed with its reason, bad data fails with its reason;
a server that refuses, is not there or holds nothing is named (exit 2), and one that goes away
under a job fails that job, not the batch."""

from __future__ import annotations

import csv
import json

import pydicom
import pytest
from pydicom.uid import generate_uid

from lunglens.analysis import Analysis, AnalysisOptions, load_and_analyse
from lunglens.batch.jobs import DicomwebQuery, plan_dicomweb_jobs, plan_jobs
from lunglens.batch.manifest import Manifest
from lunglens.batch.task import RETRIEVING_FOLDER, JobSettings, run_job
from lunglens.batch.worklist import WORKLIST_NAME
from lunglens.cli import main as cli_main
from lunglens.inference import load_model
from lunglens.io import discover
from lunglens.pacs import Connection
from tests.batch.conftest import write_archive
from tests.pacs.conftest import USER
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
    by_description = {job.description: job for job in plan.jobs}
    assert len(plan.jobs) == len(PATIENTS) + 3  # and BADTRUNC, the scout, the two passes; not the MR study
    for job in plan.jobs:
        if job.series_key in from_folder:
            assert job.job_id == from_folder[job.series_key]
        assert job.folder.startswith(f"{on_server.dicomweb_url}/studies/") and job.ref is None
    assert plan.skipped_series == 1  # the secondary capture
    assert "only 2 instance(s)" in by_description["scout"].problems[0]
    one = plan_dicomweb_jobs(_query(on_server, patient="PAT002"))
    assert [job.patient for job in one.jobs] == ["PAT002"]


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
    assert "only 2 instance(s)" in rows["PAT001scout"]["error"]
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
        (["--patient", "NOBODY"], "no CT series found"),
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
    assert cli_main(["batch", "--out", str(tmp_path / "b"), "--patient", "PAT000"]) == 2
    assert "give --dicomweb URL" in capsys.readouterr().err


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
    assert f"{isolated_orthanc.dicomweb_url}: host unreachable" in answer["error"]
    assert not (out / RETRIEVING_FOLDER / job.job_id).exists()
    assert not list(out.glob("*.json"))
