"""First run without a model, and errors reaching the user as messages, never crashes."""

from __future__ import annotations

from pathlib import Path

from ui_helpers import WAIT_MS, drop_files, make_window

from sciceapp.errors import ModelError
from sciceapp.ui.guard import catch_all, install_excepthook


def test_first_run_without_a_model_explains_and_offers_choices(
    qtbot, data_dir: Path, settings_store
):
    window = make_window(qtbot, data_dir, settings_store, first_run_check=True)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.show()
    dialog = window.first_run_dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.text.text()
    assert "model" in text and "random weights" in text and "demo, not accurate" in text
    assert "demo, not accurate" in dialog.demo_button.text()
    assert dialog.import_button.isVisible() and dialog.build_button.isVisible()
    assert window.settings.model_path == ""  # nothing chosen behind the user's back
    dialog.later_button.click()
    assert not dialog.isVisible()
    window.close()


def test_a_random_weight_model_is_never_picked_silently(
    qtbot, data_dir: Path, settings_store, model_in_data_dir: Path
):
    window = make_window(qtbot, data_dir, settings_store, first_run_check=True)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.show()
    assert window.settings.model_path == ""
    window.close()


def test_error_in_a_worker_is_shown_as_a_message(
    qtbot, window, gps_collection: str, model_in_data_dir: Path, exif_samples: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    model_in_data_dir.unlink()  # the collection's model is gone
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        drop_files(window, [exif_samples / "gps" / "DSCN0010.jpg"])
    assert "model file" in shown.args[0] and "missing" in shown.args[0]
    assert window.error_box is not None and window.error_box.isVisible()
    assert "missing" in window.error_box.text()
    assert window.isVisible()  # the window goes on
    status = window.query_model.rows[0].status
    assert status.startswith("failed: ") and "missing" in status  # the reason stays on the row


def test_exception_in_a_slot_is_caught_and_shown(qtbot, window):
    @catch_all
    def slot() -> None:
        raise ModelError("The model is broken; import another one.")

    @catch_all
    def buggy_slot() -> None:
        raise ZeroDivisionError("boom")

    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        slot()
    assert shown.args[0] == "The model is broken; import another one."
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        buggy_slot()
    assert "ZeroDivisionError" in shown.args[0] and "log" in shown.args[0]


def test_dropping_without_a_collection_says_what_to_do(qtbot, window, exif_samples: Path):
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        drop_files(window, [exif_samples / "gps" / "DSCN0010.jpg"])
    assert "collection" in shown.args[0]
    assert window.query_model.rowCount() == 0


def test_an_exception_outside_any_guarded_slot_is_shown(qtbot, window, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook()
    try:
        raise KeyError("lost")
    except KeyError as exc:
        error = exc
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        sys.excepthook(KeyError, error, error.__traceback__)
    assert "KeyError" in shown.args[0] and "log" in shown.args[0]


def test_a_pasted_path_that_does_not_exist_gets_a_failed_row(
    qtbot, window, gps_collection: str, tmp_path: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    missing = tmp_path / "gone.jpg"
    window.path_edit.setText(str(missing))
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        window.path_edit.returnPressed.emit()
    (row,) = window.query_model.rows
    assert "No such file" in row.status_text()
