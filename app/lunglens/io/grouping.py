"""Patients in order: the series `discover` found, grouped patient → study → series as a
reading list. Patients are told apart by PatientID and PatientName as the files have them
(series without either by the folder above theirs, so two anonymous folders stay two patients);
studies by StudyInstanceUID (else date and description), ordered by study date and time, so
two time points of one patient read as two studies, earliest first; series by series number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lunglens.io.series import SeriesRef


@dataclass(frozen=True)
class Study:
    """One study (visit) of a patient: its UID, date (YYYYMMDD) and time as the files have them
    ("" when absent), description, and its series in series-number order."""

    uid: str
    date: str
    time: str
    description: str
    series: tuple[SeriesRef, ...]

    def title(self) -> str:
        """E.g. "1901-01-12 09:17 · CT CHEST PULMONARY ANGIO"; "(no study date)" when absent."""
        when = " ".join(x for x in (format_date(self.date), format_time(self.time)) if x)
        return " · ".join(x for x in (when or "(no study date)", self.description) if x)


@dataclass(frozen=True)
class Patient:
    """One patient: name and ID as the files have them ("" when absent; `folder` names the
    folder that stands in for an identity), and the studies in date order."""

    name: str
    patient_id: str
    folder: str
    studies: tuple[Study, ...]

    @property
    def n_series(self) -> int:
        return sum(len(study.series) for study in self.studies)

    def title(self) -> str:
        """E.g. "DOE JOHN (ID 123)", "A002304" when name and ID agree, or the folder's name."""
        if not self.name and not self.patient_id:
            return f"(no patient name or ID) folder {self.folder}"
        if not self.patient_id or self.name == self.patient_id:
            return self.name or self.patient_id
        return f"{self.name or '(no name)'} (ID {self.patient_id})"


def format_date(date: str) -> str:
    """DICOM DA "YYYYMMDD" → "YYYY-MM-DD"; anything else as written."""
    date = date.strip()
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 and date.isdigit() else date


def format_time(time: str) -> str:
    """DICOM TM "HHMMSS.frac" → "HH:MM"; anything else as written ("" stays "")."""
    time = time.strip()
    return f"{time[:2]}:{time[2:4]}" if len(time) >= 4 and time[:4].isdigit() else time


def _patient_key(ref: SeriesRef) -> tuple[str, str, str]:
    if ref.patient_id or ref.patient_name:
        return (ref.patient_id, ref.patient_name, "")
    return ("", "", str(ref.folder.parent))


def _study_key(ref: SeriesRef) -> tuple[str, ...]:
    if ref.study_uid:
        return (ref.study_uid,)
    return ("", ref.study_date, ref.study_time, ref.study_description, str(ref.folder.parent))


def _series_order(ref: SeriesRef) -> tuple:
    return (ref.series_number is None, ref.series_number or 0, ref.description, ref.key)


def _study_order(study: Study) -> tuple:
    return (not study.date, study.date, study.time, study.description, study.uid)


def group_series(refs: Iterable[SeriesRef]) -> tuple[Patient, ...]:
    """The series grouped patient → study → series: patients by name, then ID (those without
    either last, by folder); studies by date and time (undated last); series by number."""
    by_patient: dict[tuple, dict[tuple, list[SeriesRef]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        by_patient[_patient_key(ref)][_study_key(ref)].append(ref)
    patients = []
    for (patient_id, name, folder), studies in by_patient.items():
        grouped = []
        for members in studies.values():
            first = members[0]
            grouped.append(
                Study(
                    uid=first.study_uid,
                    date=first.study_date,
                    time=first.study_time,
                    description=first.study_description,
                    series=tuple(sorted(members, key=_series_order)),
                )
            )
        patients.append(
            Patient(
                name=name,
                patient_id=patient_id,
                folder=Path(folder).name if folder else "",
                studies=tuple(sorted(grouped, key=_study_order)),
            )
        )
    return tuple(
        sorted(patients, key=lambda p: (not (p.name or p.patient_id), p.name, p.patient_id, p.folder))
    )
