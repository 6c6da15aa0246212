"""Settings and window geometry survive a restart (in a temporary QSettings folder)."""

from __future__ import annotations

from pathlib import Path

from ui_helpers import WAIT_MS, make_window

from sciceapp.ui.settings import AppSettings, load_settings, save_settings
from sciceapp.ui.settings_dialog import SettingsDialog


def test_settings_dialog_values_persist_between_runs(
    qtbot, window, data_dir: Path, settings_store, temp_qsettings
):
    dialog = SettingsDialog.show_for(window)
    dialog.tile_url.setText("")  # offline
    dialog.top_k.setValue(5)
    dialog.radius_m.setValue(250)
    dialog.provider.setCurrentText("cpu")
    dialog.accept()
    window.resize(700, 500)  # smaller than the offscreen screen
    window.close()
    (ini,) = temp_qsettings.rglob("*.ini")  # written to the temp folder, not the user's
    assert "top_k=5" in ini.read_text()

    again = make_window(qtbot, data_dir, settings_store)
    with qtbot.waitSignal(again.indexing.state_loaded, timeout=WAIT_MS):
        again.show()
    assert again.settings.top_k == 5
    assert again.settings.radius_m == 250
    assert again.settings.provider == "cpu"
    assert again.settings.tile_url == ""
    assert (again.width(), again.height()) == (700, 500)
    again.close()


def test_bad_stored_values_fall_back_to_defaults(settings_store):
    save_settings(AppSettings(top_k=10_000, provider="quantum"), settings_store)
    settings_store.setValue("settings/radius_m", "not a number")
    loaded = load_settings(settings_store)
    assert (
        loaded.top_k == 100
        and loaded.provider == "auto"
        and loaded.radius_m == AppSettings().radius_m
    )


def test_default_radius_matches_the_engine():
    from sciceapp.engine.locate import DEFAULT_RADIUS_M, DEFAULT_TOP_K

    assert AppSettings().radius_m == DEFAULT_RADIUS_M and AppSettings().top_k == DEFAULT_TOP_K


def test_keyboard_shortcuts_open_the_dialogs(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from sciceapp.ui.model_dialog import ModelDialog

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    QTest.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None, timeout=WAIT_MS)
    window.findChild(SettingsDialog).reject()
    QTest.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.findChild(ModelDialog) is not None, timeout=WAIT_MS)
    window.findChild(ModelDialog).reject()
    shortcuts = {name: a.shortcut().toString() for name, a in window.actions_by_name.items()}
    assert shortcuts["Update collection"] == "F5" and shortcuts["Export map as HTML"] == "Ctrl+E"


def test_changing_the_data_folder_reloads_the_collections(
    qtbot, window, gps_collection: str, tmp_path: Path
):
    from dataclasses import replace

    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    assert window.indexing.names() == [gps_collection]
    other = tmp_path / "other-data"
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS) as loaded:
        window.apply_settings(replace(window.settings, data_dir=str(other)))
    assert window.data_dir == other.resolve()
    assert loaded.args[0].summaries == [] and window.current_collection() is None
