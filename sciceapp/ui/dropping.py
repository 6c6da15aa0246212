"""What a drag carries: local files and folders, from URLs or pasted text."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData


def local_paths(mime: QMimeData | None) -> list[Path]:
    """Existing local files and folders named by a drag's URLs (or its text, one per line)."""
    if mime is None:
        return []
    candidates: list[str] = []
    if mime.hasUrls():
        candidates += [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    elif mime.hasText():
        candidates += paths_from_text(mime.text())
    return [Path(c) for c in candidates if c and Path(c).exists()]


def paths_from_text(text: str) -> list[str]:
    """Paths pasted as text: one per line, optionally quoted or as file:// URLs."""
    found = []
    for line in text.splitlines():
        line = line.strip().strip('"').strip("'")
        if line.startswith("file://"):
            from PySide6.QtCore import QUrl

            line = QUrl(line).toLocalFile()
        if line:
            found.append(str(Path(line).expanduser()))
    return found
