"""The demo patient and the `lunglens demo-data` subcommand."""

from __future__ import annotations

import pytest

from lunglens.cli import build_parser, main
from lunglens.io import discover
from lunglens.synthetic.demo import make_demo_patient


def _parser():
    return build_parser()


def test_parser_defaults_and_flags():
    args = _parser().parse_args(["demo-data", "out"])
    assert (args.out, args.covid, args.slices, args.seed, args.format) == ("out", True, 150, 0, "dicom")
    args = _parser().parse_args(
        ["demo-data", "o", "--normal", "--slices", "40", "--seed", "3", "--format", "tiff"]
    )
    assert (args.covid, args.slices, args.seed, args.format) == (False, 40, 3, "tiff")
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo-data", "o", "--covid", "--normal"])


def test_demo_data_command_writes_a_tiff_patient(tmp_path, capsys):
    argv = ["demo-data", str(tmp_path / "p"), "--normal", "--slices", "35", "--format", "tiff"]
    assert main(argv) == 0
    assert len(list((tmp_path / "p" / "SR_2").glob("IM*.tif"))) == 35
    capsys.readouterr()
    assert main(argv) == 2, "a second run must not write into the now non-empty folder"
    assert "non-empty" in capsys.readouterr().err


def test_demo_patient_dicom_is_one_analysable_series(tmp_path):
    folder = make_demo_patient(tmp_path / "demo", covid=True, n_slices=35, seed=1)
    found = discover(folder)
    assert len(found.series) == 1 and found.series[0].analysable
    assert found.series[0].n_slices == 35


def test_demo_patient_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_demo_patient(tmp_path / "x", n_slices=10)
    with pytest.raises(ValueError):
        make_demo_patient(tmp_path / "x", fmt="png")
