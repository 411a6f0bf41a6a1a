"""`lunglens analyze` on hostile input, end to end: what it prints, writes and withholds.

Classes (issue 12): privacy (--anonymise covers stdout, JSON and PDF), names that are not UTF-8
on a strict UTF-8 terminal, skipped files reported, a report whose key slice has an all-zero
Grad-CAM, a model whose outputs are not probabilities (no verdict)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from lunglens import cli
from lunglens.cli.common import EXIT_BAD_INPUT, EXIT_OK
from lunglens.report.document import page_count
from tests.factory import patch_bytes, write_series
from tests.inference.test_hostile_models import write_constant_model
from tests.tiny_model import write_tiny_model

#: A patient ID that is also a valid UID component, so it can hide in UIDs, folders and names.
SENTINEL = "4242424242"
FILE_NAME_ONLY = "MRN7781ZQ"  # in a file name only: withheld by the name of a file skipped beside the slices


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("pdftotext (poppler-utils) is missing under CI")
        pytest.skip("pdftotext (poppler-utils) not installed")
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _volume(n: int = 5) -> np.ndarray:
    """Stored values (HU + 1024) of a small chest-like series: body, two dark lungs."""
    volume = np.full((n, 64, 64), 1064, np.uint16)
    volume[:, 20:44, 10:28] = 150
    volume[:, 20:44, 36:54] = 150
    return volume


def _identifying_patient(folder: Path) -> list[Path]:
    """A series whose folder, file names, UIDs, patient ID and name (and the scanner's model and
    kernel, free text a site may fill with anything) carry SENTINEL, with a
    skipped file and a slice that fails to load (both named in warnings)."""
    names = [f"{SENTINEL}_{i:03d}.dcm" for i in range(6)]
    paths = write_series(
        folder, np.concatenate([_volume(5), _volume(1)]), np.arange(6) * -2.0, names=names,
        series_uid=f"1.2.826.0.1.3680043.8.498.{SENTINEL}.1", slope=1.234567, intercept=-1024 * 1.234567,
    )  # fmt: skip
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName = SENTINEL, f"DOE^{SENTINEL}"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{SENTINEL}"
        ds.SeriesDescription = f"chest {SENTINEL}"
        ds.AccessionNumber = SENTINEL
        ds.ManufacturerModelName, ds.ConvolutionKernel = f"Scanner {SENTINEL}", f"K{SENTINEL}"  # free text
        ds.save_as(path)
    patch_bytes(paths[-1], b"1.234567", b"inf")  # this slice is dropped with its file name
    (folder / f"{SENTINEL}_notes.txt").write_text("not an image")
    (folder / f"{FILE_NAME_ONLY}.dcm").write_bytes(
        paths[0].read_bytes()[:300]
    )  # cut short: named in a warning
    return paths


@pytest.mark.parametrize("anonymise", [True, False])
def test_anonymise_covers_stdout_json_and_pdf(tmp_path, capsys, anonymise):
    folder = tmp_path / f"patient-{SENTINEL}"
    _identifying_patient(folder)
    card = write_tiny_model(tmp_path / "m")
    out_json, out_pdf = tmp_path / "out.json", tmp_path / "out.pdf"
    arguments = [
        "analyze",
        str(folder),
        "--model",
        str(card),
        "--json",
        str(out_json),
        "--report",
        str(out_pdf),
        "--no-quantify",  # the small series holds too little lung to quantify (no verdict then)
    ]
    status = cli.main([*arguments, "--anonymise"] if anonymise else arguments)
    printed = "".join(capsys.readouterr())
    assert status == EXIT_OK, printed
    outputs = {
        "stdout and stderr": printed,
        "JSON": out_json.read_text(),
        "PDF text": pdf_text(out_pdf),
        "PDF bytes": out_pdf.read_bytes().decode("latin-1"),
    }
    leaks = [name for name, text in outputs.items() if SENTINEL in text or FILE_NAME_ONLY in text]
    assert (FILE_NAME_ONLY in outputs["JSON"]) is not anonymise  # a skipped file beside the slices
    if anonymise:
        assert leaks == []
        record = json.loads(outputs["JSON"])["series"]
        assert record["key"].startswith("ANON-")
        assert record["fingerprint"] == ""  # a digest of the source pixels links back to them
        assert "(withheld)" in outputs["JSON"]  # the dropped slice's warning, its name withheld
    else:  # the sentinel is there to be found: the test can see a leak
        assert set(leaks) >= {"stdout and stderr", "JSON", "PDF text"}
        assert len(json.loads(outputs["JSON"])["series"]["fingerprint"]) == 32


def test_skipped_files_are_reported_by_analyze(tmp_path, capsys):
    """A file of the series' folder cut short may be a slice of it: its warning, in the output and
    the JSON; notes and a pipe are no slice. A folder elsewhere that forms no series (a copy still
    arriving) is noted: perhaps it is the series the reader was after."""
    folder = tmp_path / "patient"
    paths = write_series(folder / "a", _volume(), np.arange(5) * -2.0)
    (folder / "a" / "notes.txt").write_text("hello")
    os.mkfifo(folder / "a" / "pipe")
    (folder / "a" / "cut.dcm").write_bytes(paths[0].read_bytes()[:300])
    (folder / "b").mkdir()
    for path in paths:
        (folder / "b" / path.name).write_bytes(path.read_bytes()[:300])
    card = write_tiny_model(tmp_path / "m")
    status = cli.main(
        ["analyze", str(folder), "--model", str(card), "--json", str(tmp_path / "a.json"), "--no-quantify"]
    )
    out = capsys.readouterr().out
    assert status == EXIT_OK
    line = (
        "1 entry in the series' folder skipped (file cut short: cut.dcm; `lunglens info FOLDER --skipped` "
        "says why in full)"
    )
    assert f"warning:  {line}" in out
    assert line in json.loads((tmp_path / "a.json").read_text())["series"]["warnings"]
    assert (
        f"note:     elsewhere in the folder, {folder / 'b'}: no series: 5 entries skipped (file cut short: "
        in out
    )


def test_names_that_are_not_utf8_on_a_strict_utf8_terminal(tmp_path):
    folder = tmp_path / os.fsdecode(b"pat\xe9\xff")
    names = [os.fsdecode(b"s\xe9%d.dcm" % i) for i in range(6)]
    paths = write_series(folder, np.concatenate([_volume(5), _volume(1)]), np.arange(6) * -2.0, names=names)
    patch_bytes(paths[-1], b"1024", b"1e9")  # RescaleIntercept -1024 → 1e9: dropped, named
    (folder / os.fsdecode(b"junk\xfe.txt")).write_text("x")
    card = write_tiny_model(tmp_path / "m")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    runs = [
        ["info", str(folder), "--skipped"],
        ["analyze", str(folder), "--model", str(card), "--report", str(tmp_path / "r.pdf"), "--json", str(tmp_path / "r.json"), "--no-quantify"],
    ]  # fmt: skip
    for arguments in runs:
        result = subprocess.run([sys.executable, "-m", "lunglens", *arguments], capture_output=True, env=env)
        stderr = result.stderr.decode("utf-8", "replace")
        assert result.returncode == 0 and "Traceback" not in stderr, stderr
        assert b"\\xe9" in result.stdout  # the name is shown, escaped as in the PDF
    assert page_count((tmp_path / "r.pdf").read_bytes()) >= 1
    assert "pat\\xe9\\xff" in pdf_text(tmp_path / "r.pdf").replace("\n", "")


def test_report_whose_key_slice_has_an_all_zero_cam(tmp_path, capsys):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0)
    card = write_constant_model(tmp_path / "m", [0.9, 0.1])  # every slice positive, CAM all zero
    status = cli.main(
        ["analyze", str(folder), "--model", str(card), "--report", str(tmp_path / "r.pdf"), "--no-quantify"]
    )
    assert status == EXIT_OK, capsys.readouterr().err
    assert page_count((tmp_path / "r.pdf").read_bytes()) >= 1


@pytest.mark.parametrize("answer", [[float("nan"), float("nan")], [0.3, 0.3]], ids=["nan", "sum-0.6"])
def test_model_output_that_is_not_a_probability_gives_no_verdict(tmp_path, capsys, answer):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0)
    card = write_constant_model(tmp_path / "m", answer)
    status = cli.main(["analyze", str(folder), "--model", str(card), "--json", str(tmp_path / "a.json")])
    out, err = capsys.readouterr()
    assert status == EXIT_BAD_INPUT
    assert "output probabilities are not probabilities" in err and "verdict" not in out
    assert not (tmp_path / "a.json").exists()


@pytest.mark.parametrize("intercept", [1e9, -1e9])
def test_series_with_no_usable_slice_gives_no_verdict(tmp_path, capsys, intercept):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0, intercept=intercept)
    status = cli.main(["analyze", str(folder), "--model", str(write_tiny_model(tmp_path / "m"))])
    out, err = capsys.readouterr()
    assert status == EXIT_BAD_INPUT and "values are not Hounsfield units" in err and "verdict" not in out


def test_skipped_tiff_pages_and_a_tiff_slice_without_hu_are_reported(tmp_path, capsys):
    import tifffile

    folder = tmp_path / "patient" / "SR_2"
    folder.mkdir(parents=True)
    for i, plane in enumerate(_volume(5), 1):
        tifffile.imwrite(folder / f"IM{i:05d}.tif", plane)
    tifffile.imwrite(folder / "IM00006.tif", _volume(3), photometric="minisblack")  # three pages in one file
    tifffile.imwrite(folder / "IM00007.tif", np.full((64, 64), 65535, np.uint16))  # 64511 HU
    card = write_tiny_model(tmp_path / "m")
    status = cli.main(["analyze", str(tmp_path / "patient"), "--model", str(card), "--no-quantify"])
    out = capsys.readouterr().out
    assert status == EXIT_OK
    assert "warning:  1 entry in the series' folder skipped (TIFF of shape (3, 64, 64)" in out
    assert "skipped IM00007.tif: values are not Hounsfield units" in out
    assert "(5 slices)" in out  # IM00007 dropped


@pytest.mark.parametrize(
    "make", [lambda p: p.symlink_to("/dev/null"), lambda p: p.write_text("x"), os.mkfifo]
)
def test_demo_data_onto_something_that_is_not_a_folder_is_refused(tmp_path, capsys, make):
    target = tmp_path / "target"
    make(target)
    assert cli.main(["demo-data", str(target), "--slices", "35"]) == EXIT_BAD_INPUT
    assert "exists and is not a folder" in capsys.readouterr().err


def test_a_head_ct_gets_no_verdict(tmp_path, capsys):
    """Slices above the lungs (soft tissue in air): the selector keeps none, so no "normal: 0 of 0"."""
    volume = np.full((6, 64, 64), 24, np.uint16)
    volume[:, 12:52, 12:52] = 1064
    write_series(tmp_path / "head", volume, -2.0 * np.arange(6))
    card = write_tiny_model(tmp_path / "m")
    status = cli.main(
        ["analyze", str(tmp_path / "head"), "--model", str(card), "--json", str(tmp_path / "a.json")]
    )
    out, err = capsys.readouterr()
    assert status == EXIT_BAD_INPUT and "no verdict" in err and "verdict:" not in out
    assert not (tmp_path / "a.json").exists()


@pytest.mark.filterwarnings("ignore:Found unknown escape sequence")  # pydicom, on the ESC written on purpose
def test_a_line_break_or_escape_in_a_name_cannot_forge_an_output_line(tmp_path, capsys):
    """A skipped file named with a line break and a fake verdict, and a SeriesDescription with a
    carriage return and a terminal escape: printed as \\xNN escapes, never as lines of their own."""
    folder = tmp_path / "patient"
    paths = write_series(folder, _volume(), np.arange(5) * -2.0)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SeriesDescription = "x\rverdict:  COVID-19\x1b[2K"
        ds.save_as(path)
    (folder / "junk\nverdict:  normal: 0 of 90.dcm").write_bytes(b"not DICOM")
    card = write_tiny_model(tmp_path / "m")
    assert cli.main(["info", str(folder), "--skipped"]) == EXIT_OK
    assert cli.main(["analyze", str(folder), "--model", str(card), "--no-quantify"]) == EXIT_OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert sum(line.startswith("verdict:") for line in lines) == 1
    assert "\x1b" not in out and "\r" not in out
    assert "junk\\x0averdict:" in out and "x\\x0dverdict:  COVID-19\\x1b[2K" in out


def test_batch_threads_above_the_cores_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(2)))
    series = tmp_path / "src" / "patient"
    write_series(series, _volume(), np.arange(5) * -2.0)
    out = tmp_path / "out"
    assert cli.main(["batch", str(tmp_path / "src"), "--out", str(out), "--threads", "3"]) == EXIT_BAD_INPUT
    assert "--threads 3: more threads per worker than this machine's 2 cores" in capsys.readouterr().err
    assert not out.exists()


# --- outputs refused before anything runs (HOSTILE_CLI 3, 6, 7, 8, 9) ---------------------------


def _phantom_without(folder: Path, keyword: str, files=slice(None)) -> Path:
    """The DICOM-results phantom (`tests.dicomout.unusable`) with `keyword` deleted from `files`."""
    from tests.dicomout.unusable import phantom_slices

    for path in phantom_slices(folder)[files]:
        ds = pydicom.dcmread(path)
        delattr(ds, keyword)
        ds.save_as(path)
    return folder


#: Attributes the DICOM results need of each source file (the UIDs every result refers with;
#: the SEG's geometry).
NEEDED = [
    "StudyInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "ImagePositionPatient",
    "SliceThickness",
]


@pytest.mark.parametrize("keyword", NEEDED)
def test_dicom_out_refuses_files_without_what_the_results_need_before_the_analysis(tmp_path, capsys, keyword):
    folder = _phantom_without(tmp_path / "series", keyword)
    card = write_tiny_model(tmp_path / "m")
    report, out = tmp_path / "a.pdf", tmp_path / "dicom"
    argv = [
        "analyze",
        str(folder),
        "--model",
        str(card),
        "--lesion-method",
        "hu_bands",
        "--report",
        str(report),
    ]
    status = cli.main([*argv, "--dicom-out", str(out)])
    captured = capsys.readouterr()
    assert status == EXIT_BAD_INPUT and "verdict" not in captured.out
    assert f"{folder}: no DICOM results: the files state no {keyword}, which" in captured.err
    assert not report.exists() and not out.exists()


def test_results_without_a_segmentation_need_no_slice_geometry(tmp_path, capsys):
    folder = _phantom_without(tmp_path / "series", "SliceThickness")
    card = write_tiny_model(tmp_path / "m")
    out = tmp_path / "dicom"
    assert (
        cli.main(["analyze", str(folder), "--model", str(card), "--no-quantify", "--dicom-out", str(out)])
        == 0
    )
    assert (out / "lunglens-sr.dcm").exists() and not (out / "lunglens-seg.dcm").exists()


def test_a_file_of_the_series_without_a_frame_of_reference_is_named(tmp_path):
    from lunglens.dicomout import dicom_results_problem
    from lunglens.io import discover

    folder = _phantom_without(tmp_path / "series", "FrameOfReferenceUID", slice(3, 5))
    (ref,) = discover(folder).analysable
    problem = dicom_results_problem(ref)
    assert problem.startswith(
        f"{folder}: no DICOM results: the files state no FrameOfReferenceUID (2 of the 16"
    )
    assert ref.frames[3][0].name in problem
    assert dicom_results_problem(ref, segmentation=False) is None  # the SR and key images need none


def test_what_highdicom_refuses_is_a_named_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    """The last line of defence: a writer's own exception names the folder (exit 2)."""
    from pydicom.valuerep import DA

    from lunglens.dicomout import write
    from tests.dicomout.unusable import phantom_slices

    def refuse(*args, **kwargs):  # as the library refuses a value of the files
        return DA("20201345")

    def bug(*args, **kwargs):  # a LungLens error: never blamed on the files
        return {}["right_upper"]

    folder = tmp_path / "series"
    phantom_slices(folder)
    card = write_tiny_model(tmp_path / "m")
    argv = ["analyze", str(folder), "--model", str(card), "--lesion-method", "hu_bands"]
    monkeypatch.setattr(write, "build_seg", refuse)
    assert cli.main([*argv, "--dicom-out", str(tmp_path / "dicom")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{folder}: the DICOM results cannot be made from its files (ValueError: month must be" in err
    assert not (tmp_path / "dicom").exists()
    monkeypatch.setattr(write, "build_seg", bug)
    with pytest.raises(KeyError, match="right_upper"):
        cli.main([*argv, "--dicom-out", str(tmp_path / "dicom")])


def _one_file_twice(tmp_path: Path, spelling: str) -> tuple[str, str]:
    """Two spellings of one output file: the same, through `..`, a symbolic link, a hard link."""
    first = tmp_path / "out.x"
    (tmp_path / "a").mkdir()
    if spelling == "same":
        return str(first), str(first)
    if spelling == "dotdot":
        return str(tmp_path / "a" / ".." / "out.x"), str(first)
    if spelling == "symlink":
        (tmp_path / "link.x").symlink_to(first)
        return str(tmp_path / "link.x"), str(first)
    first.write_text("an earlier output")
    os.link(first, tmp_path / "hard.x")
    return str(tmp_path / "hard.x"), str(first)


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_json_and_report_naming_one_file_are_refused_before_the_analysis(tmp_path, capsys, spelling):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0)
    card = write_tiny_model(tmp_path / "m")
    json_path, report = _one_file_twice(tmp_path, spelling)
    argv = ["analyze", str(folder), "--model", str(card), "--no-quantify", "--json", json_path]
    assert cli.main([*argv, "--report", report]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert "the two outputs are one file" in captured.err and "verdict" not in captured.out


def test_json_or_report_over_a_dicom_out_result_is_refused(tmp_path, capsys):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0)
    out = tmp_path / "dicom"
    out.mkdir()
    argv = ["analyze", str(folder), "--no-quantify", "--dicom-out", str(out)]
    assert cli.main([*argv, "--report", str(out / "lunglens-sr.dcm")]) == EXIT_BAD_INPUT
    assert "is one of the files --dicom-out" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--json", "--report"])
def test_a_missing_folder_for_json_or_report_is_refused_before_the_analysis(tmp_path, capsys, option):
    folder = tmp_path / "patient"
    write_series(folder, _volume(), np.arange(5) * -2.0)
    card = write_tiny_model(tmp_path / "m")
    target = tmp_path / "nodir" / "sub" / "x"
    assert cli.main(["analyze", str(folder), "--model", str(card), "--no-quantify", option, str(target)]) == 2
    captured = capsys.readouterr()
    assert f"{target}: cannot be written: the folder {target.parent} does not exist" in captured.err
    assert "verdict" not in captured.out


LONG_NAME = "x" * 300


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["analyze", "{series}", "--no-quantify", "--dicom-out", "{long}"], "File name too long"),
        (
            ["analyze", "{series}", "--no-quantify", "--dicom-out", "{loop}"],
            "Too many levels of symbolic links",
        ),
        (["analyze", "{series}", "--no-quantify", "--json", "{long}"], "File name too long"),
        (
            ["analyze", "{series}", "--no-quantify", "--report", "{loop}/r.pdf"],
            "Too many levels of symbolic links",
        ),
        (["analyze", "{long}"], "File name too long"),
        (["info", "{long}"], "File name too long"),
        (["info", "{loop}"], "Too many levels of symbolic links"),
        (["batch", "{series}", "--out", "{long}"], "File name too long"),
        (["batch", "{series}", "--out", "{loop}"], "Too many levels of symbolic links"),
        (["batch", "{long}", "--out", "{tmp}/out"], "File name too long"),
        (["batch", "{loop}", "--out", "{tmp}/out"], "Too many levels of symbolic links"),
    ],
)
def test_paths_the_os_refuses_are_named_with_its_reason(tmp_path, capsys, argv, reason):
    series = tmp_path / "patient"
    write_series(series, _volume(), np.arange(5) * -2.0)
    (tmp_path / "loopA").symlink_to(tmp_path / "loopB")
    (tmp_path / "loopB").symlink_to(tmp_path / "loopA")
    names = {"series": series, "long": tmp_path / LONG_NAME, "loop": tmp_path / "loopA", "tmp": tmp_path}
    argv = [arg.format(**names) for arg in argv]
    assert cli.main(argv) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert f"({reason})" in captured.err and "Traceback" not in captured.err
    assert "verdict" not in captured.out and not (tmp_path / "out").exists()
