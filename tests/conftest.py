"""Fixtures shared by every test: a fresh data folder per test, offscreen Qt, the sample photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt must know before it is first imported: no screen here, and QtWebEngine as root needs
# its sandbox off.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")

# Chromium inside QtWebEngine and the native libraries of torch's compiler stack (triton, which
# torch.onnx's exporter loads through torch._dynamo) segfault the process when torch loads them
# after a web view has started. The app never has both in one process (the ui layer imports no
# torch); the test session has, so it loads them before any test can start Qt. An environment
# without the toolkit (the desktop app's dependencies only) runs the tests that need no torch.
try:
    import torch._dynamo  # noqa: E402, F401
except ModuleNotFoundError as error:
    if error.name != "torch":
        raise

REPO_ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["fixtures_models"]

EXIF_SAMPLES = REPO_ROOT.parent / "shared" / "data" / "exif-samples"
REAL_PLACES = REPO_ROOT.parent / "shared" / "data" / "places"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty data folder, also for code that reads the environment."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("SCICEAPP_DATA_DIR", str(path))
    # The CPU calibration of a model at its first use (engine/tuning.py) takes seconds; tests
    # of other things run ONNX Runtime as is. tests/engine/test_tuning.py turns it back on.
    monkeypatch.setenv("SCICEAPP_NO_TUNING", "1")
    return path


@pytest.fixture(scope="session")
def exif_samples() -> Path:
    """The real camera and phone photos in ../shared/data/exif-samples (must exist)."""
    if not (EXIF_SAMPLES / "gps").is_dir():
        raise FileNotFoundError(
            f"The sample photos are missing: expected {EXIF_SAMPLES} beside the checkout."
        )
    return EXIF_SAMPLES


@pytest.fixture(scope="session")
def real_places() -> Path:
    """Real photos of the same places from other viewpoints, seasons and times of day
    (../shared/data/places, its README says what each folder is; must exist)."""
    if not (REAL_PLACES / "sacre_coeur").is_dir():
        raise FileNotFoundError(
            f"The real place photos are missing: expected {REAL_PLACES} beside the checkout."
        )
    return REAL_PLACES


@pytest.fixture(scope="session", autouse=True)
def _qt_widgets_deleted_before_exit():
    """Delete every window (and so every web page) while Qt is still alive: a web page that
    outlives its profile makes QtWebEngine crash at interpreter exit."""
    yield
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in app.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
