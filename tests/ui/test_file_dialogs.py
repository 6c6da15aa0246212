"""File dialogs open in the folder last chosen in any of the app's dialogs, also after a
restart; a field that already names a file starts its dialog there."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_helpers import make_window

from sciceapp.ui import file_dialogs
from sciceapp.ui.model_dialog import ModelDialog
from sciceapp.ui.settings_dialog import SettingsDialog


class FakeDialogs:
    """Stands in for QFileDialog's static functions: records where each one opened and
    answers what the test queued."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[str] = []
        self.answers: list = []
        dialog = file_dialogs.QFileDialog
        monkeypatch.setattr(dialog, "getExistingDirectory", self._folder)
        for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName"):
            monkeypatch.setattr(dialog, name, self._files)

    def _folder(self, _parent, _title, start=""):
        self.opened.append(start)
        return self.answers.pop(0) if self.answers else ""

    def _files(self, _parent, _title, start="", _pattern=""):
        self.opened.append(start)
        return (self.answers.pop(0) if self.answers else "", "")


def test_dialogs_open_where_the_user_last_was_also_after_a_restart(
    qtbot, window, data_dir: Path, settings_store, tmp_path: Path, monkeypatch
):
    fake = FakeDialogs(monkeypatch)
    photos = tmp_path / "trip" / "photos"
    photos.mkdir(parents=True)
    dialog = window.new_collection()
    fake.answers.append(str(photos))
    dialog._pick_folder()  # the New collection dialog's "Add folder…"
    assert dialog.folders() == [str(photos)]
    dialog.reject()
    window.open_photos()  # the main window's "Open photos…": nothing chosen this time
    assert fake.opened[-1] == str(photos)
    window.export_map()  # no collection: refused before any dialog
    models = ModelDialog.show_for(window)
    model = tmp_path / "trip" / "net.onnx"
    fake.answers.append(str(model))
    models._import()  # a file: its folder is remembered (the import itself then fails)
    assert fake.opened[-1] == str(photos)
    models.close()

    restarted = make_window(qtbot, data_dir, settings_store)
    settings = SettingsDialog.show_for(restarted)
    settings.mbtiles_path.setText("")
    settings._browse_mbtiles()
    assert fake.opened[-1] == str(model.parent)  # held over the restart
    settings.mbtiles_path.setText(str(tmp_path / "maps" / "alps.mbtiles"))
    settings._browse_mbtiles()
    assert fake.opened[-1] == str(tmp_path / "maps" / "alps.mbtiles")  # its own path first
    settings.reject()
    assert file_dialogs.save_file_name(None, "Export", "review.csv", "CSV (*.csv)") == ""
    assert fake.opened[-1] == str(model.parent / "review.csv")  # the name, in that folder
    restarted.close()
