"""`lunglens analyze` as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pydicom

from tests.factory import write_series
from tests.tiny_model import write_tiny_model


def run(*args):
    """`lunglens analyze ARGS` in a subprocess, with the fast lesion method named (these tests are
    not about it; tests/test_cli_lesion_method.py is)."""
    return subprocess.run(
        [sys.executable, "-m", "lunglens", "analyze", *args, "--lesion-method", "hu_bands"],
        capture_output=True,
        text=True,
    )


def test_analyze_real_series_writes_json(covid_ct_md, tmp_path):
    card = write_tiny_model(tmp_path / "m")
    out = tmp_path / "p001.json"
    result = run(str(covid_ct_md / "P001"), "--model", str(card), "--json", str(out), "--fraction", "0")
    assert result.returncode == 0, result.stderr
    assert "kept 90 of 148 slices" in result.stdout
    assert "verdict:" in result.stdout and "on CPU" in result.stdout
    # k of n once (in the verdict), the slice rule beside it
    assert result.stdout.count("kept slices positive") == 1
    assert "slices:   positive when P(COVID) >= 0.5\n" in result.stdout
    assert "caveat:   The model tells COVID-19 from normal only: other pneumonias" in result.stdout
    data = json.loads(out.read_text())
    assert len(data["slices"]) == 148 and data["decision"]["n_kept"] == 90
    assert data["decision"]["params"]["patient_fraction"] == 0.0
    assert not list(tmp_path.glob(".*part"))  # the temporary file was renamed


def test_folder_with_several_series_asks_for_a_choice(covid_ct_md, tmp_path):
    card = write_tiny_model(tmp_path / "m")
    result = run(str(covid_ct_md), "--model", str(card))
    assert result.returncode == 2 and "choose one with --series" in result.stderr
    chosen = run(str(covid_ct_md), "--model", str(card), "--series", "3")
    assert chosen.returncode == 0, chosen.stderr
    assert "normal001" in chosen.stdout.splitlines()[0]  # "series: ... in .../normal001"


def _one_series(folder):
    stored = np.full((4, 64, 64), 1024, np.uint16)
    write_series(folder, stored, -2.0 * np.arange(4))
    return folder


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    card = write_tiny_model(tmp_path / "m")
    missing = run(str(tmp_path / "absent"), "--model", str(card))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    bad_fraction = run(str(tmp_path), "--model", str(card), "--fraction", "2")
    assert bad_fraction.returncode == 2 and "patient fraction" in bad_fraction.stderr
    assert all("Traceback" not in r.stderr for r in (missing, bad_fraction))


def test_a_model_that_cannot_be_loaded_exits_2_naming_it(tmp_path):
    """The folder holds an analysable series, so what stops the run is the model."""
    folder = _one_series(tmp_path / "patient")
    card = write_tiny_model(tmp_path / "m")
    onnx_file = card.with_suffix(".onnx")
    onnx_file.write_bytes(onnx_file.read_bytes()[:-10])  # no longer the file the card hashed
    for model, reason in ((tmp_path / "nope.onnx", "model card not found"), (card, "does not match")):
        result = run(str(folder), "--model", str(model))
        assert result.returncode == 2, result.stdout
        assert reason in result.stderr and str(model.with_suffix("")) in result.stderr
        assert "Traceback" not in result.stderr and "verdict" not in result.stdout


def test_unwritable_json_destination_is_bad_input(covid_ct_md, tmp_path):
    card = write_tiny_model(tmp_path / "m")
    result = run(
        str(covid_ct_md / "P001"), "--model", str(card), "--json", str(tmp_path / "no" / "dir" / "x.json")
    )
    assert result.returncode == 2 and "the folder" in result.stderr and "does not exist" in result.stderr
    assert "verdict" not in result.stdout  # refused before the analysis


def test_the_operating_point_is_printed_as_set_in_every_output(covid_ct_md, tmp_path):
    """f and the cut-off are written exactly (`core.decision.exact_text`) by the CLI, the PDF and
    the SR alike; `:g` rounded them to six digits (0.1234567 as 0.123457)."""
    card = write_tiny_model(tmp_path / "model")
    pdf, dicom_out = tmp_path / "report.pdf", tmp_path / "dicom"
    result = run(str(covid_ct_md / "P001"), "--model", str(card), "--no-quantify",
                 "--fraction", "0.1234567", "--slice-cutoff", "0.4999999",
                 "--report", str(pdf), "--dicom-out", str(dicom_out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    sr = str(pydicom.dcmread(dicom_out / "lunglens-sr.dcm"))
    for output in (result.stdout, text, sr):
        assert "0.4999999" in output and not re.search(r"cut-off 0\.5\b|>= 0\.5\b", output)
    for output in (text, sr):
        assert "0.1234567" in output and not re.search(r"0\.123457(?!\d)", output)


def test_a_series_without_description_is_named_by_its_number_not_its_uid(tmp_path):
    """Two series without SeriesDescription in one folder: the choice lists them by folder and
    number (it listed empty names), and the analysis names the series by its number (it printed
    the Series Instance UID)."""
    volume = np.full((6, 64, 64), 1064, np.uint16)
    volume[:, 20:44, 10:28] = volume[:, 20:44, 36:54] = 150  # two dark lungs
    uids = {}
    for number in (2, 3):
        for path in write_series(tmp_path / "p" / f"s{number}", volume, np.arange(6) * -2.0):
            ds = pydicom.dcmread(path)
            del ds.SeriesDescription
            ds.SeriesNumber = number
            ds.save_as(path)
            uids[number] = ds.SeriesInstanceUID
    card = write_tiny_model(tmp_path / "m")
    chooser = run(str(tmp_path / "p"), "--model", str(card), "--no-quantify")
    assert chooser.returncode == 2
    assert f"[1] {tmp_path / 'p' / 's2'}, series 2, [2] {tmp_path / 'p' / 's3'}, series 3" in chooser.stderr
    chosen = run(str(tmp_path / "p" / "s3"), "--model", str(card), "--no-quantify")
    assert chosen.returncode == 0, chosen.stderr
    assert f"series:   {tmp_path / 'p' / 's3'}, series 3 (6 slices)" in chosen.stdout
    assert str(uids[3]) not in chosen.stdout
