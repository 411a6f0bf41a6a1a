"""Patients in order: discovered series grouped patient → study → series, on COVID-19-NY-SBU
(five patients, two time points each) and on DICOM folders written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from lunglens.io import discover
from lunglens.io.grouping import format_date, format_time, group_series
from tests.factory import write_series


def test_ny_sbu_reads_as_five_patients_with_two_dated_studies_each(shared_data):
    found = discover(shared_data / "covid19-ny-sbu")
    patients = group_series(found.series)
    assert [p.title() for p in patients] == ["A002304", "A027284", "A046441", "A048383", "A056642"]
    for patient in patients:
        assert len(patient.studies) == 2 and patient.n_series == 6
        first, second = patient.studies
        assert first.date < second.date  # the earlier time point first
        for study in patient.studies:
            assert {ref.orientation for ref in study.series} == {"axial", "coronal", "sagittal"}
            numbers = [ref.series_number for ref in study.series]
            assert numbers == sorted(numbers)
            assert all(
                ref.patient_id == patient.patient_id and ref.study_date == study.date for ref in study.series
            )
    a002304 = patients[0]
    assert [s.title() for s in a002304.studies] == [
        "1900-12-31 00:15 · CT ABD AND PELVIS WITH IV CONT",
        "1901-01-12 09:17 · CT CHEST PULMONARY ANGIO WITH IV CON",
    ]
    assert a002304.studies[0].series[0].description == "CHEST 2.5 MM/ABD.PEL 2.5MM"


def _retag(paths: list[Path], **tags) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in tags.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)


def _series(folder: Path, number: int, **tags) -> None:
    paths = write_series(folder, np.zeros((3, 8, 8), np.int16), [0.0, -2.0, -4.0])
    _retag(paths, SeriesNumber=number, **tags)


def test_several_patients_and_time_points_in_one_folder(tmp_path):
    late, early = generate_uid(), generate_uid()
    _series(
        tmp_path / "a", 3, PatientName="ROE^JANE", PatientID="P2", StudyInstanceUID=late, StudyDate="20210302"
    )
    _series(
        tmp_path / "b", 1, PatientName="ROE^JANE", PatientID="P2", StudyInstanceUID=late, StudyDate="20210302"
    )
    _series(
        tmp_path / "c",
        2,
        PatientName="ROE^JANE",
        PatientID="P2",
        StudyInstanceUID=early,
        StudyDate="20200115",
    )
    _series(tmp_path / "d", 1, PatientName="DOE^JOHN", PatientID="P1", StudyInstanceUID=generate_uid())
    patients = group_series(discover(tmp_path).series)
    assert [p.title() for p in patients] == ["DOE JOHN (ID P1)", "ROE JANE (ID P2)"]
    jane = patients[1]
    assert [s.date for s in jane.studies] == ["20200115", "20210302"]
    assert [ref.series_number for ref in jane.studies[1].series] == [1, 3]
    assert [s.title() for s in patients[0].studies] == ["(no study date)"]


def test_series_without_patient_identity_stay_apart_by_folder(tmp_path):
    for name in ("anon1", "anon2"):
        _series(tmp_path / name / "series", 1, PatientName=None, PatientID=None, StudyInstanceUID=None)
    _series(tmp_path / "named", 1, PatientName="", PatientID="X9")
    patients = group_series(discover(tmp_path).series)
    assert [p.title() for p in patients] == [
        "(no name) (ID X9)",
        "(no patient name or ID) folder anon1",
        "(no patient name or ID) folder anon2",
    ]


@pytest.mark.parametrize(
    ("written", "shown"),
    [("20200115", "2020-01-15"), ("2020", "2020"), ("", ""), ("2020.01.15", "2020.01.15")],
)
def test_study_dates_read_as_written(written, shown):
    assert format_date(written) == shown


@pytest.mark.parametrize(("written", "shown"), [("091707", "09:17"), ("0917", "09:17"), ("", ""), ("9", "9")])
def test_study_times_read_as_written(written, shown):
    assert format_time(written) == shown


def test_a_multi_valued_series_description_reads_as_dicom_text_not_a_python_list(tmp_path):
    """`a/b\\c` is two values of a Series Description (a backslash separates values): read as the
    text DICOM writes, everywhere (the series, the report's metadata, a PACS listing)."""
    from lunglens.io.dicom import series_metadata
    from lunglens.pacs.find import _series_summary
    from lunglens.synthetic import write_dicom_series

    paths = write_dicom_series(np.full((2, 16, 16), -800.0), [0.0, -5.0], 1.0, 5.0, tmp_path / "s")
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SeriesDescription = "a/b\\c"
        ds.save_as(path)
    (ref,) = discover(tmp_path / "s").series
    ds = pydicom.dcmread(paths[0])
    assert ref.description == "a/b\\c"
    assert series_metadata(ds).series_description == "a/b\\c"
    assert _series_summary("1.2", ds.to_json_dict()).description == "a/b\\c"
