"""Build hook: wheels carry the top-level ``resources/`` and ``models/`` folders.

Those folders stay at the top of the repository, where people edit them. A wheel holds them
as ``sciceapp/_data/<name>``, where ``sciceapp.paths.repo_or_package_dir`` looks; editable
installs read them from the checkout instead. Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FOLDERS = ("resources", "models")
# Model weights are built or downloaded on the user's machine, never shipped.
NOT_SHIPPED = ("*.onnx", "*.onnx.data", "*.pth", "*.pt", "*.ckpt", "*.safetensors", "__pycache__")


class BuildPyWithData(build_py):
    """``build_py`` that also copies the data folders into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in DATA_FOLDERS:
            source = ROOT / name
            if not source.is_dir():
                continue
            target = Path(self.build_lib) / "sciceapp" / "_data" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*NOT_SHIPPED))


setup(cmdclass={"build_py": BuildPyWithData})
