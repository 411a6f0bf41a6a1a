"""The demo patient and the `demo-data` subcommand parser."""

from __future__ import annotations

import argparse

import pytest

from lunglens.io import discover
from lunglens.synthetic.demo import add_demo_data_parser, make_demo_patient


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lunglens")
    add_demo_data_parser(parser.add_subparsers(dest="command", required=True))
    return parser


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
    args = _parser().parse_args(
        ["demo-data", str(tmp_path / "p"), "--normal", "--slices", "35", "--format", "tiff"]
    )
    assert args.handler(args) == 0
    assert len(list((tmp_path / "p" / "SR_2").glob("IM*.tif"))) == 35
    assert args.handler(args) == 2, "a second run must not write into the now non-empty folder"
    assert "non-empty" in capsys.readouterr().out


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
