"""The app's own URL scheme for map tiles: ``sciceapp-tiles://mbtiles/{z}/{x}/{y}`` answers
with tiles read from the MBTiles file chosen in Settings (``engine.tiles.MBTiles``).

The scheme must be registered before the QApplication exists (``register_tile_scheme``); the
handler is installed once on the web profile the map pages use (``install_tile_handler``).
"""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtWebEngineCore import (
    QWebEngineProfile,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from sciceapp.engine.tiles import TILE_SCHEME, MBTiles, parse_tile_path
from sciceapp.errors import SciceappError
from sciceapp.ui.guard import catch_all

log = logging.getLogger("sciceapp.ui")

_handler: TileSchemeHandler | None = None
# Where the file has no tile (another zoom, another region): a transparent pixel, so the world
# outline shows through and the page does not report failing tiles.
EMPTY_TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


def register_tile_scheme() -> None:
    """Declare the scheme (before the QApplication is created; a second call does nothing)."""
    if QWebEngineUrlScheme.schemeByName(TILE_SCHEME.encode()).name():
        return
    scheme = QWebEngineUrlScheme(TILE_SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(
        QWebEngineUrlScheme.Flag.SecureScheme
        | QWebEngineUrlScheme.Flag.LocalAccessAllowed
        | QWebEngineUrlScheme.Flag.CorsEnabled
    )
    QWebEngineUrlScheme.registerScheme(scheme)


class TileSchemeHandler(QWebEngineUrlSchemeHandler):
    """Serves tiles from ``mbtiles`` (a path, or "" for none: every tile is "not found")."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: MBTiles | None = None
        self.served = 0  # tiles answered (tests read it)

    def set_mbtiles(self, path: str) -> None:
        if self._source is not None and str(self._source.path) == path:
            return
        if self._source is not None:
            self._source.close()
        self._source = None
        if path:
            try:
                self._source = MBTiles(path)
            except SciceappError as exc:
                log.warning("%s", exc)

    @catch_all
    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 - Qt override
        url = job.requestUrl()
        where = parse_tile_path(url.path()) if url.host() == "mbtiles" else None
        if where is None or self._source is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        data = self._source.tile(*where)
        mime_type = self._source.mime_type if data is not None else "image/png"
        buffer = QBuffer(parent=job)
        buffer.setData(QByteArray(data if data is not None else EMPTY_TILE))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(mime_type.encode(), buffer)
        self.served += data is not None


def install_tile_handler(profile: QWebEngineProfile | None = None) -> TileSchemeHandler:
    """The one handler, installed on ``profile`` (the default one) the first time."""
    global _handler
    if _handler is None:
        profile = profile or QWebEngineProfile.defaultProfile()
        _handler = TileSchemeHandler(profile)
        profile.installUrlSchemeHandler(TILE_SCHEME.encode(), _handler)
    return _handler
