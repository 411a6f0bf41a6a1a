"""Who and what the report is about: the header fields and the patient line printed on every
page, with the patient's identifiers or, anonymised, a pseudonym that cannot be read back."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from lunglens.analysis import Analysis
from lunglens.io.series import Series, SeriesRef

ANONYMISED = "anonymised report"
#: What stands where an identifier was, in anonymised text.
WITHHELD = "(withheld)"
#: Shorter identifying strings are not searched for inside other text (they would hit numbers
#: and words); they are still left out of every anonymised field. Parts of the patient's name
#: from 2 characters ("Lee", "Ann", "山田") are withheld where they stand as words.
MIN_SCRUBBED_LENGTH = 4


@dataclass(frozen=True)
class Identity:
    """The patient line (one line, every page) and the header as (label, value) rows."""

    line: str
    rows: tuple[tuple[str, str], ...]
    anonymised: bool


def dicom_date(value: str) -> str:
    """DICOM DA "YYYYMMDD" → "YYYY-MM-DD"; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def dicom_age(value: str) -> str:
    """DICOM AS "039Y" → "39 years" (D, W, M, Y units); anything else unchanged."""
    units = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}
    if len(value) == 4 and value[:3].isdigit() and value[3] in units:
        return f"{int(value[:3])} {units[value[3]]}"
    return value


def pseudonym(series: Series) -> str:
    """A stable pseudonym for the series: the first 8 hex digits of a SHA-256 over its study and
    series UIDs (or its key), so two reports of one series agree and no identifier shows."""
    meta = series.metadata
    source = "|".join((meta.study_uid, meta.series_uid, series.ref.key))
    return "ANON-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:8].upper()


def identifying_strings(series: Series, extra_paths: Iterable[Path] = ()) -> list[str]:
    """Every string of `series` that can identify the patient, longest first: names, ID, dates,
    accession number, UIDs, descriptions, institution, the series key, and the folders and file
    names it was read from (file names often carry the patient ID) and those skipped beside them
    (`SeriesRef.skipped_beside`), plus `extra_paths` (other files in the folder)."""
    meta, ref = series.metadata, series.ref
    name_parts = {part for part in re.split(r"[\^=\s]+", meta.patient_name) if len(part) >= 2}
    found = {
        meta.patient_name,
        meta.patient_id,
        meta.patient_birth_date,
        meta.accession_number,
        meta.study_uid,
        meta.series_uid,
        meta.study_description,
        meta.series_description,
        meta.institution,
        ref.key,
        ref.key.split("#")[0],
        ref.description,
    }
    paths = {Path(p) for p, _ in ref.frames} | set(ref.skipped_beside) | {Path(p) for p in extra_paths}
    for path in paths:
        found |= {
            str(path),
            path.name,
            path.stem,
            str(path.parent),
            path.parent.name,
            path.parent.parent.name,
        }
    found = {s for s in found if len(s) >= MIN_SCRUBBED_LENGTH} | name_parts
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every one of `secrets`, in any case ("Abercrombie" for "ABERCROMBIE"),
    replaced by WITHHELD (pass them longest first); one shorter than MIN_SCRUBBED_LENGTH only
    where it stands as a word ("SIEMENS LEE", "D40s-LEE", not "SLEEP")."""
    for secret in secrets:
        pattern = re.escape(secret)
        if len(secret) < MIN_SCRUBBED_LENGTH:
            pattern = rf"(?<!\w){pattern}(?!\w)"
        text = re.sub(pattern, WITHHELD, text, flags=re.IGNORECASE)
    return text


def pixel_identity_problem(ref: SeriesRef) -> str | None:
    """Why no anonymised images of the series `ref` can be made (naming its folder), or None: its
    files declare identifying text burnt into the pixels (BurnedInAnnotation YES), which the key
    images of the report and of the DICOM results would show; LungLens does not remove it."""
    if not ref.burned_in_annotation:
        return None
    return (
        f"{ref.folder}: cannot be anonymised: its files declare identifying text in the pixels "
        "(BurnedInAnnotation YES), which the key images of the report and of the DICOM results would "
        "show; make identified outputs, or only the JSON"
    )


def anonymised(analysis: Analysis, series: Series, extra_paths: Iterable[Path] = ()) -> Analysis:
    """`analysis` with nothing that identifies the patient in its series record: the key becomes
    the pseudonym, description, folder, UIDs and the images' fingerprint are emptied, and
    identifying strings (`identifying_strings`) are withheld from the warnings and from the
    scanner's fields (manufacturer, model and kernel are free text a site may fill with anything).
    What every anonymised output (JSON, stdout, PDF) reads."""
    secrets = identifying_strings(series, extra_paths)
    record = replace(
        analysis.series,
        key=pseudonym(series),
        description="",
        folder="",
        study_uid="",
        series_uid="",
        fingerprint="",  # a digest of the source pixels: it would link the output back to them
        warnings=tuple(scrub(w, secrets) for w in analysis.series.warnings),
        manufacturer=scrub(analysis.series.manufacturer, secrets),
        scanner_model=scrub(analysis.series.scanner_model, secrets),
        kernel=scrub(analysis.series.kernel, secrets),
        anonymised=True,
    )
    return replace(analysis, series=record)


def _acquisition_rows(series: Series, analysis: Analysis) -> list[tuple[str, str]]:
    """Rows that describe the scan, not the patient: slices, thickness, spacing, scanner (as the
    analysis' series record states it: withheld where `anonymised` found identifiers)."""
    record = analysis.series
    thickness = record.slice_thickness_mm
    spacing = record.pixel_spacing_mm
    slices = (
        f"{series.n_slices} slices, {record.columns} x {record.rows} pixels, "
        f"thickness {f'{thickness:g} mm' if thickness else 'not stated'}, "
        f"spacing {series.slice_spacing_mm:g} mm{'' if record.positions_stated else ' (assumed)'}, "
        f"pixel {spacing[0]:.3f} mm"
        + ("" if record.pixel_spacing_stated else " (assumed: the files state no pixel size)")
    )
    scanner = " ".join(part for part in (record.manufacturer, record.scanner_model) if part) or "not stated"
    if record.kernel:
        scanner += f", kernel {record.kernel}"
    return [("Slices", slices), ("Scanner", scanner)]


def identity(series: Series, analysis: Analysis, anonymise: bool) -> Identity:
    """The report's header for `series`; with `anonymise`, only the pseudonym, the words
    "anonymised report" and the acquisition (no name, ID, dates, UIDs, descriptions, places)."""
    meta = series.metadata
    if anonymise:
        name = pseudonym(series)
        rows = [("Patient", f"{name} ({ANONYMISED})"), *_acquisition_rows(series, analysis)]
        return Identity(line=f"{name}: {ANONYMISED}", rows=tuple(rows), anonymised=True)
    name = meta.patient_name.replace("^", " ").strip() or "(no name in the files)"
    patient_id = meta.patient_id or "(no ID)"
    study_date = dicom_date(meta.study_date) or "(no date)"
    series_text = meta.series_description or analysis.series.description or "(no description)"
    if meta.series_number is not None:
        series_text += f" (series {meta.series_number})"
    rows = [
        ("Patient", name),
        ("Patient ID", patient_id),
        ("Sex, age", f"{meta.patient_sex or '?'}, {dicom_age(meta.patient_age) or '?'}"),
        ("Birth date", dicom_date(meta.patient_birth_date) or "not stated"),
        ("Study date", study_date),
        ("Accession number", meta.accession_number or "not stated"),
        ("Study", meta.study_description or "not stated"),
        ("Series", series_text),
        *_acquisition_rows(series, analysis),
        ("Institution", meta.institution or "not stated"),
        ("Folder", analysis.series.folder),
    ]
    return Identity(line=f"{name}, ID {patient_id}, study {study_date}", rows=tuple(rows), anonymised=False)
