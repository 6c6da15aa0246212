"""Window details users of photo tools expect: Remove asks with No as the default and says
what is lost, Help > About names the version, model and data folder, and a photo that cannot
be opened in a viewer says so."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox
from ui_helpers import WAIT_MS

from sciceapp import __version__
from sciceapp.engine.library import Library


def test_remove_collection_defaults_to_no_and_says_what_is_lost(
    qtbot, window, gps_collection: str, data_dir: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    box = window.remove_collection(gps_collection)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    assert "9 photos" in box.text() and "describing every photo again" in box.text()
    assert "stay where they are" in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert gps_collection in [s.name for s in Library(data_dir).list_collections()]
    box = window.remove_collection(gps_collection)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert gps_collection not in [s.name for s in Library(data_dir).list_collections()]


def test_help_about_names_version_model_and_data_folder(qtbot, window, gps_collection: str):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    assert [a.text() for a in window.menuBar().actions()][-1] == "&Help"
    window.actions_by_name["About sciceapp"].trigger()
    text = window.about_box.text()
    assert __version__ in text and str(window.data_dir) in text
    assert "random weights" in text  # the selected collection's model, labelled as a demo


def test_opening_a_photo_without_a_viewer_is_reported(qtbot, window, exif_samples, monkeypatch):
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda _url: False))
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        assert window.open_in_viewer(str(exif_samples / "gps" / "DSCN0010.jpg")) is False
    assert "No program to open DSCN0010.jpg" in shown.args[0]
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        window.open_in_viewer("/no/such/photo.jpg")
    assert "not there" in shown.args[0]
