"""The classical, training-free model in the window: chosen from the first-run dialog, listed
in the Models dialog, named as such, and used to build a collection and locate a photo."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_helpers import WAIT_MS, drop_files, make_window

from sciceapp.engine.labels import CLASSICAL, CLASSICAL_LABEL
from sciceapp.ui.model_dialog import ModelDialog


def test_the_models_dialog_lists_the_classical_model_as_built_in(qtbot, window):
    dialog = ModelDialog.show_for(window)
    qtbot.waitUntil(lambda: dialog.local_list.count() >= 2, timeout=WAIT_MS)
    texts = [dialog.local_list.item(i).text() for i in range(dialog.local_list.count())]
    assert "No model yet" in texts[0]  # no file; the classical one needs none
    (classical,) = [t for t in texts if "classical, training-free" in t]
    assert "built in" in classical and "SciceVPR" not in classical
    dialog.local_list.setCurrentRow(texts.index(classical))
    dialog.use_button.click()
    assert window.settings.model_path == CLASSICAL
    dialog.close()


@pytest.mark.slow
def test_first_run_classical_choice_builds_a_collection_and_locates(
    qtbot, data_dir: Path, settings_store, exif_samples: Path
):
    window = make_window(qtbot, data_dir, settings_store, first_run_check=True)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.show()
    dialog = window.first_run_dialog
    assert dialog is not None and "classical, training-free" in dialog.classical_button.text()
    assert "training-free" in dialog.text.text()
    dialog.classical_button.click()
    assert not dialog.isVisible() and window.settings.model_path == CLASSICAL

    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=60_000) as indexed:
        window.create_collection("arezzo", [str(exif_samples / "gps")])
    report = indexed.args[0]
    assert report is not None and report.added == 9 and not report.skipped
    details = window.collections.details.text()
    assert CLASSICAL_LABEL in details and "demo" not in details

    query = exif_samples / "gps" / "DSCN0012.jpg"
    with qtbot.waitSignal(window.locating.queries_finished, timeout=60_000) as located:
        assert drop_files(window, [query])
    (result,) = located.args[0]
    assert result.error is None
    names = window.strip.names()
    assert names and "DSCN0012.jpg" not in names  # matched against the others, not itself
    lat, lon = result.predicted
    assert 43.4 < lat < 43.5 and 11.8 < lon < 11.9  # somewhere in Arezzo
    window.close()
