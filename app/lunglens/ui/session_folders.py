"""Folders this viewer session makes and removes when it ends: the demo patient and the studies
retrieved from a PACS. A folder opened from one is not remembered among the recent folders,
whose list outlives the session (its entry would name a folder gone)."""

from __future__ import annotations

import tempfile
from pathlib import Path

_MADE: set[Path] = set()


def make_session_folder(prefix: str) -> Path:
    """A new temporary folder (`tempfile.mkdtemp` with `prefix`) that the caller removes when the
    session ends; remembered as made for this session."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _MADE.add(folder.resolve())
    return folder


def made_for_this_session(folder: str | Path) -> bool:
    """Whether `folder` is, or lies inside, a folder `make_session_folder` made."""
    folder = Path(folder).resolve()
    return any(folder.is_relative_to(made) for made in _MADE)
