"""Planning a batch: every series found below a SOURCE folder becomes one job.

A job carries paths (the `SeriesRef` from `lunglens.io.discover`), never pixels: workers decode.
Its id is stable across runs and readable: patient, study date, series number and a short hash
of the series identity, e.g. `P001_20200415_S2_3f9a1c2e`. Series that cannot be analysed (not CT,
not axial, too few slices) are planned too, with the reason, so the worklist lists them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from lunglens.io import SeriesRef, discover
from lunglens.io.dicom import DicomFileError, read_dataset, series_metadata

#: Characters kept in the readable parts of a job id (file-name safe everywhere).
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
#: Hex digits of the series hash in a job id (32 bits: collisions need ~65 000 series of one
#: patient, study date and series number).
HASH_DIGITS = 8


@dataclass(frozen=True)
class Job:
    """One series to analyse. `ref` holds the file paths (no pixels); `problems` is non-empty when
    the series cannot be analysed (the job is recorded as failed with that reason, never run)."""

    job_id: str
    ref: SeriesRef
    patient: str
    study_date: str
    series_number: int | None
    description: str

    @property
    def series_key(self) -> str:
        return self.ref.key

    @property
    def folder(self) -> Path:
        return self.ref.folder

    @property
    def problems(self) -> tuple[str, ...]:
        return self.ref.problems


@dataclass(frozen=True)
class Plan:
    """The jobs found below `source`, and how many files were not part of any series."""

    source: Path
    jobs: tuple[Job, ...]
    skipped_files: int


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


def job_id_for(ref: SeriesRef, source: Path, patient: str, study_date: str) -> str:
    """`<patient>_<study date>_S<series number>_<hash>`; unknown parts read `anon`, `nodate`, `S-`."""
    digest = hashlib.sha256(series_identity(ref, source).encode("utf-8")).hexdigest()[:HASH_DIGITS]
    number = f"S{ref.series_number}" if ref.series_number is not None else "S-"
    return f"{_readable(patient, 'anon')}_{_readable(study_date, 'nodate')}_{number}_{digest}"


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


def plan_jobs(source: Path) -> Plan:
    """One job per series below `source` (recursively). Reads headers only; never writes.
    Raises `lunglens.io.FolderError` when `source` cannot be read."""
    source = Path(source)
    found = discover(source)
    jobs = []
    for ref in found.series:
        patient, study_date = _who_and_when(ref)
        jobs.append(
            Job(
                job_id=job_id_for(ref, source, patient, study_date),
                ref=ref,
                patient=patient,
                study_date=study_date,
                series_number=ref.series_number,
                description=ref.description,
            )
        )
    return Plan(
        source=source, jobs=tuple(sorted(jobs, key=lambda j: j.job_id)), skipped_files=len(found.skipped)
    )
