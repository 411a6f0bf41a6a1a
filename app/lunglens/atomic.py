"""Atomic file writing: a temporary file in the destination folder, then a rename, so a reader
never sees a partial file and a failure leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(Exception):
    """The destination cannot be written; the message names it and says why."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0666 less the umask). Raises WriteError on failure."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
