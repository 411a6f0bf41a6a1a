"""Work-around for PySide6 6.12.0 on CPython < 3.12 (measured here: every signal emission
releases one reference to True it never took, every call of a method returning nothing one to
None), which aborts the interpreter with "bool_dealloc"/"none_dealloc" after a few thousand
calls. PySide6 6.11.3 does not do this; pinning `PySide6-Essentials<6.12` is the real fix.
Until then `immortalise_singletons` gives None, True and False a huge reference count, as
CPython 3.12 does itself (PEP 683)."""

from __future__ import annotations

import ctypes
import sys

import PySide6

#: Extra references given to each singleton (2**40: more than any session can release).
EXTRA_REFERENCES = 1 << 40


def needs_workaround(pyside_version: str = PySide6.__version__, python=sys.version_info) -> bool:
    return pyside_version.startswith("6.12.") and python < (3, 12)


def immortalise_singletons() -> None:
    """Raise the reference counts of None, True and False out of reach (once; CPython only)."""
    if not needs_workaround() or sys.implementation.name != "cpython":
        return
    for singleton in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(singleton))
        if count.value < EXTRA_REFERENCES:
            count.value += EXTRA_REFERENCES
