"""`lunglens analyze` refuses DICOMweb option combinations that cannot work or would leak, with a
message and exit code 2, before touching any server; secrets are no options at all."""

from __future__ import annotations

import pytest

from lunglens.cli import main as cli_main


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
