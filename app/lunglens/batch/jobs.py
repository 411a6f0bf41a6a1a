"""Planning a batch: every series found below a SOURCE folder, or every CT series of the studies a
DICOMweb query finds, becomes one job.

A job carries where its series is, never pixels: the paths of its files (the `SeriesRef` from
`lunglens.io.discover`), or its address on the DICOMweb server; workers decode (and retrieve).
Its id is stable across runs and readable: patient, study date, series number and a short hash
of the series identity, e.g. `P001_20200415_S2_3f9a1c2e`; a DICOM series has the same id whether
it is read from a folder or from a PACS. Series that cannot be analysed (not CT, not axial, too
few slices) are planned too, with the reason, so the worklist lists them (on a PACS the worker
finds the reason once it has retrieved the series); series of other modalities on a PACS
(results, reports, other images) are counted, not planned. A folder whose entries were all skipped
when SOURCE was read (cut short, 8-bit TIFF, duplicates of another folder's files) forms no series
but may hold one that is not analysed: it is planned too, as a job that fails naming the folder
and why (`UnreadFolder`), so the worklist shows it."""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lunglens.io import SeriesRef, SkippedFile, discover
from lunglens.io.dicom import DicomFileError, read_dataset, series_metadata
from lunglens.io.discover import HIDDEN_FILE_REASON, HIDDEN_FOLDER_REASON, Discovery, skipped_text
from lunglens.pacs import Connection, SeriesAddress, SeriesSummary, StudySummary, find_series, find_studies

#: Characters kept in the readable parts of a job id (file-name safe everywhere).
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
#: Hex digits of the series hash in a job id (32 bits: collisions need ~65 000 series of one
#: patient, study date and series number).
HASH_DIGITS = 8


@dataclass(frozen=True)
class RemoteSeries:
    """A series on a DICOMweb server: how to reach the server (no secret: workers read the
    credentials from their environment, `lunglens.pacs.connection`) and where the series is."""

    connection: Connection
    address: SeriesAddress


#: The series key of a job for a folder that forms no series (`UnreadFolder`), before its path.
UNREAD_KEY = "skipped-folder:"


@dataclass(frozen=True)
class UnreadFolder:
    """A folder below SOURCE that forms no series and holds no file of one, whose entries skipped
    when it was read (`Discovery.skipped`, hidden ones left out) may be a CT series: its job fails
    with `problem`, never runs."""

    folder: Path
    identity: str
    """The folder relative to SOURCE (POSIX; "." for SOURCE itself): the same however SOURCE is given."""
    entries: tuple[SkippedFile, ...]

    @property
    def problem(self) -> str:
        """ "src/allcut: no series: 36 entries skipped (file cut short: a.dcm, ...)" (`skipped_text`)."""
        return f"{self.folder}: no series: {skipped_text(list(self.entries))}"


@dataclass(frozen=True)
class Job:
    """One series to analyse, in a folder (`ref`: its file paths, no pixels) or on a DICOMweb
    server (`remote`), or a folder that forms no series (`unread`). `problems` is non-empty when
    the series cannot be analysed (the job is recorded as failed with that reason, never run)."""

    job_id: str
    patient: str
    study_date: str
    series_number: int | None
    description: str
    ref: SeriesRef | None = None
    remote: RemoteSeries | None = None
    unread: UnreadFolder | None = None
    source_signature: str = ""
    """What the series' source was when the job was planned: `files_signature` of a folder
    series, the instance count the server stated for one on a DICOMweb server; "" when unknown.
    A finished job whose source has changed since is analysed again."""

    @property
    def series_key(self) -> str:
        """The key of the analysed series (`SeriesRef.key`: SeriesInstanceUID for DICOM);
        `UNREAD_KEY` and the folder's identity for a folder that forms no series."""
        if self.unread is not None:
            return UNREAD_KEY + self.unread.identity
        return self.ref.key if self.ref is not None else self.remote.address.series_uid

    @property
    def folder(self) -> str:
        """Where the series is: its folder, or its DICOMweb address (`SeriesAddress.text`)."""
        if self.unread is not None:
            return str(self.unread.folder)
        return str(self.ref.folder) if self.ref is not None else self.remote.address.text

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the series cannot be analysed, as far as planning knows (a series on a server: its
        worker finds out)."""
        if self.unread is not None:
            return (self.unread.problem,)
        return self.ref.problems if self.ref is not None else ()


@dataclass(frozen=True)
class Plan:
    """The jobs found in `source` (a folder, or the DICOMweb query in words), and what was found
    but is not a job: files that are not part of any series; on a server, the studies found and
    their series that are not CT (or cannot be retrieved: no Series Instance UID)."""

    source: str
    jobs: tuple[Job, ...]
    skipped: str = ""
    """The entries of a folder skipped, counted in words (`Discovery.skipped_count`)."""
    unread: tuple[Job, ...] = ()
    """The jobs of folders that form no series (`UnreadFolder`): failed rows of the worklist."""
    skipped_note: str = ""
    """The entries skipped below a folder (hidden ones left out) in words, "" when none
    (`_skipped_note`)."""
    studies: int | None = None
    """Studies the DICOMweb query found (None for a folder)."""
    skipped_series: int = 0
    caveats: tuple[str, ...] = ()
    """Why the DICOMweb listings may be incomplete (`lunglens.pacs.Listing.caveat`), if they may."""

    def nothing_found(self) -> str:
        """The sentence for a plan without jobs."""
        if self.studies is None:
            return f"{self.source}: no CT series found below it ({self.skipped or 'nothing'} skipped)"
        if self.studies == 0:
            return f"{self.source}: no study matches"
        return f"{self.source}: {self.studies} studies, no CT series in them ({self.skipped_series} other series)"


@dataclass(frozen=True)
class DicomwebQuery:
    """The studies of a batch on a DICOMweb server (QIDO-RS filters, as `find_studies` takes
    them); the CT series of each study become the jobs."""

    connection: Connection
    patient: str | None = None
    date: str | None = None
    modality: str | None = "CT"

    def describe(self) -> str:
        """The server and the filters, in words."""
        filters = (("patient", self.patient), ("date", self.date), ("modality", self.modality))
        shown = ", ".join(f"{name} {value}" for name, value in filters if value)
        return f"{self.connection.where} ({shown or 'every study'})"


def _readable(text: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("-", text).strip("-.")
    return cleaned[:32] or fallback


def series_identity(ref: SeriesRef, source: Path) -> str:
    """What the job id's hash is taken over: the SeriesInstanceUID (plus split suffix) for DICOM,
    the series folder relative to SOURCE for TIFF (TIFF has no UID; a relative path keeps the id
    the same whether SOURCE is given absolute or relative)."""
    if ref.source_format == "tiff":
        return "tiff:" + ref.folder.resolve().relative_to(source.resolve()).as_posix()
    return "dicom:" + ref.key


def job_id_for(identity: str, series_number: int | None, patient: str, study_date: str) -> str:
    """`<patient>_<study date>_S<series number>_<hash of identity>`; unknown parts read `anon`,
    `nodate`, `S-`."""
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    number = f"S{series_number}" if series_number is not None else "S-"
    return f"{_readable(patient, 'anon')}_{_readable(study_date, 'nodate')}_{number}_{digest}"


def result_name(job_id: str) -> str:
    """The file name of a job's Analysis JSON, inside the output folder."""
    return f"{job_id}.json"


def report_name(job_id: str) -> str:
    """The file name of a job's PDF report, inside the output folder."""
    return f"{job_id}.pdf"


def files_signature(ref: SeriesRef) -> str:
    """A digest of the series' files: each one's path relative to the series folder and its size
    in bytes. A file added, removed, renamed, grown or cut short changes it; the archive copied or
    moved elsewhere does not. "" when a file cannot be read (it is then not known)."""
    return paths_signature({path for path, _ in ref.frames}, ref.folder)


def paths_signature(paths, folder: Path) -> str:
    """`files_signature` of `paths` relative to `folder`."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            size = os.stat(path).st_size
        except OSError:
            return ""
        digest.update(f"{os.path.relpath(path, folder)}\0{size}\n".encode("utf-8", "surrogateescape"))
    return "files:" + digest.hexdigest()[:16]


def signature_kind(signature: str) -> str:
    """What a source signature describes: "files", "instances", or "" when unknown."""
    return signature.split(":", 1)[0]


def source_changed(recorded: str, now: str) -> bool:
    """Whether a job's source has changed between two signatures: both known and of the same kind
    (the same series read from a folder and from a server cannot be compared) and different."""
    return bool(recorded and now) and signature_kind(recorded) == signature_kind(now) and recorded != now


def _who_and_when(ref: SeriesRef) -> tuple[str, str]:
    """(patient id, study date YYYYMMDD) from the first file's header; for TIFF (COVID-CTset
    `<patient>/SR_2/`) the patient is the folder above the series and the date is unknown."""
    if ref.source_format == "tiff":
        return ref.folder.parent.name, ""
    try:
        metadata = series_metadata(read_dataset(ref.frames[0][0], pixels=False))
    except DicomFileError:
        return "", ""
    return metadata.patient_id, metadata.study_date


def _unread_folders(found: Discovery) -> list[Job]:
    """A job for each folder that forms no series but may hold one (`Discovery.unread_folders`);
    id `skipped_<folder above>-<folder name>_<hash of its path relative to the folder discovered>`
    (COVID-CTset: `skipped_P9-SR-2_0cc0b874`)."""
    source = found.folder
    jobs = []
    for folder, entries in found.unread_folders:
        identity = folder.relative_to(source).as_posix()
        digest = hashlib.sha256(f"skipped:{identity}".encode("utf-8", "surrogateescape")).hexdigest()
        unread = UnreadFolder(folder, identity, tuple(entries))
        jobs.append(
            Job(
                job_id=f"skipped_{_readable(f'{folder.parent.name}/{folder.name}', 'folder')}_{digest[:HASH_DIGITS]}",
                patient="",
                study_date="",
                series_number=None,
                description="",
                unread=unread,
                source_signature=paths_signature([entry.path for entry in entries], folder),
            )
        )
    return jobs


def _skipped_note(skipped: list[SkippedFile], unread: list[Job]) -> str:
    """The entries skipped (hidden ones left out) in words, "" when none: "73 entries in 3 folders
    when SOURCE was read; 2 of the folders form no series (a failed row each); ..."."""
    if not skipped:
        return ""
    folders = len({entry.path.parent for entry in skipped})
    note = f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} in {folders} folder{'s' * (folders != 1)} when SOURCE was read"
    if unread:
        note += f"; {len(unread)} of the folders form{'s' * (len(unread) == 1)} no series (a failed row each)"
    return note + "; `lunglens info FOLDER --skipped` says why"


def plan_jobs(source: Path) -> Plan:
    """One job per series below `source` (recursively), and a failing one per folder that forms
    no series but may hold one (`_unread_folders`). Reads headers only; never writes. The jobs'
    folders are absolute (symbolic links resolved), however `source` is given: the worklist and
    the results open from anywhere. Raises `lunglens.io.FolderError` when `source` cannot be read."""
    source = Path(source)
    found = discover(Path(os.path.realpath(source)))  # Path.resolve raises on a link loop
    jobs = []
    for ref in found.series:
        patient, study_date = _who_and_when(ref)
        jobs.append(
            Job(
                job_id=job_id_for(series_identity(ref, source), ref.series_number, patient, study_date),
                ref=ref,
                patient=patient,
                study_date=study_date,
                series_number=ref.series_number,
                description=ref.description,
                source_signature=files_signature(ref),
            )
        )
    skipped = [
        entry for entry in found.skipped if entry.reason not in (HIDDEN_FILE_REASON, HIDDEN_FOLDER_REASON)
    ]
    unread = _unread_folders(found)
    return Plan(
        str(source),
        tuple(sorted(jobs, key=lambda j: j.job_id)),
        skipped=found.skipped_count,
        unread=tuple(sorted(unread, key=lambda j: j.job_id)),
        skipped_note=_skipped_note(skipped, unread),
    )


#: QIDO-RS requests in flight at once while a DICOMweb batch is planned (one per study).
PLAN_REQUESTS = 8


def _remote_job(query: DicomwebQuery, study: StudySummary, series: SeriesSummary) -> Job:
    address = SeriesAddress(query.connection.url.rstrip("/"), study.study_uid, series.series_uid)
    return Job(
        job_id=job_id_for(
            "dicom:" + series.series_uid, series.series_number, study.patient_id, study.study_date
        ),
        patient=study.patient_id,
        study_date=study.study_date,
        series_number=series.series_number,
        description=series.description,
        remote=RemoteSeries(query.connection, address),
        source_signature=f"instances:{series.n_instances}" if series.n_instances is not None else "",
    )


def plan_dicomweb_jobs(query: DicomwebQuery) -> Plan:
    """One job per CT series (or series without a modality: its worker decides) of the studies
    `query` finds (QIDO-RS: the studies, then each study's series), each series once. Retrieves
    nothing; never writes. Raises a named `lunglens.pacs.PacsError`."""
    studies = find_studies(query.connection, patient=query.patient, date=query.date, modality=query.modality)
    with ThreadPoolExecutor(PLAN_REQUESTS) as pool:
        series_of = list(pool.map(lambda study: find_series(query.connection, study.study_uid), studies))
    jobs: dict[str, Job] = {}
    others = 0
    for study, series_list in zip(studies, series_of, strict=True):
        for series in series_list:
            if series.series_uid and series.may_be_ct and series.series_uid not in jobs:
                jobs[series.series_uid] = _remote_job(query, study, series)
            elif series.series_uid not in jobs:
                others += 1
    return Plan(
        query.describe(),
        tuple(sorted(jobs.values(), key=lambda j: j.job_id)),
        studies=len(studies),
        skipped_series=others,
        caveats=tuple(listing.caveat for listing in (studies, *series_of) if listing.caveat),
    )
