"""GUI test fixtures: QSettings in a temp folder, a window on the test's data folder, a
reference collection built from the real geotagged sample photos with the tiny model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, Qt  # noqa: E402

# QtWebEngine needs this before the QApplication exists (pytest-qt creates it lazily).
QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
from PySide6.QtWebEngineWidgets import QWebEngineView  # noqa: E402, F401

from sciceapp.ui.tile_scheme import register_tile_scheme  # noqa: E402

register_tile_scheme()  # like the app: the map's own tile scheme, before the QApplication
from ui_helpers import WAIT_MS, make_window  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _tiny_model_before_qt_starts(tiny_onnx_model: Path) -> Path:
    """Export the tiny model (torch) before any QApplication exists: importing torch while
    QtWebEngine runs can crash the process (both bring native libraries that clash)."""
    return tiny_onnx_model


@pytest.fixture(autouse=True)
def temp_qsettings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test reads and writes settings in its own folder, never the user's. The tile URL
    starts as a local (empty) tile folder: with the default, OpenStreetMap, every map drawn by
    a test would ask the internet for tiles."""
    from sciceapp.ui.settings import APPLICATION, ORGANIZATION

    folder = tmp_path / "qsettings"
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    ini = folder / ORGANIZATION / f"{APPLICATION}.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(f"[settings]\ntile_url={tiles.as_uri()}/{{z}}/{{x}}/{{y}}.png\n")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))  # for subprocesses
    return folder


@pytest.fixture
def settings_store(temp_qsettings: Path) -> QSettings:
    from sciceapp.ui.settings import make_qsettings

    return make_qsettings()


@pytest.fixture
def model_in_data_dir(tiny_onnx_model: Path, data_dir: Path) -> Path:
    """The tiny random-weight model, copied into the test's data folder."""
    target = data_dir / "models" / "tiny.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_onnx_model, target)
    return target


@pytest.fixture
def gps_collection(model_in_data_dir: Path, data_dir: Path, exif_samples: Path) -> str:
    """A collection "gps" of the 9 geotagged Arezzo photos, built with the engine directly."""
    from sciceapp.engine.library import Library

    Library(data_dir).create_collection("gps", model_in_data_dir).add([exif_samples / "gps"])
    return "gps"


@pytest.fixture
def window(qtbot, data_dir: Path, settings_store: QSettings):
    """The main window on the test's data folder, shown, collections loaded."""
    win = make_window(qtbot, data_dir, settings_store)
    with qtbot.waitSignal(win.indexing.state_loaded, timeout=WAIT_MS):
        win.show()
    yield win
    win.close()
