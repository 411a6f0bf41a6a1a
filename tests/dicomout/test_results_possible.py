"""Series LungLens analyses but cannot give DICOM results for (no pixel spacing, multi-frame, TIFF):
`lunglens analyze --dicom-out` refuses them before anything runs or is written (exit 2, the folder
and the reason named), never with a traceback after the JSON and the PDF were written. A series
whose pixels carry identifying text (BurnedInAnnotation YES) gets no anonymised report or results."""

from __future__ import annotations

import pydicom
import pytest

from lunglens import cli
from lunglens.dicomout import dicom_results_problem
from lunglens.io import discover
from tests.dicomout.unusable import UNUSABLE, phantom_slices, with_burned_in_annotation
from tests.tiny_model import write_tiny_model


@pytest.mark.parametrize("anonymise", [False, True])
@pytest.mark.parametrize(("make", "reason"), UNUSABLE)
def test_analyze_refuses_dicom_results_before_writing_anything(tmp_path, capsys, make, reason, anonymise):
    folder = make(tmp_path / "series")
    card = write_tiny_model(tmp_path / "m")
    json_path, report, out = tmp_path / "a.json", tmp_path / "a.pdf", tmp_path / "dicom"
    argv = ["analyze", str(folder), "--model", str(card), "--json", str(json_path), "--report", str(report)]
    status = cli.main([*argv, "--dicom-out", str(out), *(["--anonymise"] if anonymise else [])])
    captured = capsys.readouterr()
    assert status == cli.EXIT_BAD_INPUT
    assert reason in captured.err and str(folder) in captured.err
    assert "join the source study" not in captured.err and "Traceback" not in captured.err
    assert "verdict" not in captured.out
    assert not json_path.exists() and not report.exists() and not out.exists()


@pytest.mark.parametrize(("make", "reason"), UNUSABLE)
def test_the_series_record_says_why(tmp_path, make, reason):
    (ref,) = discover(make(tmp_path / "series")).analysable
    assert reason in dicom_results_problem(ref)


def test_a_single_frame_series_with_pixel_spacing_can_have_results(covid_ct_md):
    (ref,) = discover(covid_ct_md / "P001").analysable
    assert dicom_results_problem(ref) is None


@pytest.mark.parametrize("option", ["--report", "--dicom-out"])
def test_analyze_refuses_anonymised_images_of_pixels_with_identifying_text(tmp_path, capsys, option):
    folder = with_burned_in_annotation(tmp_path / "series")
    (ref,) = discover(folder).analysable
    assert ref.burned_in_annotation  # one slice of the series says so
    card = write_tiny_model(tmp_path / "m")
    json_path, target = tmp_path / "a.json", tmp_path / "target"
    argv = ["analyze", str(folder), "--model", str(card), "--json", str(json_path), "--anonymise"]
    status = cli.main([*argv, option, str(target)])
    captured = capsys.readouterr()
    assert status == cli.EXIT_BAD_INPUT and "verdict" not in captured.out
    assert str(folder) in captured.err
    assert "identifying text in the pixels (BurnedInAnnotation YES)" in captured.err
    assert not json_path.exists() and not target.exists()
    assert cli.main(argv) == 0  # the JSON carries no pixels
    assert json_path.exists()


@pytest.mark.parametrize(
    ("keyword", "value", "said"),
    [
        ("StudyDate", "20201301", "StudyDate '20201301' is not a valid date (YYYYMMDD)"),
        ("StudyTime", "256100", "StudyTime '256100' is not a valid time (HHMMSS.FFFFFF)"),
        ("PatientBirthDate", "19800230", "PatientBirthDate '19800230' is not a valid date (YYYYMMDD)"),
        ("PatientSex", "MALE", "PatientSex 'MALE' is not a valid sex (M, F or O)"),
    ],
)
def test_an_invalid_value_copied_into_the_results_is_refused_before_anything_runs(
    tmp_path, capsys, keyword, value, said
):
    folder = tmp_path / "series"
    for path in phantom_slices(folder):
        ds = pydicom.dcmread(path)
        setattr(ds, keyword, value)
        ds.save_as(path)
    card = write_tiny_model(tmp_path / "m")
    json_path, out = tmp_path / "a.json", tmp_path / "dicom"
    argv = ["analyze", str(folder), "--model", str(card), "--json", str(json_path), "--dicom-out", str(out)]
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == cli.EXIT_BAD_INPUT and "verdict" not in captured.out
    assert f"{folder}: no DICOM results: {said}" in captured.err and "Error" not in captured.err
    assert "or write anonymised results (--anonymise), which leave it out" in captured.err
    assert not json_path.exists() and not out.exists()
    assert cli.main([*argv, "--anonymise"]) == 0  # anonymised results copy no date
    assert len(list(out.iterdir())) >= 3


def _with_patient_sex(folder, value: str):
    for path in phantom_slices(folder):
        ds = pydicom.dcmread(path)
        ds.PatientSex = value
        ds.save_as(path)
    return folder


@pytest.mark.parametrize(
    ("outputs", "said", "not_said"),
    [
        ("folder", "(correct the files, or write anonymised results (--anonymise)", None),
        (
            "store",
            "(correct the files in the PACS; only anonymised results written to a folder",
            "(--anonymise)",
        ),
        ("viewer", "(correct the files: the results sent to a PACS name the patient", "--anonymise"),
    ],
)
def test_the_remedy_for_an_invalid_value_fits_where_the_results_go(tmp_path, outputs, said, not_said):
    (ref,) = discover(_with_patient_sex(tmp_path / "series", "MALE")).analysable
    problem = dicom_results_problem(ref, outputs=outputs)
    assert said in problem and (not_said is None or not_said not in problem)


def test_what_highdicom_still_refuses_is_a_named_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    """The backstop: a value highdicom refuses inside the standard library (PatientSex through an
    Enum) that the check before the analysis would have let through."""
    import lunglens.dicomout.source as source

    folder = _with_patient_sex(tmp_path / "series", "MALE")
    monkeypatch.setattr(source, "invalid_copied_values_problem", lambda *args: None)
    card = write_tiny_model(tmp_path / "m")
    argv = ["analyze", str(folder), "--model", str(card), "--no-quantify", "--dicom-out", str(tmp_path / "d")]
    status = cli.main(argv)
    captured = capsys.readouterr()
    assert status == cli.EXIT_BAD_INPUT and "verdict" in captured.out
    assert f"{folder}: the DICOM results cannot be made from its files (ValueError: " in captured.err
    assert "MALE" in captured.err


def test_legacy_dates_and_short_ages_are_written_in_the_forms_dicom_allows(tmp_path, capsys):
    """An ACR-NEMA StudyDate ("2020.06.01") and a two-digit PatientAge ("45Y"), which pydicom reads,
    reach the results as "20200601" and "045Y", not as they are; the source files stay as they were."""
    folder = tmp_path / "series"
    paths = phantom_slices(folder)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyDate, ds.PatientAge, ds.PatientBirthDate = "2020.06.01", "45Y", "1975.01.31"
        ds.save_as(path)
    card = write_tiny_model(tmp_path / "m")
    out = tmp_path / "dicom"
    assert cli.main(["analyze", str(folder), "--model", str(card), "--dicom-out", str(out)]) == 0
    results = sorted(out.glob("*.dcm"))
    assert len(results) >= 3
    for path in results:
        ds = pydicom.dcmread(path)
        assert (ds.StudyDate, ds.PatientBirthDate) == ("20200601", "19750131"), path.name
        assert ds.get("PatientAge", "045Y") == "045Y", path.name
    assert any("PatientAge" in pydicom.dcmread(path) for path in results)
    assert pydicom.dcmread(paths[0]).StudyDate == "2020.06.01"  # the source untouched
