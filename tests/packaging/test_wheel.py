"""The wheel: `pip install .` (not editable) gives a working `lunglens` that carries its demo
model and resources and reads nothing from the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from lunglens.analysis import DEFAULT_LESION_METHOD

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the built wheel installed; its dependencies come from the
    test environment's site-packages (a .pth file) so nothing is downloaded."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(REPO_ROOT)],
        check=True,
    )
    (wheel,) = (tmp / "dist").glob("lunglens-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
    )
    return venv


def test_wheel_carries_model_and_resources(installed):
    python = installed / "bin" / "python"
    code = (
        "import lunglens, lunglens.paths as p; print(lunglens.__file__); "
        "print(p.demo_model_card()); print(p.resource('lunglens.desktop'))"
    )
    out = subprocess.run(
        [python, "-c", code], check=True, capture_output=True, text=True, cwd="/"
    ).stdout.split()
    package, card, desktop = (Path(x) for x in out)
    assert installed in package.parents and REPO_ROOT not in package.parents
    assert card.exists() and installed in card.parents
    assert desktop.exists() and installed in desktop.parents


def test_installed_lunglens_analyses_the_demo(installed, tmp_path):
    exe = installed / "bin" / "lunglens"
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(
        [exe, "analyze", "--demo", "--json", "demo.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "demo.json").read_text())
    assert data["model"]["name"] == "lunglens-demo"
    assert data["decision"]["n_kept"] > 0
    # the default lesion method ran: the installed wheel carries the lesion model when it is needed
    assert data["quantification"]["method"] == DEFAULT_LESION_METHOD
    assert not any("unavailable" in w for w in data["quantification"]["warnings"])
