"""The source images the DICOM results refer to: one header (no pixels) per slice of the
loaded series, in volume order (index 0 most superior), and the study they belong to.

Identified output joins the source study: the headers are the files' own, so every writer
copies the patient and study modules from them and its references resolve to the source
instances. Anonymised output cannot join the source study by UID without naming it, so it
becomes a study of its own: the headers are rebuilt from a short list of geometry attributes,
every UID (study, series, frame of reference, instance) is replaced by a new random one
(consistently within one output, so the objects still refer to each other and to the slices
they were computed on), the patient is the report's pseudonym, and dates, accession number,
institution, physicians, devices and descriptions are left out. Such references resolve to
nothing outside the output: that is the price of not naming the source."""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pydicom.valuerep import DA, TM

from lunglens.io.dicom import DicomFileError, read_dataset
from lunglens.io.series import Series, SeriesRef
from lunglens.report.identity import pixel_identity_problem, pseudonym


class DicomOutError(Exception):
    """DICOM results that cannot be written; the message names the series or file and why."""


#: Patient and study attributes of Type 2 that highdicom copies from the source: present
#: (empty when the files leave them out) so that every writer finds them.
TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)

#: What an anonymised header keeps of a source header: how the image lies in space and how its
#: pixels are stored (needed by the segmentation and the secondary captures), nothing that
#: names a person, a place, a date or a device.
GEOMETRY_KEPT = (
    "SOPClassUID",
    "Modality",
    "ImageType",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "SliceThickness",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "InstanceNumber",
    "BodyPartExamined",
    "PatientPosition",
)

#: UIDs that an anonymised header replaces (the same source UID always gets the same new one).
REPLACED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")


#: What every result needs of each source file: the study it joins and the instance it cites.
REFERENCE_ATTRIBUTES = ("StudyInstanceUID", "SOPClassUID", "SOPInstanceUID")

#: What the segmentation needs more of each source file: where its frame lies in space (highdicom
#: places each SEG frame on its source slice, in the slices' frame of reference, and states their
#: thickness). Not guessed: positions LungLens assumed, or a thickness taken from the spacing,
#: would be given to a PACS as the images' geometry.
SEGMENTATION_ATTRIBUTES = ("FrameOfReferenceUID", "ImagePositionPatient", "SliceThickness")


#: Values in forms that older equipment writes and pydicom reads, but DICOM no longer allows, and
#: that highdicom would copy into every result as they are: ACR-NEMA dates ("2020.06.01") and
#: ages of fewer than three digits ("45Y").
LEGACY_DATE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
SHORT_AGE = re.compile(r"(\d{1,3})([DWMY])")


def normalise_legacy_values(header: Dataset) -> None:
    """Rewrite, in `header` (a header read for the results: the source files are never touched),
    its dates of ACR-NEMA form as YYYYMMDD ("2020.06.01" -> "20200601") and its ages as three
    digits and a unit ("45Y" -> "045Y"); an age of neither form is left out (it is optional in
    every module that holds one)."""
    for element in list(header):  # the patient and study attributes are at the top level
        value = element.value
        if element.is_empty or not isinstance(value, str):
            continue
        if element.VR == "DA" and (date := LEGACY_DATE.fullmatch(value.strip())):
            element.value = "".join(date.groups())
        elif element.VR == "AS" and not re.fullmatch(r"\d{3}[DWMY]", value.strip()):
            age = SHORT_AGE.fullmatch(value.strip())
            if age:
                element.value = f"{int(age.group(1)):03d}{age.group(2)}"
            else:
                del header[element.tag]


def _patient_sex(value: str) -> None:
    """Raise ValueError unless `value` is a PatientSex highdicom accepts (M, F or O)."""
    if value not in ("M", "F", "O"):
        raise ValueError(value)


#: The source values highdicom validates when every result copies them (`highdicom.base`: the
#: patient's birth date and sex, the study's date and time), with how (a function that raises
#: ValueError for an invalid value) and what a valid one is: a value that is none (e.g. StudyDate
#: "20201301", PatientSex "MALE") stops every result. Anonymised results copy none of them.
VALIDATED_SOURCE_VALUES = {
    "PatientBirthDate": (DA, "date (YYYYMMDD)"),
    "PatientSex": (_patient_sex, "sex (M, F or O)"),
    "StudyDate": (DA, "date (YYYYMMDD)"),
    "StudyTime": (TM, "time (HHMMSS.FFFFFF)"),
}

#: What the reader can do about a source value the results cannot copy, by where the results go
#: (`dicom_results_problem`'s `outputs`): a folder (`analyze --dicom-out`), the PACS (`analyze
#: --store`), or the viewer (its Send sends identified results only).
INVALID_VALUE_REMEDIES = {
    "folder": "correct the files, or write anonymised results (--anonymise), which leave it out",
    "store": (
        "correct the files in the PACS; only anonymised results written to a folder "
        "(--dicom-out --anonymise) leave it out"
    ),
    "viewer": "correct the files: the results sent to a PACS name the patient and copy it",
}


def dicom_results_problem(
    ref: SeriesRef,
    *,
    segmentation: bool = True,
    files: bool = True,
    anonymise: bool = False,
    outputs: str = "folder",
) -> str | None:
    """Why no DICOM results can be made for the series `ref` (naming its folder), or None. They
    refer to the source's slices, one instance each, in the source's geometry: a folder without
    DICOM files, files that state no pixel spacing (LungLens assumed 1 mm), multi-frame files
    (whose slices are frames of one instance) and files without the UIDs to refer to cannot give
    them; with `segmentation` (a quantified analysis has a SEG), neither can files without their
    position, frame of reference or slice thickness (`SEGMENTATION_ATTRIBUTES`); unless
    `anonymise`, neither can files whose values copied into the results are invalid
    (`VALIDATED_SOURCE_VALUES`; what to do about it fits `outputs`, a key of
    `INVALID_VALUE_REMEDIES`). Reads each file's header (`lunglens.io.dicom.read_dataset`: bounded,
    never blocking); with `files` False, only what `ref` itself tells (no file read: the viewer's
    menu, updated as the reader works)."""
    problem = _series_problem(ref)
    if problem or not files:
        return problem
    keywords = REFERENCE_ATTRIBUTES + (SEGMENTATION_ATTRIBUTES if segmentation else ())
    headers = []
    for path in dict.fromkeys(path for path, _ in ref.frames):
        try:  # bounded, never blocks on a pipe put in the file's place
            headers.append((path, read_dataset(path, pixels=False)))
        except DicomFileError as exc:
            return f"{path}: cannot read the source header again ({exc})"
    return missing_attributes_problem(ref.folder, headers, keywords) or (
        None if anonymise else invalid_copied_values_problem(ref.folder, headers, outputs)
    )


def _series_problem(ref: SeriesRef) -> str | None:
    """What `dicom_results_problem` finds from `ref` alone, without reading a file."""
    if ref.source_format != "dicom":
        return (
            f"{ref.folder}: no DICOM results for a {ref.source_format.upper()} folder: they refer to "
            "the DICOM images they were computed on, and it has none"
        )
    if ref.pixel_spacing_mm is None:
        return (
            f"{ref.folder}: no DICOM results: the files state no usable pixel spacing (LungLens assumed 1 mm), "
            "and the results would give that guess as the images' geometry"
        )
    if any(frame is not None for _, frame in ref.frames):
        return (
            f"{ref.folder}: no DICOM results for a multi-frame (enhanced) series: they refer to one "
            "instance per slice, and its slices are frames of one instance"
        )
    return None


def missing_attributes_problem(
    folder: Path, headers: Iterable[tuple[Path, Dataset]], keywords: Iterable[str]
) -> str | None:
    """Which of `keywords` some of the (path, header) pairs lack or leave empty, naming `folder`,
    the attributes, how many files and the first of them; None when every header has them all."""
    headers = list(headers)
    missing: dict[str, list[Path]] = {}
    for keyword in keywords:
        lacking = [path for path, header in headers if keyword not in header or header[keyword].is_empty]
        if lacking:
            missing[keyword] = lacking
    if not missing:
        return None
    stated = []
    for keyword, paths in missing.items():
        first = paths[0].name + (" ..." if len(paths) > 1 else "")
        stated.append(
            keyword
            if len(paths) == len(headers)
            else f"{keyword} ({len(paths)} of the {len(headers)} files: {first})"
        )
    needs = (
        "every result needs to refer to the source images"
        if set(missing) & set(REFERENCE_ATTRIBUTES)
        else "the segmentation (SEG) needs to place its frames on the slices (--no-quantify leaves it out)"
    )
    return f"{folder}: no DICOM results: the files state no {', '.join(stated)}, which {needs}"


def invalid_copied_values_problem(
    folder: Path, headers: Iterable[tuple[Path, Dataset]], outputs: str = "folder"
) -> str | None:
    """Which of `VALIDATED_SOURCE_VALUES` some of the (path, header) pairs hold an invalid value
    of, naming `folder`, the attribute, its value and the first file, and what to do about it for
    `outputs` (`INVALID_VALUE_REMEDIES`); None when every value is valid or empty."""
    headers = list(headers)
    stated = []
    for keyword, (parse, valid) in VALIDATED_SOURCE_VALUES.items():
        bad = [
            (path, str(header[keyword].value))
            for path, header in headers
            if not _parses(header, keyword, parse)
        ]
        if bad:
            (path, value), files = bad[0], f"{len(bad)} of the {len(headers)} files"
            stated.append(
                f"{keyword} {value!r} is not a valid {valid} ({files}: {path.name}{' ...' * (len(bad) > 1)})"
            )
    if not stated:
        return None
    return (
        f"{folder}: no DICOM results: {'; '.join(stated)}, and every result copies it from the source "
        f"({INVALID_VALUE_REMEDIES[outputs]})"
    )


def _parses(header: Dataset, keyword: str, parse) -> bool:
    """Whether `header`'s `keyword` is absent, empty or a value `parse` (pydicom's DA or TM, or
    `_patient_sex`) accepts."""
    if keyword not in header or header[keyword].is_empty:
        return True
    try:
        with warnings.catch_warnings():  # pydicom warns of the value it then refuses
            warnings.simplefilter("ignore")
            parse(str(header[keyword].value))
    except (ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class SourceImages:
    """Headers of the source slices in volume order (`headers[i]` is slice i of the series;
    one instance each, `dicom_results_problem`), whether they are anonymised, and whether their
    pixels carry identifying text (`SeriesRef.burned_in_annotation`)."""

    headers: tuple[Dataset, ...]
    anonymised: bool
    burned_in_annotation: bool

    @property
    def study_uid(self) -> str:
        return str(self.headers[0].StudyInstanceUID)

    def study_header(self) -> Dataset:
        """The header whose patient and study modules every result copies (the middle slice)."""
        return self.headers[len(self.headers) // 2]


def unique_instances(headers: Iterable[Dataset]) -> list[Dataset]:
    """One header per source instance (by SOP Instance UID), in order of first appearance."""
    seen: dict[str, Dataset] = {}
    for header in headers:
        seen.setdefault(str(header.SOPInstanceUID), header)
    return list(seen.values())


def read_source_headers(
    series: Series, *, anonymise: bool, segmentation: bool, outputs: str = "folder"
) -> SourceImages:
    """The headers of `series`' source files (read without pixels), anonymised when asked.
    Raises DicomOutError for a series that cannot have DICOM results, or a SEG with
    `segmentation` (`dicom_results_problem`, its remedy fitting `outputs`: checked again on the
    whole headers, the files may have changed since), anonymised ones (`pixel_identity_problem`), or whose files cannot be
    read again."""
    problem = _series_problem(series.ref) or (anonymise and pixel_identity_problem(series.ref))
    if problem:
        raise DicomOutError(problem)
    by_path: dict[Path, Dataset] = {}
    for path in dict.fromkeys(series.source_paths):
        try:  # bounded, never blocks on a pipe put in the file's place (as `dicom_results_problem`)
            header = read_dataset(path, pixels=False)
        except DicomFileError as exc:
            raise DicomOutError(f"{path}: cannot read the source header again ({exc})") from exc
        for keyword in TYPE2_PATIENT_STUDY:
            if keyword not in header:
                setattr(header, keyword, "")
        normalise_legacy_values(header)
        by_path[path] = header
    keywords = REFERENCE_ATTRIBUTES + (SEGMENTATION_ATTRIBUTES if segmentation else ())
    problem = missing_attributes_problem(series.ref.folder, by_path.items(), keywords) or (
        None if anonymise else invalid_copied_values_problem(series.ref.folder, by_path.items(), outputs)
    )
    if problem:
        raise DicomOutError(problem)
    headers = tuple(by_path[path] for path in series.source_paths)
    if anonymise:
        headers = anonymised_headers(headers, pseudonym(series))
    return SourceImages(
        headers=headers, anonymised=anonymise, burned_in_annotation=series.ref.burned_in_annotation
    )


#: The Patient module's statement of how identifiers were removed.
DEIDENTIFICATION_METHOD = "LungLens: identifiers removed, geometry kept, UIDs replaced"


def mark_deidentified(dataset: Dataset) -> None:
    """Say in `dataset` that the patient's identity was removed (Patient module)."""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = DEIDENTIFICATION_METHOD


def anonymised_headers(headers: tuple[Dataset, ...], patient: str) -> tuple[Dataset, ...]:
    """Rebuild `headers` from GEOMETRY_KEPT only, with new UIDs (one per distinct source UID)
    and `patient` as the patient's name and ID; every other identifying attribute empty."""
    new_uid: defaultdict[str, str] = defaultdict(generate_uid)
    rebuilt: dict[str, Dataset] = {}
    for source in headers:
        key = str(source.SOPInstanceUID)
        if key in rebuilt:
            continue
        header = Dataset()
        for keyword in GEOMETRY_KEPT:
            if keyword in source:
                setattr(header, keyword, source[keyword].value)
        for keyword in REPLACED_UIDS:
            if keyword in source:
                setattr(header, keyword, new_uid[str(source[keyword].value)])
        for keyword in TYPE2_PATIENT_STUDY:
            setattr(header, keyword, "")
        header.PatientName = f"{patient}^"  # one family-name component, said explicitly
        header.PatientID = patient
        mark_deidentified(header)
        rebuilt[key] = header
    return tuple(rebuilt[str(source.SOPInstanceUID)] for source in headers)
