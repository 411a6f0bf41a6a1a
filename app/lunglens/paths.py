"""Where LungLens finds what it ships: the demonstration model and `resources/`.

An installed wheel or a frozen build carries them inside the package (`lunglens/_models`,
`lunglens/_resources`, copied there by the build); a source checkout reads them from the
repository's `models/` and `resources/` folders."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parents[1]
"""The repository root when running from a checkout (app/lunglens → ..)."""


def shipped_dir(name: str) -> Path:
    """The folder of shipped `name` ("models" or "resources"): inside the package when it was
    installed or frozen, else the checkout's top-level folder."""
    inside = PACKAGE_DIR / f"_{name}"
    return inside if inside.is_dir() else SOURCE_ROOT / name


def demo_model_card() -> Path:
    """The card of the bundled demonstration model (it may be missing in a broken install)."""
    return shipped_dir("models") / "lunglens-demo.json"


def resource(name: str) -> Path:
    """A file from `resources/` (icons, style sheet, desktop entry)."""
    return shipped_dir("resources") / name
