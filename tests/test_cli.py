"""`lunglens info` as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "lunglens", *args], capture_output=True, text=True)


def test_info_lists_three_analysable_series_and_the_lung_open_span(covid_ct_md):
    result = run("info", str(covid_ct_md), "--select")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("— analysable") == 3
    assert result.stdout.count("lung-open span") == 3
    assert "kept 90 of 148 slices" in result.stdout  # P001
    assert "2 file(s) skipped" in result.stdout  # slice_labels.csv, lobe_labels.csv


def test_info_explains_non_analysable_series(shared_data):
    result = run("info", str(shared_data / "dicom-robustness" / "wg04_dicom-test-files"), "--skipped")
    assert result.returncode == 0
    assert "NOT analysable: not CT (modality MR)" in result.stdout
    assert "CT1_JPLL.dcm" in result.stdout  # a one-file series is shown by its file


def test_bad_folder_gives_exit_code_2_and_no_traceback(tmp_path):
    result = run("info", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such folder" in result.stderr and "Traceback" not in result.stderr
    empty = run("info", str(tmp_path))
    assert empty.returncode == 2 and "holds no files" in empty.stderr
