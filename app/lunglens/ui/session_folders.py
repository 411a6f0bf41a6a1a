"""Folders this viewer session makes and removes when it ends: the demo patient and the studies
retrieved from a PACS. A folder opened from one is not remembered among the recent folders,
whose list outlives the session (its entry would name a folder gone)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_MADE: set[Path] = set()


def make_session_folder(prefix: str) -> Path:
    """A new temporary folder (`tempfile.mkdtemp` with `prefix`), remembered as made for this
    session and removed by `remove_session_folders`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _MADE.add(folder.resolve())
    return folder


def made_for_this_session(folder: str | Path) -> bool:
    """Whether `folder` is, or lies inside, a folder `make_session_folder` made."""
    folder = Path(folder).resolve()
    return any(folder.is_relative_to(made) for made in _MADE)


@atexit.register
def remove_session_folders() -> None:
    """Remove every folder made for this session (when the window closes, and again at exit:
    a job still writing into one when the window closed may have left files after the first)."""
    for folder in _MADE:
        shutil.rmtree(folder, ignore_errors=True)
