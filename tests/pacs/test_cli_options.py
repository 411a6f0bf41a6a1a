"""`lunglens analyze` refuses DICOMweb option combinations that cannot work or would leak, with a
message and exit code 2, before touching any server; secrets are no options at all."""

from __future__ import annotations

import pytest

from lunglens.cli import main as cli_main
from lunglens.pacs.find import date_range_problem

URL = "http://127.0.0.1:9/dicom-web"  # nothing listens there


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dicomweb", "http://127.0.0.1:9/dicom-web"], "--dicomweb needs --study"),
        (["FOLDER", "--study", "1.2.3"], "need --dicomweb URL"),
        (["FOLDER", "--store"], "need --dicomweb URL"),
        (["FOLDER", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "1.2"], "not several"),
        (
            ["--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "1.2", "--store", "--anonymise"],
            "--store with --anonymise",
        ),
    ],
)
def test_impossible_combinations_are_refused(argv, message, capsys):
    assert cli_main(["analyze", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--dicomweb-password", "--password", "--dicomweb-token"])
def test_no_option_takes_a_secret(option, capsys):
    with pytest.raises(SystemExit) as caught:
        cli_main(["pacs", "find", "http://127.0.0.1:9/dicom-web", option, "secret"])
    assert caught.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    "date", ["2020-06-01", "garbage", "2020060", "20201340", "-", "20200101-20200201-", "２０２００６０１"]
)
@pytest.mark.parametrize("command", [["pacs", "find", URL], ["batch", "--dicomweb", URL, "--out", "OUT"]])
def test_a_date_filter_that_is_no_dicom_date_or_range_exits_2_naming_it(command, date, tmp_path, capsys):
    argv = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    assert cli_main([*argv, "--date", date]) == 2
    err = capsys.readouterr().err
    assert f"study date {date!r} is not a date YYYYMMDD or a range" in err and "unreachable" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["pacs", "find", URL], ["batch", "--dicomweb", URL, "--out", "OUT"]])
def test_a_date_range_that_ends_before_it_begins_exits_2_naming_it(command, tmp_path, capsys):
    argv = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    assert cli_main([*argv, "--date", "20200331-20200301"]) == 2
    err = capsys.readouterr().err
    assert "study date range '20200331-20200301' ends before it begins" in err and "unreachable" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "date", ["20200601", "20200301-20200331", "20200301-", "-20200331", "20200301-20200301"]
)
def test_dicom_dates_and_ranges_are_filters(date):
    assert date_range_problem(date) is None


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/dicom-web"])
@pytest.mark.parametrize(
    "command",
    [
        ["pacs", "find", "URL"],
        ["analyze", "--dicomweb", "URL", "--study", "1.2.3"],
        ["batch", "--dicomweb", "URL", "--out", "OUT"],
    ],
)
def test_a_url_that_cannot_be_parsed_exits_2_naming_it(command, url, tmp_path, capsys):
    argv = [url if word == "URL" else str(tmp_path / "out") if word == "OUT" else word for word in command]
    assert cli_main(argv) == 2
    assert f"{url!r} is not an http(s) DICOMweb URL" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf", "-inf", "soon"])
@pytest.mark.parametrize(
    "command",
    [
        ["pacs", "find", URL],
        ["analyze", "--dicomweb", URL, "--study", "1.2.3"],
        ["batch", "--dicomweb", URL, "--out", "OUT"],
    ],
)
def test_a_timeout_that_is_no_positive_number_of_seconds_is_refused_by_argparse(
    command, seconds, tmp_path, capsys
):
    argv = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    with pytest.raises(SystemExit) as caught:
        cli_main([*argv, f"--dicomweb-timeout={seconds}"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --dicomweb-timeout: {seconds!r} is not a positive number of seconds" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("study", ["../../tools", "1.2.x", "1..2", "1." + "2" * 63, "", " "])
def test_a_study_that_is_no_uid_is_refused_by_argparse(study, capsys):
    with pytest.raises(SystemExit) as caught:
        cli_main(["analyze", "--dicomweb", URL, "--study", study])
    assert caught.value.code == 2
    assert f"argument --study: {study!r}: not a DICOM UID (digits and dots, at most 64 characters)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("series", ["../x", "1.2/3", "a"])
def test_a_series_that_is_no_index_nor_uid_is_refused_with_dicomweb(series, capsys):
    assert cli_main(["analyze", "--dicomweb", URL, "--study", "1.2.3", "--series", series]) == 2
    assert f"--series {series!r}: not a series index and not a DICOM UID" in capsys.readouterr().err


def test_a_study_and_series_pasted_with_blanks_are_used_without_them(capsys):
    """The blanks go; the request then reaches the server (here: none listens), naming it."""
    argv = ["analyze", "--dicomweb", URL, "--study", " 1.2.3\t", "--series", " 1.2.3.4 "]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"{URL}: host unreachable" in err and "UID" not in err


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\n", "abc\r"])
def test_a_token_with_a_line_break_is_named_not_sent(token, monkeypatch, capsys):
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)
    monkeypatch.setenv("LUNGLENS_DICOMWEB_TOKEN", token)
    assert cli_main(["pacs", "find", URL]) == 2
    err = capsys.readouterr().err
    assert f"{URL}: LUNGLENS_DICOMWEB_TOKEN holds a line break or other character not allowed" in err
    assert "abc" not in err and "InvalidHeader" not in err and "unreachable" not in err
