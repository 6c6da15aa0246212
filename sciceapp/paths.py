"""Where sciceapp keeps its data: one folder per user, overridable.

Precedence: an explicit ``--data-dir`` option, then ``SCICEAPP_DATA_DIR``, then the
platform's user data folder (platformdirs).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sciceapp.errors import DataFolderError

APP_NAME = "sciceapp"
DATA_DIR_ENV = "SCICEAPP_DATA_DIR"


def data_dir(override: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The user's data folder (catalogue, collections, models).

    With ``create``, the folder is made if needed and checked to be a writable folder:
    ``DataFolderError`` says what is wrong with it (a file, under a file, read-only, on a
    virtual file system, a ``~user`` that does not exist) instead of a traceback later.
    """
    if override:
        given = os.fspath(override)
    elif os.environ.get(DATA_DIR_ENV):
        given = os.environ[DATA_DIR_ENV]
    else:
        import platformdirs

        given = platformdirs.user_data_dir(APP_NAME, appauthor=False)
    expanded = os.path.expanduser(given)
    if expanded.startswith("~"):
        raise _folder_error(given, "it starts with ~ but names no user of this machine")
    path = Path(expanded).resolve()
    if create:
        _check_folder(given, path)
    return path


def _folder_error(given: str, why: str) -> DataFolderError:
    return DataFolderError(
        f"The data folder {given} cannot be used: {why}. Choose another with --data-dir or "
        f"{DATA_DIR_ENV}."
    )


def _check_folder(given: str, path: Path) -> None:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            where = "it is a file" if parent == path else f"{parent} is a file, not a folder"
            raise _folder_error(given, where)
    if path.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise _folder_error(given, f"/{path.parts[1]} is a system folder, not storage")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass  # the one sure test of writability (permissions, read-only mounts, quotas)
    except OSError as exc:
        raise _folder_error(given, f"it cannot be written ({exc.strerror or exc})") from exc


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
