"""Validation helpers for DICOM objects: dciodvfy (dicom3tools) as the standard's checker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require_dciodvfy() -> str:
    """The dciodvfy binary; skips without it (fails under CI=true, where it is installed)."""
    found = shutil.which("dciodvfy")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("dciodvfy (Debian dicom3tools) missing under CI")
    pytest.skip("dciodvfy (Debian dicom3tools) not installed")


def dciodvfy_report(path: Path) -> list[str]:
    """dciodvfy's lines for `path` (it reports on stderr)."""
    result = subprocess.run(
        [require_dciodvfy(), str(path)], capture_output=True, text=True, errors="replace", timeout=120
    )
    return (result.stderr + result.stdout).splitlines()


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's lines that start with "Error" for `path` (warnings are not errors)."""
    return [line for line in dciodvfy_report(path) if line.startswith("Error")]
