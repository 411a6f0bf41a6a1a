"""`lunglens analyze --dicomweb` against a real Orthanc (tests/pacs/conftest.py): only the CT
series is retrieved (never LungLens' earlier results), `--series` is a Series Instance UID or
the Nth CT series, `lunglens pacs series` lists a study's series; a second `--store` is refused
unless `--store-again`; a source date the results cannot copy is refused before the analysis,
naming the series on the server; a skipped instance is named by its UID, not a temporary file.
Earlier results are those naming the series' UID exactly; a check that cannot be made stops only
--store; several CT series are retrieved in one go, but analyze asks which one from the
listing, before retrieving; a second --store is refused before retrieving, but for a PDF kept alone; a UID discovery splits is chosen from by its
analysable part or by key; `pacs series` of a study the server lacks says so (exit 2)."""

from __future__ import annotations

import re

import pydicom
import pytest
import requests

from lunglens.cli import main as cli_main
from lunglens.cli.analyze import choose_series
from lunglens.cli.common import BadInput
from lunglens.dicomout.identity import PDF_SERIES, SR_SERIES
from lunglens.io import discover
from lunglens.pacs import Connection, PacsError, SeriesSummary, results_for_series, retrieve_study
from tests.batch.conftest import write_archive
from tests.dicomout.unusable import phantom_slices
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
    assert "pacs:" not in out  # refused from the listing and the results' metadata: nothing retrieved

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


def test_results_count_for_a_series_only_when_they_name_its_uid_exactly(monkeypatch):
    """An SR about series X.10 is no result for series X.1 (its UID a prefix of the other)."""

    def evidence(series_uid):
        item = {"0020000E": {"vr": "UI", "Value": [series_uid]}}
        return {"0040A375": {"vr": "SQ", "Value": [{"00081115": {"vr": "SQ", "Value": [item]}}]}}

    class Client:
        def retrieve_series_metadata(self, study, series):
            return [{"0020000E": {"vr": "UI", "Value": [series]}, **LUNGLENS, **evidence("1.2.3.10")}]

    monkeypatch.setattr(Connection, "client", lambda self: Client())
    sr = SeriesSummary(
        study_uid="1.2",
        series_uid="9.9.9",
        modality="SR",
        series_number=SR_SERIES.number,
        description=SR_SERIES.description,
        n_instances=1,
    )
    connection = Connection(url="http://pacs.invalid/dicom-web")
    assert results_for_series(connection, [sr], "1.2.3.1") == []
    assert results_for_series(connection, [sr], "1.2.3.10") == [sr]


LUNGLENS = {"00080070": {"vr": "LO", "Value": ["LungLens project"]}}


def _one_instance_client(monkeypatch, instance: dict) -> None:
    """Connection.client() answers `instance` as the metadata of every series."""

    class Client:
        def retrieve_series_metadata(self, study, series):
            return [instance]

    monkeypatch.setattr(Connection, "client", lambda self: Client())


def test_results_are_known_by_their_instances_not_their_description(monkeypatch):
    """An archive that upper-cases (or rewrites) descriptions keeps LungLens' results known by
    their series number and their instances' manufacturer; another maker's #9001 is none."""
    sr = SeriesSummary("1.2", "9.9.9", "SR", SR_SERIES.number, SR_SERIES.description.upper(), 1)
    connection = Connection(url="http://pacs.invalid/dicom-web")
    source = {"0020000E": {"vr": "UI", "Value": ["1.2.3.1"]}}
    shouting = {"00080070": {"vr": "LO", "Value": ["LUNGLENS PROJECT"]}}
    _one_instance_client(monkeypatch, {**shouting, "00081115": {"vr": "SQ", "Value": [source]}})
    assert results_for_series(connection, [sr], "1.2.3.1") == [sr]
    other = {"00080070": {"vr": "LO", "Value": ["Another AI"]}}
    _one_instance_client(monkeypatch, {**other, "00081115": {"vr": "SQ", "Value": [source]}})
    assert results_for_series(connection, [sr], "1.2.3.1") == []


def test_a_pdf_counts_by_the_series_instances_it_was_made_from(monkeypatch):
    """An Encapsulated PDF cites its source instances, not their series."""
    pdf = SeriesSummary("1.2", "9.9.8", "DOC", PDF_SERIES.number, PDF_SERIES.description, 1)
    cited = {"00081155": {"vr": "UI", "Value": ["1.2.3.1.7"]}}
    _one_instance_client(monkeypatch, {**LUNGLENS, "00420013": {"vr": "SQ", "Value": [cited]}})
    connection = Connection(url="http://pacs.invalid/dicom-web")
    assert results_for_series(connection, [pdf], "1.2.3.1", frozenset({"1.2.3.1.7"})) == [pdf]
    assert results_for_series(connection, [pdf], "1.2.3.1", frozenset({"1.2.3.1.8"})) == []


def _upload_as_series(orthanc, paths, study: str, series_uid: str) -> None:
    """Upload the phantom's files `paths` to `orthanc` as series `series_uid` of study `study`,
    with new SOP Instance UIDs (the phantom's UIDs are always the same)."""
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(path)
    orthanc.upload(paths)


def test_a_store_of_which_only_key_images_and_pdf_were_kept_is_not_repeated(
    orthanc, dicomweb_env, analyze, tmp_path
):
    """A PACS that turned the SR and SEG away: the key images and PDF still say which series."""
    study, series_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    _upload_as_series(orthanc, phantom_slices(tmp_path / "ct"), study, series_uid)
    status, out, err = analyze(study, "--store")
    assert status == 0, err
    _delete_series_of_modality(orthanc, study, "SR", "SEG")
    assert sorted(s["00080060"]["Value"][0] for s in _series_on_server(orthanc, study)) == ["CT", "DOC", "OT"]
    status, out, err = analyze(study, "--store")
    assert status == 2 and "verdict" not in out and "pacs:" not in out  # the key images, before retrieving
    assert f"already holds LungLens results for series {series_uid} (1 series: OT #9003 " in err
    _delete_series_of_modality(orthanc, study, "OT")
    status, out, err = analyze(study, "--store")  # the PDF alone: known once its source instances are
    assert status == 2 and "verdict" not in out and "pacs:" in out
    assert f"already holds LungLens results for series {series_uid} (1 series: DOC #9004 " in err


def _delete_series_of_modality(orthanc, study, *modalities) -> None:
    for listed in _series_on_server(orthanc, study):
        if listed["00080060"]["Value"][0] in modalities:
            uid = listed["0020000E"]["Value"][0]
            (found,) = requests.post(
                f"{orthanc.rest_url}/tools/lookup", data=uid, auth=orthanc.auth, timeout=30
            ).json()
            requests.delete(f"{orthanc.rest_url}/series/{found['ID']}", auth=orthanc.auth, timeout=30)


def _split_series(root):
    """A phantom series and, with its UID, a 256 x 256 image (a localizer): discovery splits the
    UID into two parts, one analysable."""
    paths = phantom_slices(root / "series")
    ds = pydicom.dcmread(paths[0])
    ds.Rows = ds.Columns = 256
    ds.PixelData = bytes(256 * 256 * 2)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(root / "series" / "localizer.dcm")
    return discover(root), str(ds.SeriesInstanceUID)


def test_the_analysable_part_of_a_split_uid_is_chosen_by_that_uid(tmp_path):
    found, uid = _split_series(tmp_path)
    assert sorted(r.key for r in found.series) == [uid, f"{uid}#2"]
    (analysable,) = found.analysable
    assert choose_series(found, uid, by_uid=True) is analysable
    assert choose_series(found, analysable.key, by_uid=True) is analysable  # the key, as --series
    (other,) = [r for r in found.series if r is not analysable]
    with pytest.raises(BadInput, match="cannot be analysed"):
        choose_series(found, other.key, by_uid=True)


def test_two_analysable_parts_of_a_uid_are_listed_by_key(tmp_path, monkeypatch):
    found, uid = _split_series(tmp_path)
    monkeypatch.setattr(type(found.series[0]), "analysable", property(lambda self: True))
    with pytest.raises(BadInput, match="2 series can be analysed") as refused:
        choose_series(found, uid, by_uid=True)
    assert f"{uid}#2 " in str(refused.value)  # the key --series takes
    assert f"{uid}#1 " in str(refused.value)  # the first part's: the bare UID names both


def test_the_first_part_of_a_split_uid_is_chosen_by_uid_1(tmp_path, monkeypatch):
    found, uid = _split_series(tmp_path)
    monkeypatch.setattr(type(found.series[0]), "analysable", property(lambda self: True))
    (first,) = [r for r in found.series if r.key == uid]
    assert choose_series(found, f"{uid}#1", by_uid=True) is first
    lister = "lunglens pacs series URL --study 1.2"
    with pytest.raises(BadInput, match=f"no series '{uid}#3' \\(lunglens pacs series URL --study 1.2 lists"):
        choose_series(found, f"{uid}#3", by_uid=True, listed_by=lister)


def test_series_takes_a_part_key_with_dicomweb(tmp_path, capsys):
    argv = ["analyze", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "1.2", "--no-quantify"]
    assert cli_main([*argv, "--series", "1.2.3#x"]) == 2
    assert "not a series index" in capsys.readouterr().err
    assert cli_main([*argv, "--series", "1.2.3#2", "--dicomweb-timeout", "1"]) == 2  # past the options
    assert "unreachable" in capsys.readouterr().err.lower()


def test_pacs_series_of_a_study_the_server_lacks_says_so(orthanc, dicomweb_env, capsys):
    argv = ["pacs", "series", orthanc.dicomweb_url, "--study", "1.2.3.4.5", "--dicomweb-user", USER]
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert "study 1.2.3.4.5 not found (no series)" in captured.err and "0 series" not in captured.out


def test_earlier_results_that_cannot_be_checked_stop_only_store(orthanc, studies, analyze, monkeypatch):
    import lunglens.pacs

    study, series_uid, _ = studies["PAT000"]

    def unreadable(*args):
        raise PacsError("pacs: not found (HTTP 404) while reading the metadata of series 7.7")

    monkeypatch.setattr(lunglens.pacs, "results_for_series", unreadable)
    status, out, err = analyze(study, "--no-quantify")
    assert status == 0, err
    assert "note:     could not check for earlier LungLens results: pacs: not found (HTTP 404)" in out
    status, out, err = analyze(study, "--no-quantify", "--store")
    assert status == 2 and "verdict" not in out
    assert "(HTTP 404)" in err and "give --store-again to store without the check" in err


def test_several_ct_series_are_retrieved_in_one_go(orthanc, dicomweb_env, analyze, tmp_path):
    study = pydicom.uid.generate_uid()
    uids = []
    for name in ("a", "b"):
        paths = phantom_slices(tmp_path / name)
        uids.append(pydicom.uid.generate_uid())
        _upload_as_series(orthanc, paths, study, uids[-1])
    n = 2 * len(paths)
    seen = []
    connection = Connection(url=orthanc.dicomweb_url, user=USER)
    retrieved = retrieve_study(
        connection, study, tmp_path / "got", series=set(uids), progress=lambda *a: seen.append(a)
    )
    assert {p.parent.name for p in retrieved.files} == set(uids)
    assert len(retrieved.files) == retrieved.n_expected == n and {total for _, total in seen} == {n}
    status, out, err = analyze(study, "--no-quantify")  # two CT series: asked which, from the listing
    assert status == 2 and "pacs:" not in out and "holds 2 CT series; choose one with --series" in err
    for index, uid in enumerate(sorted(uids), start=1):  # as `lunglens pacs series` lists them
        assert re.search(rf"\[{index}\]  CT  #\d+  .*\({len(paths)} instances\)  {re.escape(uid)}", err)
    status, out, err = analyze(study, "--series", "2", "--no-quantify")
    assert status == 0, err
    assert f"pacs:     {len(paths)} of {len(paths)} instances retrieved (series {sorted(uids)[1]})" in out


def test_a_scout_beside_one_volume_needs_no_series_choice(orthanc, dicomweb_env, analyze, tmp_path):
    """A CT scout (fewer images than a series needs) beside the axial series is no second choice:
    both are retrieved and the files decide, as in a folder; the volume is analysed."""
    study = pydicom.uid.generate_uid()
    for name, keep in (("volume", None), ("scout", 2)):
        _upload_as_series(orthanc, phantom_slices(tmp_path / name)[:keep], study, pydicom.uid.generate_uid())
    status, out, err = analyze(study, "--no-quantify")
    assert status == 0, err
    assert "instances retrieved (2 CT series)" in out and "verdict" in out


def test_a_part_the_study_lacks_points_at_pacs_series(orthanc, studies, analyze):
    study, series_uid, _ = studies["PAT000"]
    status, out, err = analyze(study, "--series", f"{series_uid}#3", "--no-quantify")
    assert status == 2 and "verdict" not in out
    assert (
        f"no series '{series_uid}#3' (lunglens pacs series {orthanc.dicomweb_url} --study {study} lists"
        in err
    )


def test_a_server_that_caps_its_listings_is_said_to_and_store_is_refused(
    tmp_path, tmp_path_factory, capsys, monkeypatch
):
    """An Orthanc whose series listing stops short of the series it states for the study: `pacs
    series` warns, and the earlier-results check, which cannot see every series, refuses --store."""
    server = start_orthanc(tmp_path_factory.mktemp("capped"), LimitFindResults=2, LimitFindInstances=2)
    try:
        study = pydicom.uid.generate_uid()
        for name in "abcd":  # four CT series: the first listed can always be chosen
            paths = phantom_slices(tmp_path / name)
            series_uid = pydicom.uid.generate_uid()
            for path in paths:
                ds = pydicom.dcmread(path)
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
                ds.save_as(path)
            server.upload(paths)
        monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
        monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
        assert (
            cli_main(["pacs", "series", server.dicomweb_url, "--study", study, "--dicomweb-user", USER]) == 0
        )
        err = capsys.readouterr().err
        assert re.search(
            rf"the server lists \d of the 4 series it states for study {study}: its listings", err
        )
        model = write_tiny_model(tmp_path / "model")
        argv = ["analyze", "--dicomweb", server.dicomweb_url, "--study", study, "--dicomweb-user", USER]
        argv += ["--series", "1", "--model", str(model), "--lesion-method", "hu_bands", "--store"]
        assert cli_main(argv) == 2
        captured = capsys.readouterr()
        assert "pacs:" not in captured.out and "the check could not see every series" in captured.err
        assert "give --store-again to store without the check" in captured.err
    finally:
        server.stop()
