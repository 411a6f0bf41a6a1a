"""Which paths LungLens reads: regular files only. A named pipe blocks a reader until something
writes into it, a character device such as /dev/zero never ends, a socket cannot be opened; none
of them is an image or a model. `open_regular` opens without blocking and checks what it opened,
so a path swapped for a pipe between a check and the read is refused too."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The path is not a regular file (pipe, device, socket, folder, broken link)."""


def kind_of(mode: int) -> str:
    """What a `st_mode` describes, in words ("a named pipe"); "a regular file" for files."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def not_regular_reason(path: str | os.PathLike) -> str | None:
    """None when `path` is (or links to) a regular file, else the reason it is not read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken link" if os.path.islink(path) else "vanished while the folder was read"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else f"not a regular file ({kind_of(mode)})"


#: Control characters (C0, DEL, C1) as visible escapes: a line break, carriage return or
#: terminal escape sequence in a file name or a DICOM text must not start a line of its own.
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """`text` with the bytes of a file name that were not UTF-8 (kept by Python as lone
    surrogates) and control characters (line breaks, escape sequences) written as \\xNN escapes:
    safe for a strict UTF-8 terminal, a PDF or a label, and one line stays one line."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.translate(_CONTROL_ESCAPES)


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for binary reading when it is a regular file; raises NotRegularFileError
    (naming what it is) otherwise, and OSError when it cannot be opened. Never blocks."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"not a regular file ({kind_of(mode)})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike, limit_bytes: int) -> str:
    """The UTF-8 text of the regular file `path`, at most `limit_bytes` bytes long. Raises
    NotRegularFileError (naming what it is) or OSError, and ValueError when the file is longer or
    not UTF-8 (both without the path: callers name it). Never blocks."""
    with open_regular(path) as fh:
        data = fh.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise ValueError(f"larger than {limit_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


#: Names a list of files shows (`names_listed`); the others are counted.
NAMES_SHOWN = 3


def names_listed(names: list[str]) -> str:
    """ "a.dcm, b.dcm" or "a.dcm, b.dcm, c.dcm and 17 more": the first NAMES_SHOWN names."""
    more = len(names) - NAMES_SHOWN
    return ", ".join(names[:NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")
