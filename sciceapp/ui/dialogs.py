"""Opening a window-modal dialog that deletes itself when closed."""

from __future__ import annotations

from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

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
