"""Atomic file writing: a temporary file in the destination folder, then a rename, so a reader
never sees a partial file and a failure leaves nothing behind.

What is never written: a destination that exists and is not a regular file (a device such as
/dev/null, a named pipe, a socket, a folder, or a link to one: the rename would replace it with a
regular file), and anything inside a folder LungLens reads from (input folders are read-only)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lunglens.io.files import kind_of


class WriteError(Exception):
    """The destination cannot be written; the message names it and says why."""


def destination_problem(
    path: Path, read_only_folders: Iterable[Path] = (), read_only_files: Iterable[Path] = ()
) -> str | None:
    """Why `path` must not be written, or None: the OS refuses the path (a name too long, a
    symbolic-link loop), it exists and is not a regular file, its folder does not exist, it lies
    inside one of `read_only_folders` (the folders being read), or it is one of `read_only_files`
    (the files being read, wherever their links lead); symbolic links resolved."""
    path = Path(path)
    mode, problem = _mode(path)
    if problem:
        return problem
    if mode is None and not os.path.isdir(path.parent):
        return f"cannot be written: the folder {path.parent} does not exist"
    if mode is not None and not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}, not a regular file: LungLens writes only files"
    target = real_path(path)
    inside = _inside_read_only(target, read_only_folders)
    if inside is None and any(target == real_path(file) for file in read_only_files):
        return "is one of the files being read: LungLens never writes over its inputs"
    return inside


def folder_destination_problem(path: Path, read_only_folders: Iterable[Path] = ()) -> str | None:
    """Why files must not be written into the folder `path`, or None: the OS refuses the path (a
    name too long, a symbolic-link loop), it exists and is not a folder, or it lies inside one of
    `read_only_folders` (symbolic links resolved). A folder that does not exist yet is created by
    the writer."""
    path = Path(path)
    mode, problem = _mode(path)
    if problem:
        return problem
    if mode is not None and not stat.S_ISDIR(mode):
        return "exists and is not a folder"
    return _inside_read_only(real_path(path), read_only_folders)


def _mode(path: Path) -> tuple[int | None, str | None]:
    """(st_mode of `path`, None) following links; (None, None) when nothing is there; (None, why)
    when the OS refuses the path (a name too long, a symbolic-link loop)."""
    try:
        return os.stat(path).st_mode, None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be checked ({exc.strerror or exc})"


def real_path(path: Path) -> Path:
    """`path` absolute, with symbolic links and `..` resolved as far as it exists; never raises
    (a symbolic-link loop is left as it is, where `Path.resolve` raises)."""
    return Path(os.path.realpath(path))


def same_file(first: Path, second: Path) -> bool:
    """True when `first` and `second` name one file: the same path once symbolic links and `..`
    are resolved, or two names (hard links) of one existing file."""
    if real_path(first) == real_path(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # either does not exist (yet): two paths, two files
        return False


def _inside_read_only(target: Path, read_only_folders: Iterable[Path]) -> str | None:
    for folder in read_only_folders:
        if target.is_relative_to(real_path(folder)):
            return f"is inside {folder}, a folder being read: LungLens never writes into its input folders"
    return None


#: What `link` fails with on a file system without hard links.
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _publish_without_replacing(tmp: Path, path: Path) -> None:
    """Move the written `tmp` to `path` unless `path` exists (FileExistsError)."""
    try:
        os.link(tmp, path)  # fails when path exists, atomically
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
        os.rename(tmp, path)
        return
    os.unlink(tmp)


def write_atomically(
    path: Path,
    data: bytes,
    *,
    read_only_folders: Iterable[Path] = (),
    read_only_files: Iterable[Path] = (),
    replace: bool = True,
) -> None:
    """Write `data` to `path` (mode 0666 less the umask). Raises WriteError when the destination
    is refused (`destination_problem` with `read_only_folders` and `read_only_files`) or the
    write fails. With `replace` False an existing `path`
    is never replaced, even one another process publishes meanwhile (the file is hard-linked into
    place): FileExistsError, and nothing of this write is left. Where the file system has no hard
    links (vfat, exFAT, some network and object-store mounts) it is renamed into place when `path`
    does not exist: two writers at once must then be kept apart by the caller (the batch's job
    locks)."""
    path = Path(path)
    problem = destination_problem(path, read_only_folders, read_only_files)
    if problem:
        raise WriteError(f"{path}: {problem}")
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
        if replace:
            os.replace(tmp, path)
        else:
            _publish_without_replacing(Path(tmp), path)
    except FileExistsError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
