"""PACS over DICOMweb against a real Orthanc (tests/pacs/conftest.py): a real series (COVID-CT-MD
P001) is uploaded, found (QIDO-RS), retrieved (WADO-RS), analysed, its results stored (STOW-RS),
read back from Orthanc and validated; failures are named (401, not found, unreachable, timeout,
Orthanc stopped midway) and never carry the password."""

from __future__ import annotations

import importlib
import json
import re
import socket
import tempfile
import threading

import highdicom as hd
import numpy as np
import pydicom
import pytest
import requests

from lunglens.analysis import analyse
from lunglens.cli import main as cli_main
from lunglens.dicomout import build_dicom_results
from lunglens.inference import load_model
from lunglens.io import discover, load
from lunglens.pacs import (
    AuthenticationFailed,
    Connection,
    HostUnreachable,
    PacsError,
    PacsTimeout,
    PartialTransfer,
    StudyNotFound,
    find_studies,
    retrieve_study,
    store,
)
from lunglens.pacs.retrieve import RetrySchedule, is_valid_uid
from lunglens.synthetic import write_dicom_series
from tests.dicomout.validate import dciodvfy_errors
from tests.pacs.conftest import USER, free_port, start_refusing_orthanc
from tests.tiny_model import write_tiny_model

store_module = importlib.import_module(
    "lunglens.pacs.store"
)  # the module (lunglens.pacs.store is the function)


@pytest.fixture(scope="module")
def p001_files(covid_ct_md):
    return sorted((covid_ct_md / "P001").glob("*.dcm"))


@pytest.fixture(scope="module")
def p001_header(p001_files):
    return pydicom.dcmread(p001_files[0], stop_before_pixels=True)


@pytest.fixture(scope="module")
def uploaded(orthanc, p001_files):
    orthanc.upload(p001_files)
    return orthanc


def connection(server, **kwargs) -> Connection:
    return Connection(url=server.dicomweb_url, user=USER, **kwargs)


def test_find_lists_the_uploaded_study(uploaded, dicomweb_env, p001_header):
    studies = find_studies(connection(uploaded), patient=p001_header.PatientID)
    assert [s.study_uid for s in studies] == [p001_header.StudyInstanceUID]
    assert studies[0].n_instances == 148 and "CT" in studies[0].modalities
    day = p001_header.StudyDate
    assert find_studies(connection(uploaded), date=f"{day}-{day}", modality="CT")
    assert find_studies(connection(uploaded), patient="NOBODY") == []
    for pattern in ("*", p001_header.PatientID[:3] + "*", "?" + p001_header.PatientID[1:]):  # wildcards
        assert [s.study_uid for s in find_studies(connection(uploaded), patient=pattern)] == [
            p001_header.StudyInstanceUID
        ]
    assert find_studies(connection(uploaded), modality="C?") and not find_studies(
        connection(uploaded), modality="MR"
    )


def test_retrieve_brings_every_instance_with_progress(
    uploaded, dicomweb_env, p001_header, p001_files, tmp_path
):
    seen = []
    retrieved = retrieve_study(
        connection(uploaded),
        p001_header.StudyInstanceUID,
        tmp_path,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert len(retrieved.files) == retrieved.n_expected == 148
    assert seen[-1] == (148, 148) and len(seen) == 148
    source_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in p001_files}
    assert {p.stem for p in retrieved.files} == source_uids
    first = pydicom.dcmread(retrieved.files[0], stop_before_pixels=True)
    assert first.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"  # as stored, not transcoded


def test_round_trip_analyse_store_read_back_validate(uploaded, dicomweb_env, p001_header, tmp_path):
    conn = connection(uploaded)
    study = p001_header.StudyInstanceUID
    retrieve_study(conn, study, tmp_path / "in")
    (ref,) = discover(tmp_path / "in").analysable
    series = load(ref)
    analysis = analyse(series, load_model(write_tiny_model(tmp_path / "model"), provider="cpu"))
    results = build_dicom_results(analysis, series)
    stored = store(conn, [r.dataset for r in results])
    assert sorted(stored) == sorted(str(r.dataset.SOPInstanceUID) for r in results)

    back = retrieve_study(conn, study, tmp_path / "back")
    assert back.n_expected == 148 + len(results)
    ours = [p for p in back.files if p.parent.name != p001_header.SeriesInstanceUID]
    assert len(ours) == len(results)
    source_uids = set(back.expected[p001_header.SeriesInstanceUID])
    for path in ours:
        assert dciodvfy_errors(path) == [], path.name
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == study
        if ds.Modality == "SR":
            sr = hd.sr.srread(path)
            evidence = {
                item.ReferencedSOPInstanceUID
                for entry in sr.CurrentRequestedProcedureEvidenceSequence
                for s in entry.ReferencedSeriesSequence
                for item in s.ReferencedSOPSequence
            }
            assert evidence and evidence <= source_uids  # the references resolve in the PACS


def test_cli_analyses_from_dicomweb_and_stores(uploaded, dicomweb_env, p001_header, tmp_path, capsys):
    model = write_tiny_model(tmp_path / "model")
    study = p001_header.StudyInstanceUID
    argv = ["analyze", "--dicomweb", uploaded.dicomweb_url, "--study", study, "--dicomweb-user", USER]
    json_path = tmp_path / "analysis.json"
    outputs = [
        "--model",
        str(model),
        "--store",
        "--store-again",  # the round trip above stored results of this series already
        "--dicom-out",
        str(tmp_path / "out"),
        "--json",
        str(json_path),
    ]
    code = cli_main([*argv, *outputs])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"pacs: +(\d+) of \1 instances retrieved", out) and "stored:" in out
    address = f"{uploaded.dicomweb_url}/studies/{study}/series/{p001_header.SeriesInstanceUID}"
    assert json.loads(json_path.read_text())["series"]["folder"] == address  # not the temporary folder
    assert f"in {address}" in out and "lunglens-pacs-" not in out
    series = requests.get(
        f"{uploaded.dicomweb_url}/studies/{study}/series", auth=uploaded.auth, timeout=30
    ).json()
    numbers = {int(s["00200011"]["Value"][0]) for s in series if "00200011" in s}
    assert {9001, 9003, 9004} <= numbers
    written = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in (tmp_path / "out").iterdir()
    }
    instances = requests.get(
        f"{uploaded.dicomweb_url}/studies/{study}/instances", auth=uploaded.auth, timeout=30
    ).json()
    assert written <= {i["00080018"]["Value"][0] for i in instances}  # the same objects, built once


def test_cli_store_says_which_result_a_site_rule_turned_away(
    p001_files, p001_header, tmp_path, monkeypatch, capsys
):
    """Orthanc acknowledges the SEG its Lua filter refused: the store was "7 result objects
    stored", exit 0; the QIDO-RS check after it finds the SEG missing (listed again, a moment
    later, all the same), named by kind, exit 2."""
    monkeypatch.setattr(store_module, "LIST_AGAIN_S", (0.1, 0.1))
    server = start_refusing_orthanc(tmp_path / "orthanc", "SEG")
    try:
        server.upload(p001_files)
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
        monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
        study = p001_header.StudyInstanceUID
        argv = ["analyze", "--dicomweb", server.dicomweb_url, "--study", study, "--dicomweb-user", USER]
        code = cli_main([*argv, "--model", str(write_tiny_model(tmp_path / "model")), "--store"])
        out, err = capsys.readouterr()
        series = requests.get(
            f"{server.dicomweb_url}/studies/{study}/series", auth=server.auth, timeout=30
        ).json()
    finally:
        server.stop()
    assert code == 2, out + err
    assert "stored:" not in out
    modalities = sorted(s["00080060"]["Value"][0] for s in series)
    assert modalities == ["CT", "DOC", "OT", "SR"]  # the server kept no SEG
    n = int(re.search(r"while storing (\d+) instance", err).group(1))
    assert err.strip().endswith(
        f"stored {n - 1} of {n}; the server did not keep: the segmentation (SEG); look in the PACS before sending again"
    ), err
    assert "acknowledged every instance" in err and "does not list them all 0 s later" in err
    assert "a rule on the server" in err


def test_cli_pacs_find(uploaded, dicomweb_env, p001_header, capsys):
    code = cli_main(["pacs", "find", uploaded.dicomweb_url, "--dicomweb-user", USER, "--modality", "CT"])
    assert code == 0
    assert p001_header.StudyInstanceUID in capsys.readouterr().out


def test_wrong_password_is_a_named_401_without_the_password(orthanc, monkeypatch, capsys):
    wrong = "not-the-password-7f3a91"
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", wrong)
    with pytest.raises(AuthenticationFailed) as caught:
        find_studies(connection(orthanc))
    assert "401" in str(caught.value) and wrong not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained text
    code = cli_main(["pacs", "find", orthanc.dicomweb_url, "--dicomweb-user", USER])
    captured = capsys.readouterr()
    assert code == 2 and "authentication failed" in captured.err
    assert wrong not in captured.err + captured.out


def test_user_without_password_variable_is_named(orthanc, monkeypatch):
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    with pytest.raises(AuthenticationFailed, match="LUNGLENS_DICOMWEB_PASSWORD is not set"):
        find_studies(connection(orthanc))


def test_credentials_in_the_url_are_refused():
    with pytest.raises(PacsError, match="--dicomweb-user") as caught:
        Connection(url="http://someone:secret123@127.0.0.1:1/dicom-web")
    assert "secret123" not in str(caught.value)


def test_unknown_study_is_named(orthanc, dicomweb_env, tmp_path):
    with pytest.raises(StudyNotFound, match="1.2.3.4.5 not found"):
        retrieve_study(connection(orthanc), "1.2.3.4.5", tmp_path)


def test_unreachable_host_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", "x")
    conn = Connection(url=f"http://127.0.0.1:{free_port()}/dicom-web", user=USER)
    with pytest.raises(HostUnreachable, match="host unreachable"):
        find_studies(conn)


def test_a_server_that_never_answers_is_a_named_timeout(monkeypatch):
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    try:
        conn = Connection(url=f"http://127.0.0.1:{listener.getsockname()[1]}/dicom-web", read_timeout_s=1.0)
        with pytest.raises(PacsTimeout, match="timeout"):
            find_studies(conn)
    finally:
        for sock, _ in accepted:
            sock.close()
        listener.close()


def test_orthanc_stopped_midway_is_a_named_partial_transfer(
    isolated_orthanc, p001_files, monkeypatch, tmp_path
):
    isolated_orthanc.upload(p001_files)
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", isolated_orthanc.password)
    header = pydicom.dcmread(p001_files[0], stop_before_pixels=True)

    def stop_after_some(done, total):
        if done == 2:
            isolated_orthanc.stop()

    with pytest.raises(PartialTransfer) as caught:
        retrieve_study(
            connection(isolated_orthanc, read_timeout_s=5.0),
            header.StudyInstanceUID,
            tmp_path,
            progress=stop_after_some,
            workers=2,
            retry=RetrySchedule(attempts=2, first_wait_s=0.1),
        )
    message = str(caught.value)
    assert "partial transfer" in message and "of 148 instances missing" in message
    assert "host unreachable" in message
    assert isolated_orthanc.password not in message


@pytest.mark.parametrize(
    ("uid", "valid"),
    [
        ("1.2.840.10008.1.2", True),
        ("0.1", True),
        ("1.2.0.3", True),
        ("../../x", False),
        ("1.2/../3", False),
        ("1.02.3", False),
        ("1..2", False),
        ("1.2.", False),
        ("", False),
        ("1.2.3\n", False),
        ("1." * 31 + "12", True),  # 64 characters
        ("1." * 32 + "1", False),  # 65
    ],
)
def test_only_a_valid_dicom_uid_is_a_valid_uid(uid, valid):
    assert is_valid_uid(uid) is valid


@pytest.fixture
def series_with_a_traversal_uid(orthanc, tmp_path):
    """A four-image phantom series on Orthanc whose third instance's SOP Instance UID climbs out of
    any folder it would be written in; returns (study UID, that UID)."""
    paths = write_dicom_series(
        np.full((4, 32, 32), -800.0), [0.0, -5.0, -10.0, -15.0], 10.0, 5.0, tmp_path / "upload", seed=7
    )
    evil = "../../../../../escaped"
    dataset = pydicom.dcmread(paths[2])
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = evil
    dataset.save_as(paths[2])
    orthanc.upload(paths)
    return str(dataset.StudyInstanceUID), evil


def test_an_instance_with_an_invalid_uid_is_not_written_and_named(
    series_with_a_traversal_uid, dicomweb_env, tmp_path, monkeypatch, capsys
):
    study, evil = series_with_a_traversal_uid
    deep = tmp_path / "a" / "b" / "c"  # five levels up from a series folder in deep/in: tmp_path
    with pytest.raises(PartialTransfer) as caught:
        retrieve_study(connection(dicomweb_env), study, deep / "in")
    message = str(caught.value)
    assert "3 of 4 instances received" in message
    assert f"instance with an invalid SOP Instance UID {evil!r} not saved" in message
    monkeypatch.setattr(tempfile, "tempdir", str(deep))  # analyze retrieves into a temporary folder
    argv = ["analyze", "--dicomweb", dicomweb_env.dicomweb_url, "--study", study, "--dicomweb-user", USER]
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert f"invalid SOP Instance UID {evil!r} not saved" in captured.err and "verdict" not in captured.out
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "upload" not in p.parts]
    assert written and all(deep in p.parents for p in written), written
    assert not list(tmp_path.rglob("escaped*"))


class _CapsAnswersIgnoresOffset:
    """The DICOMweb client of a server that answers each QIDO-RS search with at most `cap`
    results and ignores the offset (it lists the same first ones again)."""

    def __init__(self, client, cap: int):
        self.client, self.cap = client, cap

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if not name.startswith("search_for_"):
            return method
        return lambda *args, offset=None, **kwargs: method(*args, **kwargs)[: self.cap]


@pytest.fixture
def capping_server(uploaded, dicomweb_env, monkeypatch):
    real_client = Connection.client
    monkeypatch.setattr(Connection, "client", lambda self: _CapsAnswersIgnoresOffset(real_client(self), 20))
    return uploaded


def test_a_series_listed_in_part_is_still_retrieved_whole(capping_server, p001_header, p001_files, tmp_path):
    retrieved = retrieve_study(
        connection(capping_server),
        p001_header.StudyInstanceUID,
        tmp_path,
        series=p001_header.SeriesInstanceUID,
    )
    assert len(retrieved.files) == retrieved.n_expected == len(p001_files) == 148


def test_a_listing_that_may_be_incomplete_says_so(capping_server, p001_header, capsys):
    studies = find_studies(connection(capping_server), modality="CT")
    assert "ignored the paging offset when listing studies" in studies.caveat
    assert f"there may be more than these {len(studies)}" in studies.caveat
    assert find_studies(connection(capping_server), patient="NOBODY").caveat == ""
    assert cli_main(["pacs", "find", capping_server.dicomweb_url, "--dicomweb-user", USER]) == 0
    assert "warning: " in capsys.readouterr().err


def test_a_complete_listing_has_no_caveat(uploaded, dicomweb_env):
    assert find_studies(connection(uploaded), modality="CT").caveat == ""


def test_a_store_check_asks_for_each_object_a_capped_listing_leaves_out(monkeypatch):
    """A server that caps its listings at 2 (Orthanc's LimitFindResults) without saying so: the
    objects it does not list are asked for by UID, and found (it was "did not keep", exit 2)."""
    datasets = []
    for i in range(4):
        ds = pydicom.Dataset()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2", "1.2.3", f"1.2.3.{i}"
        datasets.append(ds)

    class Capped:
        def search_for_instances(
            self, study_instance_uid, series_instance_uid, offset=0, search_filters=None
        ):
            held = [{"00080018": {"vr": "UI", "Value": [d.SOPInstanceUID]}} for d in datasets]
            if search_filters:
                return [h for h in held if h["00080018"]["Value"] == [search_filters["SOPInstanceUID"]]]
            return held[:2] if offset == 0 else []

    monkeypatch.setattr(Connection, "client", lambda self: Capped())
    connection = Connection(url="http://pacs.invalid/dicom-web")
    assert store_module.held(connection, datasets) == {d.SOPInstanceUID for d in datasets}
