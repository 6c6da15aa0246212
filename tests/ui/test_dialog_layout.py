"""Dialogs as a user meets them: Settings, Models and Review sized to their content (nothing
clipped, nothing past the screen) with a button that closes them; New collection without a
model keeps what was typed while the user gets one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractScrollArea, QDialogButtonBox, QWidget
from ui_helpers import WAIT_MS

from sciceapp.ui.model_dialog import ModelDialog
from sciceapp.ui.new_collection_dialog import NO_MODEL_TEXT
from sciceapp.ui.review_window import ReviewWindow
from sciceapp.ui.settings_dialog import SettingsDialog


def _in_scroll_area(widget, dialog) -> bool:
    """Inside a list, table or text view: scrolled, never clipped."""
    parent = widget.parentWidget()
    while parent is not None and parent is not dialog:
        if isinstance(parent, QAbstractScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def _clipped(dialog) -> list[str]:
    """Visible widgets that do not fit inside the dialog, or are squeezed below their
    minimum size."""
    inside = dialog.rect()
    bad = []
    for widget in dialog.findChildren(QWidget):
        if not widget.isVisibleTo(dialog) or widget.window() is not dialog:
            continue
        if _in_scroll_area(widget, dialog):
            continue
        where = QRect(widget.mapTo(dialog, widget.rect().topLeft()), widget.size())
        small = widget.width() < widget.minimumSizeHint().width() - 1
        if not inside.contains(where) or small:
            bad.append(f"{type(widget).__name__} {widget.objectName()} {where}")
    return bad


def _close_button(dialog) -> object:
    boxes = dialog.findChildren(QDialogButtonBox)
    for box in boxes:
        for role in (QDialogButtonBox.StandardButton.Close, QDialogButtonBox.StandardButton.Cancel):
            if box.button(role) is not None:
                return box.button(role)
    raise AssertionError("no Close button")


def test_settings_models_and_review_fit_their_content_and_close(qtbot, window):
    screen = window.screen().availableGeometry()
    for open_it in (SettingsDialog.show_for, ModelDialog.show_for, ReviewWindow.show_for):
        dialog = open_it(window)
        qtbot.waitExposed(dialog)
        hint = dialog.sizeHint()
        assert dialog.width() >= min(hint.width(), int(0.9 * screen.width()))
        assert dialog.height() >= min(hint.height(), int(0.9 * screen.height()))
        assert dialog.width() <= screen.width() and dialog.height() <= screen.height()
        assert _clipped(dialog) == [], type(dialog).__name__
        button = _close_button(dialog)
        assert button.text().replace("&", "") in ("Close", "Cancel")
        if not isinstance(dialog, SettingsDialog):  # Settings: OK saves, Cancel closes
            assert button.text().replace("&", "") == "Close"
        button.click()
        qtbot.waitUntil(lambda d=dialog: not d.isVisible(), timeout=WAIT_MS)


def test_new_collection_without_a_model_keeps_what_was_typed(
    qtbot, window, model_in_data_dir: Path, exif_samples: Path
):
    window.settings.model_path = ""
    folder = str(exif_samples / "gps")
    dialog = window.new_collection([folder])
    dialog.name_edit.setText("arezzo walk")
    dialog.kind_buttons["pca"].setChecked(True)
    dialog.local_features.setChecked(False)
    with qtbot.waitSignal(dialog.model_wanted, timeout=WAIT_MS):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and dialog.problem.text() == NO_MODEL_TEXT
    models = [d for d in window.findChildren(ModelDialog) if d.isVisible()]
    assert len(models) == 1  # Models opened over it
    assert dialog.name_edit.text() == "arezzo walk" and dialog.folders() == [folder]
    # The user gets a model there (as "Use for new collections" does), closes it, comes back.
    window.settings.model_path = str(model_in_data_dir)
    models[0].close_buttons.button(QDialogButtonBox.StandardButton.Close).click()
    with qtbot.waitSignal(dialog.chosen, timeout=WAIT_MS) as chosen:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert chosen.args == ["arezzo walk", [folder], "pca", False]
    assert window.indexing.busy  # indexing started with what was typed
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as finished:
        pass
    assert finished.args[0].added == 9
