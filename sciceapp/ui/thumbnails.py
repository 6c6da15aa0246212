"""Thumbnails, decoded in a worker and cached as QImages (QPixmaps are made on the GUI thread).

A QImage may be built on any thread; the engine's ``load_thumbnail`` does the decoding
(EXIF orientation, HEIC). A file that cannot be decoded gets no thumbnail and its reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from sciceapp.errors import SciceappError
from sciceapp.progress import CancelToken, ProgressFn
from sciceapp.ui.workers import Worker, WorkerPool

log = logging.getLogger("sciceapp.ui")

THUMB_SIDE_PX = 160


def pil_to_qimage(image) -> QImage:  # noqa: ANN001 - a PIL image
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return qimage.copy()  # own the pixels: ``data`` goes away with this frame


def make_thumbnails(
    paths: list[str], max_side_px: int, *, progress: ProgressFn, cancel: CancelToken
) -> dict[str, QImage | str]:
    """``path -> QImage``, or ``path -> reason`` when the file cannot be shown."""
    from sciceapp.engine.images import load_thumbnail

    out: dict[str, QImage | str] = {}
    for done, path in enumerate(paths):
        cancel.raise_if_cancelled()
        try:
            out[path] = pil_to_qimage(load_thumbnail(Path(path), max_side_px))
        except SciceappError as exc:
            out[path] = str(exc)
        except OSError as exc:
            out[path] = f"cannot read the file: {exc}"
        progress(done + 1, len(paths), Path(path).name)
    return out


class ThumbnailCache(QObject):
    """Hands out pixmaps for photos; missing ones are made in the background and announced."""

    ready = Signal(list)  # the paths that now have a thumbnail (or a reason)

    def __init__(
        self, pool: WorkerPool, side_px: int = THUMB_SIDE_PX, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.pool = pool
        self.side_px = side_px
        self._pixmaps: dict[str, QPixmap] = {}
        self._reasons: dict[str, str] = {}
        self._pending: set[str] = set()

    def pixmap(self, path: str) -> QPixmap | None:
        return self._pixmaps.get(str(path))

    def reason(self, path: str) -> str | None:
        return self._reasons.get(str(path))

    def request(self, paths: list[str]) -> Worker | None:
        """Start making the thumbnails not yet cached or pending; None when there is nothing to do."""
        wanted = [str(p) for p in dict.fromkeys(paths)]
        todo = [
            p
            for p in wanted
            if p not in self._pixmaps and p not in self._reasons and p not in self._pending
        ]
        if not todo:
            return None
        self._pending.update(todo)
        worker = Worker(make_thumbnails, todo, self.side_px, name="thumbnails")
        worker.signals.result.connect(self._store)
        worker.signals.finished.connect(lambda: self._pending.difference_update(todo))
        return self.pool.start(worker)

    def _store(self, images: dict) -> None:
        for path, image in images.items():
            if isinstance(image, QImage):
                self._pixmaps[path] = QPixmap.fromImage(image)
            else:
                self._reasons[path] = str(image)
        self.ready.emit(list(images))
