"""The text of a PDF, by poppler's pdftotext (tests of the report and of the viewer's export)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def pdftotext() -> str:
    """poppler's pdftotext; without it a test that reads the text skips, and fails under CI=true."""
    found = shutil.which("pdftotext")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("pdftotext (poppler-utils) is missing under CI")
    pytest.skip("needs pdftotext (poppler-utils)")


def pdf_file_text(path: Path) -> str:
    """The text of the PDF at `path`, laid out as on the page ("\\f" between pages)."""
    return subprocess.run(
        [pdftotext(), "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
