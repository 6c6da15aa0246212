"""The confirmation shown before sciceapp writes a location into photos: which files, where
(the photos themselves or XMP sidecars, the user's choice here), and which are left alone."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

FILES_NAMED = 12
TARGETS = (
    ("", "into the photo files themselves (EXIF)"),
    ("darktable", "into XMP sidecars named photo.jpg.xmp (darktable, digiKam)"),
    ("digikam", "into XMP sidecars named photo.xmp (digiKam compatible, Lightroom)"),
)


def target_label(sidecar: str) -> str:
    return dict(TARGETS).get(sidecar, TARGETS[0][1])


def _file_list(paths: list[str], limit: int = FILES_NAMED) -> str:
    items = "".join(f"<li>{html.escape(Path(p).name)}</li>" for p in paths[:limit])
    more = f"<li>… and {len(paths) - limit} more</li>" if len(paths) > limit else ""
    return f"<ul>{items}{more}</ul>"


class ConfirmWriteDialog(QDialog):
    """Emits ``confirmed(sidecar)`` ("" for the photos themselves) when the user says write."""

    confirmed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None,
        requests: list[Any],
        sidecar: str,
        left: list[tuple[str, str]] | None = None,
        what: str = "the location",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Write location into photos?")
        self.requests = requests
        files = [str(r.photo) for r in requests]
        text = (
            f"<p>sciceapp will write {html.escape(what)} into <b>{len(files)}</b> "
            f"photo(s):</p>{_file_list(files)}"
            "<p>Each change is recorded with a backup first; <i>Edit &gt; Undo</i> (Ctrl+Z) "
            "puts the files back exactly as they were.</p>"
        )
        if left:
            reasons = [f"{Path(p).name}: {reason}" for p, reason in left]
            text += f"<p>Left alone ({len(left)}):</p>{_file_list(reasons)}"
        self.summary = QLabel(text)
        self.summary.setWordWrap(True)
        self.target = QComboBox()
        for value, label in TARGETS:
            self.target.addItem(label, value)
        index = self.target.findData(sidecar)
        self.target.setCurrentIndex(max(index, 0))
        form = QFormLayout()
        form.addRow("Write", self.target)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Write")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(requests))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    @property
    def sidecar(self) -> str:
        return str(self.target.currentData() or "")

    def accept(self) -> None:
        super().accept()
        self.confirmed.emit(self.sidecar)
