"""QIDO-RS: list the studies on a DICOMweb server, filtered by patient, date and modality, and the
series of a study."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset
from requests import RequestException

from lunglens.dicomout.identity import MANUFACTURER, PDF_SERIES, SC_SERIES, SEG_SERIES, SR_SERIES
from lunglens.io.dicom import person_name, text_of
from lunglens.pacs.connection import Connection, MalformedAnswer, PacsError, named_error

#: The study attributes asked for (QIDO-RS includefield).
STUDY_FIELDS = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "StudyDate",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "AccessionNumber",
)


@dataclass(frozen=True)
class StudySummary:
    """One study as QIDO-RS lists it ("" where the server says nothing)."""

    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    description: str
    modalities: tuple[str, ...]
    n_series: int | None
    n_instances: int | None

    def line(self) -> str:
        """One line for listings."""
        counts = f"{self.n_series if self.n_series is not None else '?'} series, "
        counts += f"{self.n_instances if self.n_instances is not None else '?'} instances"
        return (
            f"{self.study_date or '(no date)'}  {self.patient_id or '(no ID)'}  "
            f"{'/'.join(self.modalities) or '?'}  {self.description or '(no description)'}  "
            f"({counts})  {self.study_uid}"
        )


#: The series attributes asked for (QIDO-RS includefield).
SERIES_FIELDS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


@dataclass(frozen=True)
class SeriesSummary:
    """One series of a study as QIDO-RS lists it ("" or None where the server says nothing)."""

    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    n_instances: int | None

    @property
    def may_be_ct(self) -> bool:
        """Whether LungLens may analyse it: CT, or a modality the server does not state (the
        files then say)."""
        return self.modality in ("CT", "")

    @property
    def may_be_lunglens_result(self) -> bool:
        """Whether it may be a result series LungLens stores: numbered as those are
        (`lunglens.dicomout.identity`), whatever its description (archives rewrite them); its
        instances say whether LungLens made it (`results_for_series`)."""
        return self.series_number in RESULT_NUMBERS

    def line(self, index: int | None = None) -> str:
        """One line for listings: "[1]  CT  #3  Chest 1.0  (148 instances)  1.2.3", the index
        being its number among the study's CT series (`--series N`), none for the others."""
        number = self.series_number if self.series_number is not None else "?"
        count = self.n_instances if self.n_instances is not None else "?"
        return (
            f"{f'[{index}]' if index is not None else '   '}  {self.modality or '?'}  #{number}  "
            f"{self.description or '(no description)'}  ({count} instances)  {self.series_uid}"
        )


#: The series numbers of LungLens' results (SR, SEG, key images, PDF).
RESULT_NUMBERS = frozenset(s.number for s in (SR_SERIES, SEG_SERIES, SC_SERIES, PDF_SERIES))


def ct_series(listing: list[SeriesSummary]) -> list[SeriesSummary]:
    """The series of a study LungLens may analyse (`SeriesSummary.may_be_ct`), in the listing's
    order (series number): what `--series N` counts over DICOMweb."""
    return [s for s in listing if s.series_uid and s.may_be_ct]


def results_for_series(
    connection: Connection,
    listing: list[SeriesSummary],
    series_uid: str,
    instance_uids: frozenset[str] = frozenset(),
) -> list[SeriesSummary]:
    """The LungLens result series of a study (`listing`, `find_series`) that refer to series
    `series_uid`, from WADO-RS metadata of the series numbered as results only: those whose
    instances name LungLens as their manufacturer (any case) and hold `series_uid` (the SR's
    evidence, the SEG's source series, the key images' referenced series) or the SOP Instance
    UID of one of the series' instances `instance_uids` (the PDF's source instances: an
    Encapsulated PDF has no place for a series UID). Raises a named PacsError."""
    client = connection.client()
    found = []
    for series in listing:
        if not series.may_be_lunglens_result:
            continue
        what = f"reading the metadata of series {series.series_uid} of study {series.study_uid}"
        try:
            metadata = client.retrieve_series_metadata(series.study_uid, series.series_uid)
        except (PacsError, RequestException, ValueError) as exc:
            raise named_error(connection, exc, what) from None
        made_here = MANUFACTURER.casefold() in {m.casefold() for m in _values_in(metadata, "00080070")}
        sources = _values_in(metadata, "0020000E") | _values_in(metadata, "00081155")
        if made_here and (series_uid in sources or not instance_uids.isdisjoint(sources)):
            found.append(series)
    return found


def _values_in(item, tag: str) -> set[str]:
    """Every value of attribute `tag` (e.g. "0020000E", Series Instance UID) anywhere in DICOM
    JSON `item` (nested sequences included)."""
    found: set[str] = set()
    if isinstance(item, list):
        for value in item:
            found |= _values_in(value, tag)
    elif isinstance(item, dict):
        for key, value in item.items():
            if key == tag and isinstance(value, dict) and isinstance(value.get("Value"), list):
                found |= {str(v) for v in value["Value"]}
            else:
                found |= _values_in(value, tag)
    return found


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def dataset_from_json(item: dict) -> Dataset:
    """The dataset a DICOM JSON result `item` of a server's answer spells. Raises MalformedAnswer
    (without the server's name: `named_error` adds it) for one that spells none (an attribute
    that is no {"vr": ..., "Value": [...]}, a value of the wrong type)."""
    try:
        dataset = Dataset.from_json(item)
        for element in dataset:  # values are decoded when read
            str(element.value)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        raise MalformedAnswer("a result is not a DICOM JSON dataset") from None
    return dataset


def _summary(item: dict) -> StudySummary:
    ds = dataset_from_json(item)
    modalities = ds.get("ModalitiesInStudy", [])
    modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
    return StudySummary(
        study_uid=str(ds.get("StudyInstanceUID", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=person_name(ds),
        study_date=str(ds.get("StudyDate", "")),
        description=text_of(ds, "StudyDescription"),
        modalities=tuple(str(m) for m in modalities),
        n_series=_int(ds.get("NumberOfStudyRelatedSeries")),
        n_instances=_int(ds.get("NumberOfStudyRelatedInstances")),
    )


class Listing(list):
    """What a QIDO-RS search found (a list), with `caveat`: why it may be incomplete, in words
    naming the server ("" when it is complete as far as a client can tell)."""

    def __init__(self, items=(), caveat: str = ""):
        super().__init__(items)
        self.caveat = caveat


def every_result(search, uid_tag: str) -> tuple[list[dict], bool]:
    """(every result of a QIDO-RS search, each once; whether the server ignored the offset).
    `uid_tag`, e.g. "0020000D" for studies, says what makes one. Servers cap the results of one
    answer (often at a few hundred or thousand, as many as they choose), so `search(offset)` is
    asked again from the number of results so far until an answer brings nothing new: an empty
    one, or one a server that ignores the offset sends again (it would otherwise be asked
    forever; such a server may have left results out, which no answer says). No `limit` is sent:
    a server whose filters apply after its limit would page wrongly. Raises MalformedAnswer
    (unnamed, see `dataset_from_json`) for an answer that is not an array of JSON objects."""

    def uid(item: dict) -> str:
        value = item.get(uid_tag, {}).get("Value") if isinstance(item.get(uid_tag), dict) else None
        return str((value if isinstance(value, list) and value else [""])[0])

    results, seen, offset = [], set(), 0
    while True:
        page = search(offset)
        if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
            raise MalformedAnswer("the answer is not a JSON array of DICOM datasets")
        new = [item for item in page if uid(item) not in seen]
        if not new:
            return results, bool(page)
        seen.update(uid(item) for item in new)
        results.extend(new)
        offset += len(page)


def _caveat(connection: Connection, offset_ignored: bool, found: list, what: str) -> str:
    """The caveat of a listing whose server ignored the paging offset ("" otherwise)."""
    if not offset_ignored:
        return ""
    return (
        f"{connection.where}: the server ignored the paging offset when listing {what}; if it caps "
        f"its answers, there may be more than these {len(found)} (narrow the search to see them all)"
    )


def date_range_problem(date: str) -> str | None:
    """Why `date` is not a study date filter QIDO-RS can match (a DICOM date YYYYMMDD, or a range
    YYYYMMDD-YYYYMMDD with either end left out, its start not after its end), None when it is
    one."""
    ends = date.split("-")
    if len(ends) <= 2 and any(ends) and all(_is_dicom_date(end) for end in ends if end):
        if len(ends) == 2 and all(ends) and ends[0] > ends[1]:
            return f"study date range {date!r} ends before it begins ({ends[1]} is before {ends[0]})"
        return None
    return (
        f"study date {date!r} is not a date YYYYMMDD or a range YYYYMMDD-YYYYMMDD "
        "(either end may be left out, e.g. 20200301- or -20200331)"
    )


def _is_dicom_date(text: str) -> bool:
    """Whether `text` is a calendar date written YYYYMMDD."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return False
    try:
        datetime.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def find_studies(
    connection: Connection,
    *,
    patient: str | None = None,
    date: str | None = None,
    modality: str | None = None,
) -> Listing:
    """The studies (StudySummary) matching `patient` (Patient ID; `*` and `?` wildcards allowed),
    `date` (DICOM date or range, e.g. 20200301-20200331) and `modality` (e.g. CT), all of them:
    page by page where the server caps an answer (`every_result`; the listing's caveat says when
    a server that ignores the offset may have left some out). The modality is matched here, on
    the modalities each study lists (`_has_modality`), not sent: a search by ModalitiesInStudy
    is one a server may not page (Orthanc ignores its offset). Raises a named PacsError (before
    any request for a `date` that is not one, `date_range_problem`)."""
    filters = {}
    if patient:
        filters["PatientID"] = patient
    if date:
        problem = date_range_problem(date)
        if problem:
            raise PacsError(problem)
        filters["StudyDate"] = date
    client = connection.client()
    try:
        found, offset_ignored = every_result(
            lambda offset: client.search_for_studies(
                fields=list(STUDY_FIELDS), search_filters=filters, offset=offset
            ),
            "0020000D",
        )
        summaries = [_summary(item) for item in found]
    except (PacsError, RequestException) as exc:
        raise named_error(connection, exc, "searching for studies") from None
    studies = sorted(summaries, key=lambda s: (s.study_date, s.study_uid))
    if modality:
        studies = [study for study in studies if _has_modality(study, modality)]
    return Listing(studies, _caveat(connection, offset_ignored, studies, "studies"))


def _has_modality(study: StudySummary, modality: str) -> bool:
    """Whether `study` lists `modality` among its modalities (DICOM wildcards `*` and `?`); a
    study that lists none (a server that does not say) is kept: its series say what they are."""
    pattern = re.escape(modality).replace(r"\*", ".*").replace(r"\?", ".")
    return not study.modalities or any(re.fullmatch(pattern, m) for m in study.modalities)


def find_series(connection: Connection, study_uid: str) -> Listing:
    """The series (SeriesSummary) of study `study_uid`, by series number, with the caveat of
    `find_studies`, and another when the server states more series for the study
    (NumberOfStudyRelatedSeries, asked by a study search on its UID) than it listed: a server
    that caps its listings without paging them. Raises a named PacsError."""
    client = connection.client()
    try:
        found, offset_ignored = every_result(
            lambda offset: client.search_for_series(
                study_instance_uid=study_uid, fields=list(SERIES_FIELDS), offset=offset
            ),
            "0020000E",
        )
        series = [_series_summary(study_uid, item) for item in found]
        studies = client.search_for_studies(
            fields=["NumberOfStudyRelatedSeries"], search_filters={"StudyInstanceUID": study_uid}
        )
        if not isinstance(studies, list) or not all(isinstance(item, dict) for item in studies):
            raise MalformedAnswer("the answer is not a JSON array of DICOM datasets")
        stated = max((_summary(item).n_series or 0 for item in studies), default=0)
    except (PacsError, RequestException) as exc:
        raise named_error(connection, exc, f"listing the series of study {study_uid}") from None
    series.sort(key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))
    caveats = [_caveat(connection, offset_ignored, series, f"the series of study {study_uid}")]
    if stated > len(series):
        caveats.append(
            f"{connection.where}: the server lists {len(series)} of the {stated} series it states for "
            f"study {study_uid}: its listings may be capped (Orthanc: LimitFindResults)"
        )
    return Listing(series, "; ".join(c for c in caveats if c))


def _series_summary(study_uid: str, item: dict) -> SeriesSummary:
    ds = dataset_from_json(item)
    return SeriesSummary(
        study_uid=study_uid,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        modality=str(ds.get("Modality", "")).upper(),
        series_number=_int(ds.get("SeriesNumber")),
        description=text_of(ds, "SeriesDescription"),
        n_instances=_int(ds.get("NumberOfSeriesRelatedInstances")),
    )
