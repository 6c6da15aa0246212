"""The app's own URL scheme for map tiles: ``sciceapp-tiles://mbtiles/{z}/{x}/{y}`` answers
with tiles read from the MBTiles file chosen in Settings (``engine.tiles.MBTiles``),
``sciceapp-tiles://folder/{z}/{x}/{y}`` with the tile folder's files (``engine.tiles.TileFolder``),
and
``sciceapp-tiles://online/{z}/{x}/{y}`` with the online server's tile through the on-disk
tile cache (``engine.tile_cache``), fetched on worker threads (two at a time, as tile servers
ask) and answered back on the GUI thread, which never waits for the network.

The scheme must be registered before the QApplication exists (``register_tile_scheme``); the
handler is installed once on the web profile the map pages use (``install_tile_handler``).
"""

from __future__ import annotations

import base64
import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import shiboken6
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Signal
from PySide6.QtWebEngineCore import (
    QWebEngineProfile,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from sciceapp.engine.tile_cache import TileAnswer, TileCache, TileFetcher
from sciceapp.engine.tiles import (
    TILE_SCHEME,
    MBTiles,
    TileFolder,
    expand_template,
    parse_tile_path,
)
from sciceapp.errors import SciceappError
from sciceapp.ui.guard import catch_all

log = logging.getLogger("sciceapp.ui")

_handler: TileSchemeHandler | None = None
FETCH_THREADS = 2  # OpenStreetMap's tile policy: at most two connections at a time
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
    """Serves tiles from ``mbtiles`` (a path, or "" for none: every tile is "not found") and
    from the online server set with ``set_online`` through its cache."""

    fetched = Signal(int, object)  # request number, TileAnswer or None (from a fetch thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source: MBTiles | None = None
        self._folder: TileFolder | None = None
        self.served = 0  # MBTiles and folder tiles answered (tests read it)
        self.online_template = ""
        self.fetcher: TileFetcher | None = None
        self.answered: dict[str, int] = {}  # online tiles answered, by where they came from
        self._pending: dict[int, QWebEngineUrlRequestJob] = {}
        self._numbers = itertools.count()
        self._threads = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="tiles")
        self.fetched.connect(self._reply_fetched)

    def set_online(self, template: str, cache_folder: Path | None) -> None:
        """Online tiles come from ``template`` and are kept in ``cache_folder``."""
        self.online_template = template
        if cache_folder is None:
            self.fetcher = None
        elif self.fetcher is None or self.fetcher.cache.folder != Path(cache_folder):
            self.fetcher = TileFetcher(TileCache(cache_folder))

    def set_folder(self, path: str) -> None:
        """Folder tiles come from ``path`` ("" for none)."""
        self._folder = TileFolder(path) if path else None

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
        where = parse_tile_path(url.path())
        if where is not None and url.host() == "online" and self.fetcher and self.online_template:
            self._fetch_online(job, expand_template(self.online_template, *where))
            return
        if where is not None and url.host() == "folder" and self._folder is not None:
            found = self._folder.tile(*where)
            _reply(job, found[0] if found else None, found[1] if found else "")
            self.served += found is not None
            return
        if where is None or url.host() != "mbtiles" or self._source is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        data = self._source.tile(*where)
        _reply(job, data, self._source.mime_type)
        self.served += data is not None

    def _fetch_online(self, job: QWebEngineUrlRequestJob, url: str) -> None:
        number = next(self._numbers)
        self._pending[number] = job
        job.destroyed.connect(lambda *_: self._pending.pop(number, None))  # the page went
        fetcher = self.fetcher

        def fetch() -> None:
            try:
                answer = fetcher.fetch(url)
            except Exception:  # never lose the job: it would wait for ever
                log.warning("Fetching tile %s failed", url, exc_info=True)
                answer = None
            if shiboken6.isValid(self):  # the app may be closing
                self.fetched.emit(number, answer)

        self._threads.submit(fetch)

    @catch_all
    def _reply_fetched(self, number: int, answer: TileAnswer | None) -> None:
        job = self._pending.pop(number, None)
        if job is None or not shiboken6.isValid(job):
            return
        source = answer.source if answer is not None else "none"
        self.answered[source] = self.answered.get(source, 0) + 1
        _reply(job, answer.data if answer else None, answer.content_type if answer else "")

    def close(self) -> None:
        """Stop fetching (the app is quitting); tiles already asked for are dropped."""
        self._threads.shutdown(wait=False, cancel_futures=True)


def _reply(job: QWebEngineUrlRequestJob, data: bytes | None, mime_type: str) -> None:
    """Answer with ``data``, or with a transparent tile where there is none."""
    buffer = QBuffer(parent=job)
    buffer.setData(QByteArray(data if data is not None else EMPTY_TILE))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    job.reply((mime_type if data is not None else "image/png").encode(), buffer)


def install_tile_handler(profile: QWebEngineProfile | None = None) -> TileSchemeHandler:
    """The one handler, installed on ``profile`` (the default one) the first time."""
    global _handler
    if _handler is None:
        profile = profile or QWebEngineProfile.defaultProfile()
        _handler = TileSchemeHandler(profile)
        profile.installUrlSchemeHandler(TILE_SCHEME.encode(), _handler)
    return _handler
