"""Where sciceapp keeps its data: one folder per user, overridable.

Precedence: an explicit ``--data-dir`` option, then ``SCICEAPP_DATA_DIR``, then the
platform's user data folder (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "sciceapp"
DATA_DIR_ENV = "SCICEAPP_DATA_DIR"


def data_dir(override: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The user's data folder (catalogue, collections, models)."""
    if override:
        path = Path(override)
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV])
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path = path.expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(data: Path) -> Path:
    """Where built ONNX models and downloaded weights live inside a data folder."""
    path = data / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_or_package_dir(name: str) -> Path:
    """A resource folder (``resources`` or ``models``) shipped with the app.

    Looked up in this order, first existing wins:
    frozen (PyInstaller): ``sys._MEIPASS/sciceapp/_data/<name>``;
    installed from a wheel: ``<package>/_data/<name>`` (setup.py copies the folders there);
    a checkout or editable install: the repository's top-level ``<name>`` folder (only when
    the package sits in a checkout, so a stray ``site-packages/<name>`` is never taken).
    When none exists, the first place looked is returned: callers see a missing folder.
    """
    import sys

    here = Path(__file__).resolve().parent
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "sciceapp" / "_data" / name)
    candidates.append(here / "_data" / name)
    if (here.parent / "pyproject.toml").is_file():
        candidates.append(here.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]
