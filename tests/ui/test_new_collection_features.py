"""The New collection dialog's "local features" option reaches the engine."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from ui_helpers import WAIT_MS

from sciceapp.engine.library import Library


def test_local_features_are_on_by_default_and_can_be_turned_off(
    qtbot, model_in_data_dir: Path, window, data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    dialog = window.new_collection([str(exif_samples / "gps")])
    assert dialog.local_features.isChecked()  # verification on unless the user says no
    assert "verified" in dialog.local_features_help.text()
    dialog.name_edit.setText("no-features")
    dialog.local_features.setChecked(False)
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as indexed:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert indexed.args[0].added == 9
    collection = Library(data_dir).open_collection("no-features")
    assert collection.local_features is False
    assert collection.summary().features_photos == 0
