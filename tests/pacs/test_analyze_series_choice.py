"""`lunglens analyze --dicomweb` against a real Orthanc (tests/pacs/conftest.py): only the CT
series is retrieved (never LungLens' earlier results), `--series` is a Series Instance UID or
the Nth CT series, `lunglens pacs series` lists a study's series; a second `--store` is refused
unless `--store-again`; a source date the results cannot copy is refused before the analysis,
naming the series on the server; a skipped instance is named by its UID, not a temporary file."""

from __future__ import annotations

import re

import pydicom
import pytest
import requests

from lunglens.cli import main as cli_main
from tests.batch.conftest import write_archive
from tests.pacs.conftest import USER, start_orthanc
from tests.tiny_model import write_tiny_model


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """An Orthanc for the module that reads every instance from its storage (no cache: a stored
    file cut short is served so)."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"), MaximumStorageCacheSize=0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def studies(orthanc, tmp_path_factory):
    """{patient id: (study UID, series UID, instances)} of three phantom patients on Orthanc;
    PAT002's files state StudyDate 20201301 (no date)."""
    root = write_archive(tmp_path_factory.mktemp("archive"), 3, bad=False)
    found = {}
    for patient in ("PAT000", "PAT001", "PAT002"):
        paths = sorted((root / patient).glob("*.dcm"))
        if patient == "PAT002":
            for path in paths:
                ds = pydicom.dcmread(path)
                ds.StudyDate = "20201301"
                ds.save_as(path)
        orthanc.upload(paths)
        header = pydicom.dcmread(paths[0], stop_before_pixels=True)
        found[patient] = (header.StudyInstanceUID, header.SeriesInstanceUID, len(paths))
    return found


@pytest.fixture
def analyze(orthanc, dicomweb_env, tmp_path, capsys):
    """Run `lunglens analyze --dicomweb` on a study; returns (exit status, stdout, stderr)."""
    model = write_tiny_model(tmp_path / "model")

    def run(study, *options):
        argv = ["analyze", "--dicomweb", orthanc.dicomweb_url, "--study", study, "--dicomweb-user", USER]
        status = cli_main([*argv, "--model", str(model), "--lesion-method", "hu_bands", *options])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def _series_on_server(orthanc, study) -> list[dict]:
    return requests.get(
        f"{orthanc.dicomweb_url}/studies/{study}/series", auth=orthanc.auth, timeout=30
    ).json()


def test_results_are_not_stored_twice_unless_asked_and_only_the_ct_series_is_retrieved(
    orthanc, studies, analyze, capsys
):
    study, series_uid, n = studies["PAT000"]
    status, out, err = analyze(study, "--store")
    assert status == 0, err
    assert f"pacs:     {n} of {n} instances retrieved (series {series_uid})" in out and "stored:" in out
    assert "already holds" not in out
    n_series = len(_series_on_server(orthanc, study))
    assert n_series == 5  # the CT and the SR, SEG, key images, PDF

    status, out, err = analyze(study, "--store")  # a second sending: refused before the analysis
    assert status == 2 and "verdict" not in out
    assert f"study {study} already holds LungLens results for series {series_uid}" in err
    assert "--store-again" in err and "SR #9001" in err
    assert len(_series_on_server(orthanc, study)) == n_series
    assert f"pacs:     {n} of {n} instances retrieved" in out  # the CT only, not the results

    status, out, err = analyze(study, "--no-quantify")  # said, not refused, without --store
    assert status == 0 and "note:     study" in out and "already holds LungLens results" in out

    status, out, err = analyze(study, "--store", "--store-again")
    assert status == 0, err
    assert len(_series_on_server(orthanc, study)) == n_series + 4

    # `pacs series` lists them; --series N counts the CT series only, --series takes a UID
    assert cli_main(["pacs", "series", orthanc.dicomweb_url, "--study", study, "--dicomweb-user", USER]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"\[1\]  CT  #\d+  .*\({n} instances\)  {re.escape(series_uid)}", listed)
    assert listed.count("\n") == n_series + 4 + 1 and "1 CT" in listed and "SEG  #9002" in listed
    status, out, err = analyze(study, "--series", "1", "--no-quantify")
    assert status == 0 and f"(series {series_uid})" in out
    status, out, err = analyze(study, "--series", "2", "--no-quantify")
    assert status == 2 and "holds 1 CT series, numbered 1 to 1 (lunglens pacs series" in err
    status, out, err = analyze(study, "--series", series_uid, "--no-quantify")
    assert status == 0 and f"{n} of {n} instances" in out


def test_an_invalid_study_date_is_refused_before_the_analysis_naming_the_series_on_the_server(
    orthanc, studies, analyze
):
    study, series_uid, _ = studies["PAT002"]
    status, out, err = analyze(study, "--store")
    assert status == 2 and "verdict" not in out
    address = f"{orthanc.dicomweb_url}/studies/{study}/series/{series_uid}"
    assert f"{address}: no DICOM results: StudyDate '20201301' is not a valid date (YYYYMMDD)" in err
    assert "lunglens-pacs-" not in err and "ValueError" not in err
    assert len(_series_on_server(orthanc, study)) == 1


def test_a_skipped_instance_is_named_by_its_uid_and_series_address(orthanc, studies, analyze):
    study, series_uid, _ = studies["PAT001"]
    instances = requests.get(
        f"{orthanc.dicomweb_url}/studies/{study}/instances", auth=orthanc.auth, timeout=30
    ).json()
    sop_uid = sorted(i["00080018"]["Value"][0] for i in instances)[5]
    (orthanc_id,) = requests.post(
        f"{orthanc.rest_url}/tools/lookup", data=sop_uid, auth=orthanc.auth, timeout=30
    ).json()
    uuid = requests.get(
        f"{orthanc.rest_url}/instances/{orthanc_id['ID']}/attachments/dicom/info",
        auth=orthanc.auth,
        timeout=30,
    ).json()["Uuid"]
    stored = orthanc.log.parent / "storage" / uuid[:2] / uuid[2:4] / uuid
    stored.write_bytes(stored.read_bytes()[:3000])  # the stored file cut short on the server
    status, out, err = analyze(study, "--no-quantify")
    assert status == 0, err
    (warning,) = [line for line in out.splitlines() if "skipped" in line]
    address = f"{orthanc.dicomweb_url}/studies/{study}/series/{series_uid}"
    assert f": {sop_uid}; instances of {address})" in warning
    assert "lunglens info FOLDER" not in warning and ".dcm" not in warning
