"""Planning: one job per series below SOURCE, with stable readable ids."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lunglens.batch.jobs import plan_jobs
from lunglens.batch.runner import BatchConfig, BatchError, check_folders, run_batch
from lunglens.synthetic import write_tiff_series
from tests.batch.conftest import write_archive


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    root = write_archive(tmp_path_factory.mktemp("small"), 3)
    write_tiff_series(
        __import__("numpy").full((4, 64, 64), -800, "int16"), root / "TIFFPAT", series_name="SR_2"
    )
    return root


def test_one_job_per_series_with_readable_unique_ids(small_archive):
    plan = plan_jobs(small_archive)
    by_patient = {job.patient: job for job in plan.jobs}
    assert set(by_patient) == {"PAT000", "PAT001", "PAT002", "BADTRUNC", "T0001", "TIFFPAT"}
    assert len({job.job_id for job in plan.jobs}) == len(plan.jobs) == 6
    assert re.fullmatch(r"PAT001_20200601_S2_[0-9a-f]{8}", by_patient["PAT001"].job_id)
    assert re.fullmatch(r"TIFFPAT_nodate_S-_[0-9a-f]{8}", by_patient["TIFFPAT"].job_id)
    # jobs carry paths, not pixels
    assert all(path.exists() for path, _ in by_patient["PAT001"].ref.frames)
    assert by_patient["T0001"].problems and "not CT" in by_patient["T0001"].problems[0]
    assert not by_patient["PAT001"].problems


def test_ids_are_stable_across_runs_and_spellings_of_source(small_archive, monkeypatch):
    absolute = [job.job_id for job in plan_jobs(small_archive).jobs]
    monkeypatch.chdir(small_archive.parent)
    relative = [job.job_id for job in plan_jobs(small_archive.relative_to(small_archive.parent)).jobs]
    assert absolute == relative


INSIDE_SOURCE = "the output folder is inside .*, a folder being read: LungLens never writes into its input"


def test_output_inside_source_is_refused(small_archive, tmp_path):
    for inside in (small_archive, small_archive / "PAT000" / "results", small_archive / "new"):
        with pytest.raises(BatchError, match=INSIDE_SOURCE):
            check_folders(small_archive, inside)
    link = tmp_path / "link-to-source"
    os.symlink(small_archive, link)
    with pytest.raises(BatchError, match=INSIDE_SOURCE):
        check_folders(small_archive, link / "out")
    check_folders(small_archive, tmp_path / "out")  # beside it is fine


def test_output_that_is_a_file_is_refused(small_archive, tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(BatchError, match="out: the output folder exists and is not a folder"):
        check_folders(small_archive, tmp_path / "out")


OWN_FILES = ["worklist.csv", "manifest.sqlite", ".lunglens-batch.lock", ".JOB_20200101_S1_0123abcd.job-lock"]


def _pipe(path: Path, _elsewhere: Path) -> None:
    os.mkfifo(path)


def _link(path: Path, elsewhere: Path) -> None:
    os.symlink(elsewhere / "written-through-the-link", path)


def _hard_link(path: Path, elsewhere: Path) -> None:
    (elsewhere / "other-name").write_bytes(b"")
    os.link(elsewhere / "other-name", path)


@pytest.mark.parametrize("name", OWN_FILES)
@pytest.mark.parametrize(
    ("make", "said"),
    [(_pipe, "is a named pipe"), (_link, "is a symbolic link"), (_hard_link, "has other names")],
    ids=["pipe", "symlink", "hard-link"],
)
def test_the_batchs_own_files_in_its_output_folder_must_be_its_own(small_archive, tmp_path, name, make, said):
    """A pipe would hang the batch (or end it after every series ran); a link would lead its
    writes (the manifest holds patient IDs) into SOURCE or anywhere. Refused before anything runs;
    nothing is written where the link leads."""
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = small_archive / "PAT000"  # inside SOURCE, which is never written
    before = sorted(p.name for p in elsewhere.iterdir())
    make(out / name, elsewhere)
    if make is _hard_link:
        before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(BatchError, match=f"{re.escape(name)}: {said}"):
        check_folders(small_archive, out)
    with pytest.raises(BatchError, match=f"{re.escape(name)}: {said}"):
        run_batch(BatchConfig(source=small_archive, out=out, workers=1))
    assert sorted(p.name for p in elsewhere.iterdir()) == before
    assert all(p.stat().st_size == 0 for p in elsewhere.iterdir() if p.name == "other-name")


def test_a_retrieving_folder_that_links_elsewhere_is_never_emptied(small_archive, tmp_path):
    """The clean-up of `.retrieving` while a job's lock is held (a task of a killed batch still
    running) removed every folder of whatever the link led to."""
    from lunglens.batch.runner import _remove_temporaries
    from lunglens.batch.task import job_lock

    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    (victim / "patientA").mkdir(parents=True)
    (victim / "patientA" / "1.dcm").write_bytes(b"x")
    os.symlink(victim, out / ".retrieving")
    with pytest.raises(BatchError, match=r"\.retrieving: is a symbolic link"):
        check_folders(small_archive, out)
    with job_lock(out, "OTHER_JOB"):
        _remove_temporaries(out)
    assert (victim / "patientA" / "1.dcm").read_bytes() == b"x"


def test_a_series_whose_files_lie_in_two_folders_is_one_job_in_the_folder_above_them(tmp_path):
    """One Series Instance UID, its files split between two folders: one job, and its folder is
    the one that holds both (where the viewer finds the series whole when the row is opened),
    not the first file's folder."""
    source = write_archive(tmp_path / "src", 1, bad=False)
    files = sorted((source / "PAT000").glob("*.dcm"))
    for half, part in (("a", files[: len(files) // 2]), ("b", files[len(files) // 2 :])):
        (source / "PAT000" / half).mkdir()
        for path in part:
            path.rename(source / "PAT000" / half / path.name)
    (job,) = plan_jobs(source).jobs
    assert job.ref.n_slices == len(files) and job.ref.folder == source / "PAT000"


def test_the_source_signature_follows_the_files_not_where_the_archive_lies(tmp_path):
    source = write_archive(tmp_path / "src", 2, bad=False)
    before = {job.job_id: job.source_signature for job in plan_jobs(source).jobs}
    assert all(s.startswith("files:") for s in before.values())
    moved = tmp_path / "moved"
    source.rename(moved)
    assert {job.job_id: job.source_signature for job in plan_jobs(moved).jobs} == before
    first, *rest = sorted((moved / "PAT000").iterdir())
    with open(first, "ab") as fh:  # a file grown (a copy finishing)
        fh.write(b"\0\0")
    grown = {job.job_id: job.source_signature for job in plan_jobs(moved).jobs}
    rest[-1].unlink()  # a file gone
    shrunk = {job.job_id: job.source_signature for job in plan_jobs(moved).jobs}
    changed = [job_id for job_id in before if grown[job_id] != before[job_id]]
    assert len(changed) == 1 and changed[0].startswith("PAT000")
    assert shrunk[changed[0]] not in (before[changed[0]], grown[changed[0]])
    assert all(shrunk[j] == before[j] for j in before if j != changed[0])


def test_the_jobs_folders_are_absolute_when_source_is_relative(small_archive, monkeypatch, tmp_path):
    """The worklist and the results name where each series lies from anywhere: a relative folder
    ("bsrc/pa") opened nothing, or another folder, from the viewer started elsewhere."""
    monkeypatch.chdir(small_archive.parent)
    plan = plan_jobs(Path(small_archive.name))
    assert plan.jobs and all(Path(job.folder).is_absolute() for job in plan.jobs)
    assert {job.folder for job in plan.jobs} == {job.folder for job in plan_jobs(small_archive).jobs}


def _cut_copy(files, folder: Path) -> None:
    """Copies of `files` in `folder`, each cut in half (a copy still arriving)."""
    folder.mkdir(parents=True)
    for path in files:
        data = path.read_bytes()
        (folder / path.name).write_bytes(data[: len(data) // 2])


def _archive_with_unread_folders(root: Path) -> Path:
    """PAT000 and PAT001, and beside them: every file of PAT000 cut short (`allcut`), 8-bit TIFF
    slices (`tiff8`), copies of PAT001's files (`copy`); and what is no lost series: label tables
    at the top, a DICOM object that is no image (a DICOMDIR), a hidden folder of copies, an
    earlier batch's output folder; one file cut short inside PAT000 (its series' warning)."""
    import numpy as np
    import pydicom
    import tifffile

    source = write_archive(root, 2, bad=False)
    files = sorted((source / "PAT000").glob("*.dcm"))
    _cut_copy(files, source / "allcut")
    (source / "tiff8" / "SR_2").mkdir(parents=True)
    for i in range(4):
        tifffile.imwrite(source / "tiff8" / "SR_2" / f"IM{i:05d}.tif", np.zeros((8, 8), np.uint8))
    (source / "copy").mkdir()
    for path in sorted((source / "PAT001").glob("*.dcm")):
        (source / "copy" / path.name).write_bytes(path.read_bytes())
    (source / "labels.csv").write_text("patient,label\nPAT000,covid\n")
    directory = pydicom.Dataset()  # a DICOMDIR-like object: DICOM, no modality, no pixel data
    directory.SOPClassUID = "1.2.840.10008.1.3.10"
    directory.SOPInstanceUID = "1.2.3.4"
    (source / "export").mkdir()
    directory.file_meta = pydicom.dataset.FileMetaDataset()
    directory.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    pydicom.dcmwrite(source / "export" / "DICOMDIR", directory, enforce_file_format=True)
    (source / ".trash").mkdir()
    (source / ".trash" / files[0].name).write_bytes(files[0].read_bytes())
    (source / "old-batch").mkdir()
    for name in ("manifest.sqlite", "worklist.csv", "PAT000_20200601_S2_0123abcd.json"):
        (source / "old-batch" / name).write_text("{}")
    files[-1].write_bytes(files[-1].read_bytes()[:1000])
    return source


def test_a_folder_whose_files_were_all_skipped_is_planned_as_a_job_that_fails_naming_why(
    tmp_path, monkeypatch
):
    """A folder that forms no series but may hold one (CT files cut short, 8-bit TIFF, copies of
    another folder's files) is planned, so the batch shows it: a stable, readable id, its folder,
    and the reasons. Hidden entries, files that are not DICOM or TIFF (label tables, a batch's
    output), DICOM objects that are not CT (a DICOMDIR) and files beside a series are not."""
    source = _archive_with_unread_folders(tmp_path / "src")
    plan = plan_jobs(source)
    assert {job.patient for job in plan.jobs} == {"PAT000", "PAT001"}
    unread = {Path(job.folder).name: job for job in plan.unread}
    assert set(unread) == {"allcut", "SR_2", "copy"}
    n_files = len(list((source / "PAT000").glob("*.dcm")))
    for name, reason in (
        ("allcut", f"{n_files} entries skipped (file cut short: "),
        ("SR_2", "4 entries skipped (uint8 TIFF"),
        ("copy", "skipped (duplicate: "),
    ):
        job = unread[name]
        above = Path(job.folder).parent.name
        assert re.fullmatch(rf"skipped_{above}-{name.replace('_', '-')}_[0-9a-f]{{8}}", job.job_id)
        (problem,) = job.problems
        assert problem.startswith(f"{job.folder}: no series: ")
        assert reason in problem and job.ref is None and job.source_signature.startswith("files:")
    assert (
        unread["allcut"].problems[0].startswith(f"{source / 'allcut'}: no series: {n_files} entries skipped")
    )
    assert plan.skipped_note.startswith(f"{2 * n_files + 4 + 1 + 1 + 3 + 1} entries in 7 folders when SOURCE")
    assert "3 of the folders form no series (a failed row each)" in plan.skipped_note
    monkeypatch.chdir(tmp_path)  # the same ids however SOURCE is spelled
    assert [job.job_id for job in plan_jobs(Path("src")).unread] == [job.job_id for job in plan.unread]
