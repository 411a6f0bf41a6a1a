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
