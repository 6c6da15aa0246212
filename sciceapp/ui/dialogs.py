"""Opening a window-modal dialog that deletes itself when closed, and sizing a dialog to its
content."""

from __future__ import annotations

from typing import Any, TypeVar

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLayout

D = TypeVar("D", bound=QDialog)


def open_dialog(cls: type[D], *args: Any, modal: bool = True) -> D:
    """Create ``cls(*args)``, show it without blocking, and return it (tests drive it)."""
    dialog = cls(*args)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if modal:
        dialog.open()
    else:
        dialog.show()
    return dialog


SCREEN_SHARE = 0.9  # a dialog never grows past this much of the screen


def fit_to_content(dialog: QDialog, minimum: QSize | None = None) -> QSize:
    """Size ``dialog`` to what its content asks for (at least ``minimum``), within the
    screen; returns the size given."""
    dialog.layout().activate()
    size = dialog.sizeHint().expandedTo(minimum or QSize())
    screen = dialog.screen()
    if screen is not None:
        room = screen.availableGeometry().size() * SCREEN_SHARE
        size = size.boundedTo(room)
    dialog.resize(size)
    return size


def close_buttons(dialog: QDialog, layout: QLayout) -> QDialogButtonBox:
    """A Close button (Esc too) at the end of ``layout`` that closes ``dialog``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return buttons
