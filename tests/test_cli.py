"""`lunglens info` as a user runs it, and the one parser that dispatches every subcommand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "lunglens", *args], capture_output=True, text=True)


def test_info_lists_three_analysable_series_and_the_lung_open_span(covid_ct_md):
    result = run("info", str(covid_ct_md), "--select")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("— analysable") == 3
    assert result.stdout.count("lung-open span") == 3
    assert "kept 90 of 148 slices" in result.stdout  # P001
    labels = len(list(covid_ct_md.glob("*.csv")))  # the label tables beside the series
    assert f"{labels} entries skipped" in result.stdout


def test_info_explains_non_analysable_series(shared_data):
    result = run("info", str(shared_data / "dicom-robustness" / "wg04_dicom-test-files"), "--skipped")
    assert result.returncode == 0
    assert "NOT analysable: not CT (modality MR)" in result.stdout
    assert "CT1_JPLL.dcm" in result.stdout  # a one-file series is shown by its file


def test_info_names_a_compressed_file_cut_short_instead_of_counting_it(covid_ct_md, tmp_path):
    """Info reads headers only; the compressed pixel data's items are walked to the end of the
    file, so a JPEG-Lossless slice cut in half is skipped with its reason, not called analysable."""
    slices = sorted((covid_ct_md / "P001").glob("*.dcm"))[70:74]
    for source in slices:
        shutil.copy(source, tmp_path / source.name)
    cut = tmp_path / slices[1].name
    os.truncate(cut, cut.stat().st_size // 2)
    result = run("info", str(tmp_path), "--skipped")
    assert result.returncode == 0, result.stderr
    assert "3 slices" in result.stdout and "— analysable" in result.stdout
    assert f"{cut}: file cut short: a compressed fragment of" in result.stdout


def test_bad_folder_gives_exit_code_2_and_no_traceback(tmp_path):
    result = run("info", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such folder" in result.stderr and "Traceback" not in result.stderr
    empty = run("info", str(tmp_path))
    assert empty.returncode == 2 and "holds no files" in empty.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"path": None, "demo": False}),
        (["some/folder", "--provider", "cpu"], {"path": "some/folder", "provider": "cpu"}),
        (["--demo", "--model", "m.json"], {"demo": True, "model": "m.json"}),
        (["view", "--self-test"], {"self_test": True, "path": None}),
    ],
)
def test_without_a_subcommand_the_viewer_starts(monkeypatch, argv, expected):
    from lunglens import cli
    from lunglens.cli import view

    started = []
    monkeypatch.setattr(view, "run", lambda args: started.append(args) or 0)
    assert cli.main(argv) == 0
    (args,) = started
    assert args.command == "view" and {k: getattr(args, k) for k in expected} == expected


def test_every_registered_subcommand_is_dispatched_by_the_one_parser():
    from lunglens.cli import COMMANDS, build_parser

    parser = build_parser()
    names = parser.get_default("subcommands")
    assert set(names) == {"view", "info", "analyze", "lesions", "batch", "pacs", "demo-data"} and len(
        COMMANDS
    ) == len(names)
    assert parser.parse_args(["info", "x"]).command == "info"


def test_analyze_defaults_are_the_decision_defaults():
    from lunglens.cli import build_parser
    from lunglens.core.decision import DecisionParams

    args = build_parser().parse_args(["analyze", "folder"])
    assert DecisionParams(args.slice_cutoff, args.fraction) == DecisionParams()


@pytest.mark.parametrize("command", ["analyze", "batch"])
@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        (
            "--slice-cutoff",
            "0",
            "every kept slice is positive, so the verdict is COVID-19 whatever the images",
        ),
        ("--slice-cutoff", "0.0", "every kept slice is positive"),
        ("--fraction", "1", "so the verdict is normal whatever the images show"),
        ("--fraction", "2", "patient fraction must be within [0, 1]"),
        ("--fraction", "a tenth", "'a tenth' is not a number"),
    ],
)
def test_an_operating_point_that_ignores_the_images_is_refused_before_anything_runs(
    capsys, command, option, value, said
):
    """A cut-off of 0 or f = 1 fixes the verdict whatever the images show: refused with the
    reason, exit 2, before any folder is read; the values just inside are taken."""
    from lunglens.cli import build_parser, main

    with pytest.raises(SystemExit) as exit_info:
        main([command, "no-such-folder", *(["--out", "out"] if command == "batch" else []), option, value])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"argument {option}: " in error and said in error
    assert "Traceback" not in error and "no such folder" not in error
    args = build_parser().parse_args(["analyze", "f", "--slice-cutoff", "1e-9", "--fraction", "0.999"])
    assert (args.slice_cutoff, args.fraction) == (1e-9, 0.999)


def test_version_and_help_go_to_the_command_line(capsys):
    from lunglens import __version__
    from lunglens.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo-data" in capsys.readouterr().out


def test_a_termination_signal_the_process_was_started_ignoring_stays_ignored():
    """`nohup lunglens batch ...` ignores SIGHUP: a closed terminal must not stop the batch; SIGTERM
    still ends the command as Ctrl-C does."""
    import signal

    from lunglens.cli import _termination_interrupts

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with _termination_interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
