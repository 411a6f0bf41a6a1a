"""Build hook: the wheel carries the demonstration model and resources/ inside the package
(`lunglens/_models`, `lunglens/_resources`), so an installed LungLens reads nothing from the
source tree. Everything else is declared in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED_MODELS = ("lunglens-demo.onnx", "lunglens-demo.json", "lunglens-lesion.onnx", "lunglens-lesion.json")


class BuildPyWithShippedData(build_py):
    def run(self):
        super().run()
        package = Path(self.build_lib) / "lunglens"
        models = package / "_models"
        models.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED_MODELS:
            shutil.copy2(ROOT / "models" / name, models / name)
        shutil.copytree(ROOT / "resources", package / "_resources", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithShippedData})
