"""An on-disk cache of the online map tiles the user has looked at, so that the same area
still shows offline later (in the field).

It follows the tile servers' usage policies (OpenStreetMap's asks for all of this): only the
tiles a map view asks for are fetched, one at a time per view request, never ahead or in
bulk; every request names the app in its User-Agent; the server's caching headers decide how
long a tile is fresh (``Cache-Control: max-age``, ``Expires``; ``no-store`` is never kept;
without headers, a week), and a stale tile is checked again with ``If-None-Match`` /
``If-Modified-Since`` before it is used online. Only when the server cannot be reached is a
stale tile shown as it is: better an old map than none.

One file per tile (a JSON header line, then the image bytes), named by the SHA-256 of its
URL, replaced atomically; a damaged file is a miss. The cache stays under ``max_bytes`` by
dropping the tiles used least recently. No Qt here: the window's URL scheme handler
(``ui.tile_scheme``) calls ``TileFetcher.fetch`` from worker threads.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sciceapp import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"sciceapp/{__version__} (desktop photo geolocator; tile cache)"
DEFAULT_MAX_AGE_S = 7 * 24 * 3600  # a server that says nothing: a week (OSM's own advice)
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
TIMEOUT_S = 10.0
MAX_TILE_BYTES = 4 * 1024 * 1024  # larger is not a map tile
SUFFIX = ".tile"
IMAGE_TYPES = ("image/",)
_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass
class CachedTile:
    data: bytes
    content_type: str
    fresh_until: float  # seconds since the epoch
    etag: str = ""
    last_modified: str = ""


@dataclass
class TileAnswer:
    data: bytes
    content_type: str
    source: str  # "network", "cache" (fresh), "revalidated" or "stale" (server unreachable)


def freshness_s(headers: dict[str, str], now: float) -> float | None:
    """How long a response may be used without asking again, from its caching headers;
    None when it must not be stored at all."""
    control = headers.get("cache-control", "")
    lowered = control.lower()
    if "no-store" in lowered:  # ("private" is fine: this cache is one user's own)
        return None
    if "no-cache" in lowered:
        return 0.0
    ages = {name.lower(): int(value) for name, value in _MAX_AGE.findall(control)}
    if ages:
        return float(ages.get("s-maxage", ages.get("max-age", 0)))
    expires = headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0  # an invalid Expires means "already expired" (RFC 9111)
        return max(0.0, when - now)
    return float(DEFAULT_MAX_AGE_S)


class TileCache:
    """The tiles in ``folder`` (created when the first one is stored)."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, counted once, then kept up to date

    def path_for(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.folder / digest[:2] / f"{digest}{SUFFIX}"

    def get(self, url: str) -> CachedTile | None:
        path = self.path_for(url)
        try:
            raw = path.read_bytes()
            header, _, data = raw.partition(b"\n")
            meta = json.loads(header)
            if meta.get("url") != url or meta.get("size") != len(data):
                return None  # another URL with the same name (never), or a torn file
            os.utime(path)  # used now: the last to be dropped when the cache is full
            return CachedTile(
                data,
                str(meta["type"]),
                float(meta["fresh_until"]),
                str(meta.get("etag", "")),
                str(meta.get("last_modified", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, url: str, tile: CachedTile) -> None:
        meta = {
            "url": url,
            "type": tile.content_type,
            "fresh_until": tile.fresh_until,
            "etag": tile.etag,
            "last_modified": tile.last_modified,
            "size": len(tile.data),
        }
        path = self.path_for(url)
        temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            old = path.stat().st_size if path.exists() else 0
            temp.write_bytes(json.dumps(meta).encode("utf-8") + b"\n" + tile.data)
            new = temp.stat().st_size
            os.replace(temp, path)  # no fsync: a tile lost in a crash is fetched again
        except OSError as exc:  # a full or read-only disk: the map still shows the tile
            log.warning("Could not keep a map tile in %s: %s", self.folder, exc)
            temp.unlink(missing_ok=True)
            return
        with self._lock:
            self._size = self._count() if self._size is None else self._size + new - old
            over = self._size > self.max_bytes
        if over:
            self._shrink()

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last used, bytes, path) of every cached tile."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob(f"??/*{SUFFIX}"):
            try:
                stat = path.stat()
            except OSError:  # deleted meanwhile
                continue
            found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _count(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def size_bytes(self) -> int:
        """Bytes the cached tiles take on disk (counted afresh)."""
        with self._lock:
            self._size = self._count()
            return self._size

    def clear(self) -> int:
        """Delete every cached tile; returns how many bytes were freed."""
        freed = 0
        with self._lock:
            for _, size, path in self._entries():
                try:
                    path.unlink()
                    freed += size
                except OSError as exc:
                    log.warning("Could not delete %s: %s", path, exc)
            self._size = self._count()
        return freed

    def _shrink(self) -> None:
        """Drop the least recently used tiles until the cache holds 90 % of its limit."""
        with self._lock:
            aged = sorted(self._entries())
            total = sum(size for _, size, _ in aged)
            for _, size, path in aged:
                if total <= 0.9 * self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
            self._size = total


Opener = Callable[[urllib.request.Request, float], object]


def _open(request: urllib.request.Request, timeout_s: float) -> object:
    return urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 - http(s) only


class TileFetcher:
    """Answers one tile URL from the cache or the server, following the rules above."""

    def __init__(
        self,
        cache: TileCache,
        *,
        opener: Opener = _open,
        now: Callable[[], float] = time.time,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.cache = cache
        self.opener = opener
        self.now = now
        self.timeout_s = timeout_s

    def fetch(self, url: str) -> TileAnswer | None:
        """The tile, or None when there is none to show (not found, or offline and never
        seen)."""
        if not url.startswith(("http://", "https://")):
            return None
        cached = self.cache.get(url)
        if cached is not None and cached.fresh_until > self.now():
            return TileAnswer(cached.data, cached.content_type, "cache")
        headers = {"User-Agent": USER_AGENT}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        request = urllib.request.Request(url, headers=headers)
        try:
            with self.opener(request, self.timeout_s) as response:  # type: ignore[attr-defined]
                data = response.read(MAX_TILE_BYTES + 1)
                answer = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as exc:
            if exc.code == 304 and cached is not None:
                answer = {k.lower(): v for k, v in exc.headers.items()}
                self._store(url, cached.data, cached.content_type, answer, cached)
                return TileAnswer(cached.data, cached.content_type, "revalidated")
            log.info("Tile server answered %s for %s", exc.code, url)
            return None  # the server's own answer (404, 403): no old tile pretends otherwise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("Tile server unreachable (%s): %s", url, exc)
            if cached is not None:
                return TileAnswer(cached.data, cached.content_type, "stale")
            return None
        content_type = answer.get("content-type", "").split(";")[0].strip()
        if len(data) > MAX_TILE_BYTES or not content_type.startswith(IMAGE_TYPES):
            log.info("Not a map tile (%s, %d bytes): %s", content_type, len(data), url)
            return None
        self._store(url, data, content_type, answer, cached)
        return TileAnswer(data, content_type, "network")

    def _store(
        self,
        url: str,
        data: bytes,
        content_type: str,
        headers: dict[str, str],
        old: CachedTile | None,
    ) -> None:
        now = self.now()
        fresh_s = freshness_s(headers, now)
        if fresh_s is None:
            return
        tile = CachedTile(
            data,
            content_type,
            now + fresh_s,
            headers.get("etag", old.etag if old else ""),
            headers.get("last-modified", old.last_modified if old else ""),
        )
        self.cache.put(url, tile)
