"""Where LungLens must not write: over a device, a pipe, a socket or a folder (the atomic rename
would replace it with a regular file), and into the folders it reads (inputs are read-only)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import numpy as np
import pytest

from lunglens import cli
from lunglens.atomic import WriteError, write_atomically
from tests.factory import write_series
from tests.tiny_model import write_tiny_model


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _char_device(path: Path) -> None:
    """A character device node like /dev/null (needs root: mknod)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")


def _link_to_dev_null(path: Path) -> None:
    path.symlink_to("/dev/null")


def _folder(path: Path) -> None:
    path.mkdir()


def _link_to_folder(path: Path) -> None:
    (path.parent / "real-folder").mkdir()
    path.symlink_to(path.parent / "real-folder")


def _socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


DESTINATIONS = [
    (_fifo, "a named pipe"),
    (_char_device, "a character device"),
    (_link_to_dev_null, "a character device"),
    (_folder, "a folder"),
    (_link_to_folder, "a folder"),
    (_socket, "a socket"),
]


@pytest.mark.parametrize("make, kind", DESTINATIONS, ids=[m.__name__.strip("_") for m, _ in DESTINATIONS])
def test_destination_that_is_not_a_regular_file_is_refused_and_left_alone(tmp_path, make, kind):
    target = tmp_path / "out.json"
    make(target)
    before = os.lstat(target)
    with pytest.raises(WriteError, match=f"is {kind}, not a regular file"):
        write_atomically(target, b"{}")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not list(tmp_path.glob(".*part"))


def test_dev_null_itself_is_refused():
    with pytest.raises(WriteError, match="is a character device"):
        write_atomically(Path("/dev/null"), b"{}")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_an_existing_regular_file_is_replaced(tmp_path):
    (tmp_path / "old.json").write_text("old")
    write_atomically(tmp_path / "old.json", b"new")
    assert (tmp_path / "old.json").read_bytes() == b"new"


def _inside(folder: Path) -> Path:
    return folder / "result.json"


def _nested(folder: Path) -> Path:
    (folder / "sub").mkdir()
    return folder / "sub" / "result.json"


def _through_a_link(folder: Path) -> Path:
    link = folder.parent / "link-to-input"
    link.symlink_to(folder)
    return link / "result.json"


def _over_an_input_file(folder: Path) -> Path:
    return next(folder.glob("*.dcm"))


@pytest.mark.parametrize("where", [_inside, _nested, _through_a_link, _over_an_input_file])
def test_nothing_is_written_into_a_folder_being_read(tmp_path, where):
    folder = tmp_path / "input"
    write_series(folder, np.zeros((3, 8, 8), np.uint16), [0, -1, -2])
    target = where(folder)
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(WriteError, match="a folder being read"):
        write_atomically(target, b"{}", read_only_folders=[folder])
    assert sorted(p.name for p in folder.rglob("*")) == before


def test_beside_the_input_folder_is_fine(tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    write_atomically(tmp_path / "input-result.json", b"{}", read_only_folders=[folder])
    assert (tmp_path / "input-result.json").exists()


@pytest.fixture
def patient(tmp_path) -> Path:
    volume = np.full((4, 64, 64), 1024, np.uint16)
    volume[:, 16:48, 8:56] = 100
    write_series(tmp_path / "patient", volume, [0, -2, -4, -6])
    return tmp_path / "patient"


@pytest.mark.parametrize("option", ["--json", "--report"])
@pytest.mark.parametrize("where", [_inside, _over_an_input_file])
def test_cli_refuses_outputs_in_the_input_folder_before_analysing(patient, tmp_path, capsys, option, where):
    card = write_tiny_model(tmp_path / "m")
    target = where(patient)
    before = {p: p.stat().st_mtime_ns for p in patient.iterdir()}
    status = cli.main(["analyze", str(patient), "--model", str(card), option, str(target)])
    out, err = capsys.readouterr()
    assert status == cli.EXIT_BAD_INPUT
    assert "a folder being read" in err and "verdict" not in out
    assert {p: p.stat().st_mtime_ns for p in patient.iterdir()} == before


def test_cli_refuses_a_device_as_json(patient, tmp_path, capsys):
    card = write_tiny_model(tmp_path / "m")
    (tmp_path / "null").symlink_to("/dev/null")
    status = cli.main(["analyze", str(patient), "--model", str(card), "--json", str(tmp_path / "null")])
    assert status == cli.EXIT_BAD_INPUT and "is a character device" in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_cli_refuses_to_write_over_an_input_file_reached_through_a_link(patient, tmp_path, capsys):
    """A slice of the folder is a link to a file elsewhere: that file is an input too."""
    card = write_tiny_model(tmp_path / "m")
    first = next(patient.glob("*.dcm"))
    outside = tmp_path / "outside.dcm"
    first.rename(outside)
    first.symlink_to(outside)
    content = outside.read_bytes()
    status = cli.main(["analyze", str(patient), "--model", str(card), "--json", str(outside)])
    assert status == cli.EXIT_BAD_INPUT
    assert "one of the files being read" in capsys.readouterr().err
    assert outside.read_bytes() == content


def test_cli_refuses_dicom_out_inside_the_input_folder_before_writing_anything(tmp_path, capsys):
    """The series lies in a sub-folder of the folder given: the results folder beside it is still
    inside the input, and no other output (the JSON) is written either."""
    card = write_tiny_model(tmp_path / "m")
    volume = np.full((4, 64, 64), 1024, np.uint16)
    volume[:, 16:48, 8:56] = 100
    write_series(tmp_path / "parent" / "sub", volume, [0, -2, -4, -6])
    argv = ["analyze", str(tmp_path / "parent"), "--model", str(card), "--json", str(tmp_path / "a.json")]
    status = cli.main([*argv, "--dicom-out", str(tmp_path / "parent" / "results")])
    assert status == cli.EXIT_BAD_INPUT and "a folder being read" in capsys.readouterr().err
    assert not (tmp_path / "parent" / "results").exists() and not (tmp_path / "a.json").exists()


def test_a_result_is_published_without_replacing_where_there_are_no_hard_links(tmp_path, monkeypatch):
    """vfat, exFAT and some network mounts refuse link(): the write is renamed into place, and an
    existing file is still never replaced."""
    import errno

    from lunglens import atomic

    def no_links(source, destination):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    path = tmp_path / "result.json"
    atomic.write_atomically(path, b"first", replace=False)
    assert path.read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        atomic.write_atomically(path, b"second", replace=False)
    assert path.read_bytes() == b"first" and sorted(tmp_path.iterdir()) == [path]
