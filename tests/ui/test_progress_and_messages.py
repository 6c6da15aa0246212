"""What the window says while and after it works: counts and time left in progress, a
cancelled job named with the way to finish it, F5 on the collection being indexed, and a
model file that is not ONNX reported without a traceback in the log."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ui_helpers import WAIT_MS

from sciceapp.ui.model_dialog import ModelDialog
from sciceapp.ui.progress_text import ProgressText, count_text, duration_text
from sciceapp.ui.workers import Worker

NBSP = "\u00a0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_text_gives_counts_and_time_left():
    clock = FakeClock()
    text = ProgressText("photos", clock=clock)
    assert text.text(0, 5000) == f"0 of 5{NBSP}000 photos"  # no rate yet: no guess
    clock.now += 60
    assert text.text(1234, 5000) == f"1{NBSP}234 of 5{NBSP}000 photos, about 3 min left"
    clock.now += 60  # 2468 done in 120 s: 2532 left at ~20.6 photos/s
    assert text.text(2468, 5000, "3 skipped") == (
        f"2{NBSP}468 of 5{NBSP}000 photos, 3 skipped, about 2 min left"
    )
    # A new phase (another total) measures its own rate from its own start.
    assert text.text(0, 40, "local features") == "0 of 40 photos, local features"
    clock.now += 10
    assert text.text(10, 40, "local features") == (
        "10 of 40 photos, local features, about 30 s left"
    )
    assert text.text(7, -1) == "7 photos"  # total unknown
    assert count_text(5_000_000) == f"5{NBSP}000{NBSP}000"
    assert duration_text(4000) == "1 h 7 min"


def _block_pool(window) -> threading.Event:
    """Occupy the pool's only thread until the returned event is set."""
    release = threading.Event()
    window.pool.pool.setMaxThreadCount(1)
    window.pool.start(Worker(lambda *, progress, cancel: release.wait(WAIT_MS / 1000)))
    return release


def test_the_collections_panel_shows_counts_and_time_left_while_indexing(
    qtbot, window, model_in_data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    panel = window.collections
    seen: list[str] = []
    worker = window.create_collection("arezzo", [str(exif_samples / "gps")])
    # Connected after the panel: each report is read once the panel has shown it.
    worker.signals.progress.connect(lambda *_: seen.append(panel.progress_label.text()))
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS):
        pass
    assert any("Creating “arezzo”…\n" in t and " of 9 photos" in t for t in seen), seen

    clock = FakeClock()  # the time left, on the panel, without waiting minutes for it
    panel.progress_text.clock = clock
    panel.set_busy("Updating “arezzo”…")
    panel.set_progress(0, 5000, "")
    clock.now += 60
    panel.set_progress(1234, 5000, "")
    assert panel.progress_label.text() == (
        f"Updating “arezzo”…\n1{NBSP}234 of 5{NBSP}000 photos, about 3 min left"
    )
    panel.set_idle()


def test_cancelling_names_the_collection_and_the_update_button(
    qtbot, window, model_in_data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    release = _block_pool(window)
    window.create_collection("arezzo", [str(exif_samples / "gps")])
    window.collections.cancel_button.click()
    with qtbot.waitSignal(window.indexing.message, timeout=WAIT_MS) as said:
        release.set()
    text = window.collections.progress_label.text()
    assert text == said.args[0].removeprefix("arezzo: ")
    assert "“arezzo” cancelled: 0 added and 0 updated photos are kept" in text
    assert "select “arezzo” and press Update (F5)" in text
    assert "sciceapp collection" not in text  # not the command line's way


def test_f5_on_the_collection_being_indexed_says_so(qtbot, window, gps_collection: str):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    release = _block_pool(window)
    try:
        assert window.indexing.update(gps_collection) is not None
        with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
            window.actions_by_name["Update collection"].trigger()  # F5
        assert shown.args[0].startswith("“gps” is being indexed already")
        assert "another" not in shown.args[0].lower()
        with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as other:
            window.indexing.add("elsewhere", ["/tmp"])
        assert other.args[0] == "“gps” is being indexed; wait for it, or cancel it, before " \
            "indexing “elsewhere”."  # fmt: skip
    finally:
        window.collections.cancel_button.click()
        with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS):
            release.set()


def test_importing_a_file_that_is_not_onnx_logs_no_traceback(qtbot, window, tmp_path: Path, caplog):
    dialog = ModelDialog.show_for(window)
    bad = tmp_path / "holiday.jpg.onnx"
    bad.write_bytes(b"\xff\xd8\xff\xe0 a JPEG, not a network")
    caplog.set_level(logging.DEBUG, logger="sciceapp")
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        dialog.import_file(str(bad))
    assert "holiday.jpg.onnx" in shown.args[0]
    assert "Unexpected error" not in shown.args[0]
    assert [r for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text
    assert any("holiday.jpg.onnx" in r.getMessage() for r in caplog.records)
    dialog.close()
