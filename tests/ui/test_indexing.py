"""Indexing in the window: cancelling keeps what was done; closing mid-way stops cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

from ui_helpers import WAIT_MS, drop_files

from sciceapp.engine.library import Library
from sciceapp.ui.workers import Worker


def _block_pool(window) -> threading.Event:
    """Occupy every pool thread until the returned event is set, so the next job waits."""
    release = threading.Event()
    window.pool.pool.setMaxThreadCount(1)

    def hold(*, progress, cancel) -> None:
        release.wait(WAIT_MS / 1000)

    window.pool.start(Worker(hold))
    return release


def test_cancel_button_stops_indexing_and_keeps_the_collection(
    qtbot, window, model_in_data_dir: Path, data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    release = _block_pool(window)
    window.create_collection("arezzo", [str(exif_samples / "gps")])
    panel = window.collections
    assert not panel.cancel_button.isHidden() and not panel.progress.isHidden()
    panel.cancel_button.click()  # before the job could index anything
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as finished:
        release.set()
    assert finished.args == [None]  # cancelled, not a report of finished work
    assert panel.cancel_button.isHidden() and panel.progress.isHidden()
    assert "cancelled" in panel.progress_label.text().lower()
    assert not window.indexing.busy
    summary = Library(data_dir).open_collection("arezzo").summary()
    assert summary.indexed == 0 and summary.total == 0
    # Nothing was lost: updating afterwards indexes everything.
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as again:
        window.indexing.add("arezzo", [str(exif_samples / "gps")])
    assert again.args[0].added == 9


def test_closing_the_window_while_indexing_cancels_and_keeps_finished_work(
    qtbot, window, model_in_data_dir: Path, data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    started = threading.Event()
    worker = window.create_collection("arezzo", [str(exif_samples / "gps")])
    worker.signals.progress.connect(lambda *_: started.set())
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)
    window.close()  # cancels and waits for the worker
    assert worker.cancel_token.cancelled
    assert not window.pool.active
    summary = Library(data_dir).open_collection("arezzo").summary()
    assert summary.indexed <= 9
    # The catalogue and index agree: searching what was kept works.
    collection = Library(data_dir).open_collection("arezzo")
    assert len(collection.photos(state="indexed")) == summary.indexed


def test_folders_dropped_on_the_panel_make_a_collection_and_skipped_photos_are_listed(
    qtbot, window, model_in_data_dir: Path, exif_samples: Path, tmp_path: Path
):
    from PySide6.QtWidgets import QTableWidget

    from sciceapp.ui.skipped_dialog import SkippedDialog

    folder = tmp_path / "walk"
    folder.mkdir()
    good = (exif_samples / "gps" / "DSCN0010.jpg").read_bytes()
    (folder / "good.jpg").write_bytes(good)
    (folder / "cut.jpg").write_bytes(good[:300])  # truncated inside the header
    (folder / "notes.jpg").write_text("not a photo at all")
    window.settings.model_path = str(model_in_data_dir)
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as indexed:
        assert drop_files(window.collections, [folder])
    report = indexed.args[0]
    assert report.added == 1 and len(report.skipped) == 2
    assert window.current_collection() == "walk"
    assert "skipped: 2" in window.collections.details.text()
    assert window.collections.skipped_button.isEnabled()
    dialog = SkippedDialog.show_for(window, "walk")
    table: QTableWidget = dialog.table
    qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=WAIT_MS)
    reasons = [table.item(row, 1).text() for row in range(2)]
    assert all(reasons), reasons  # every skipped photo says why
    dialog.close()
