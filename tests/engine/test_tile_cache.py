"""The on-disk cache of online map tiles: a tile seen once still shows when the server is
gone, the server's caching headers decide freshness, the app names itself, Clear empties it."""

from __future__ import annotations

import io
import os
import time

from PIL import Image
from tile_files import TileServer

from sciceapp.engine.tile_cache import (
    DEFAULT_MAX_AGE_S,
    USER_AGENT,
    CachedTile,
    TileCache,
    TileFetcher,
    freshness_s,
)
from sciceapp.engine.tiles import expand_template


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def test_a_tile_served_once_is_served_from_the_cache_once_the_server_is_stopped(tmp_path):
    fetcher = TileFetcher(TileCache(tmp_path / "cache"))
    with TileServer(png(), {"Cache-Control": "max-age=3600"}) as server:
        url = expand_template(server.template, 12, 2183, 1495)
        first = fetcher.fetch(url)
        assert first is not None and first.source == "network" and first.data == png()
        assert first.content_type == "image/png"
        again = fetcher.fetch(url)  # fresh: the server is not asked twice
        assert again.source == "cache" and len(server.requests) == 1
        path, headers = server.requests[0]
        assert path == "/12/2183/1495.png"
        assert headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("sciceapp/")
        server.stop()
        offline = TileFetcher(TileCache(tmp_path / "cache"))  # a later run of the app
        shown = offline.fetch(url)
        assert shown is not None and shown.data == png()
        never_seen = offline.fetch(expand_template(server.template, 12, 2184, 1495))
        assert never_seen is None  # offline, and never viewed: nothing to show


def test_a_stale_tile_is_checked_again_online_and_shown_as_it_is_offline(tmp_path):
    clock = [time.time()]
    fetcher = TileFetcher(TileCache(tmp_path), now=lambda: clock[0])
    headers = {"Cache-Control": "max-age=60", "ETag": '"v1"'}
    with TileServer(png(), headers) as server:
        url = expand_template(server.template, 3, 4, 2)
        assert fetcher.fetch(url).source == "network"
        clock[0] += 120  # past its max-age
        assert fetcher.fetch(url).source == "revalidated"  # 304: the kept bytes are still good
        assert server.requests[1][1]["If-None-Match"] == '"v1"'
        assert fetcher.fetch(url).source == "cache"  # fresh again for another minute
        clock[0] += 120
        server.stop()
        stale = fetcher.fetch(url)
    assert stale is not None and stale.source == "stale" and stale.data == png()


def test_no_store_is_never_kept_and_errors_are_not_cached(tmp_path):
    cache = TileCache(tmp_path)
    fetcher = TileFetcher(cache)
    with TileServer(png(), {"Cache-Control": "no-store"}) as server:
        url = expand_template(server.template, 1, 0, 0)
        assert fetcher.fetch(url).source == "network"
        assert cache.get(url) is None and cache.size_bytes() == 0
        assert fetcher.fetch(server.template.replace(".png", ".txt")) is None  # a 404
    assert fetcher.fetch("file:///etc/passwd") is None  # only http(s) goes through here


def test_freshness_follows_the_headers():
    now = 1_000_000.0
    assert freshness_s({"cache-control": "public, max-age=604800"}, now) == 604800
    assert freshness_s({"cache-control": "max-age=10, s-maxage=99"}, now) == 99
    assert freshness_s({"cache-control": "no-cache"}, now) == 0
    assert freshness_s({"cache-control": "no-store"}, now) is None
    assert freshness_s({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, now) == 0
    assert freshness_s({"expires": "not a date"}, now) == 0
    assert freshness_s({}, now) == DEFAULT_MAX_AGE_S


def test_size_clear_and_the_least_recently_used_tiles_go_first(tmp_path):
    cache = TileCache(tmp_path, max_bytes=10_000)
    blob = b"x" * 3000
    for i in range(3):
        cache.put(f"https://t/{i}.png", CachedTile(blob, "image/png", 0.0))
        path = cache.path_for(f"https://t/{i}.png")
        os.utime(path, (1000 + i, 1000 + i))  # used in this order
    assert cache.size_bytes() > 9000
    assert cache.get("https://t/0.png") is not None  # now the most recently used
    cache.put("https://t/3.png", CachedTile(blob, "image/png", 0.0))  # over the limit
    assert cache.size_bytes() <= 9000
    assert cache.get("https://t/1.png") is None  # the oldest unused one went
    assert cache.get("https://t/0.png") is not None and cache.get("https://t/3.png") is not None
    torn = cache.path_for("https://t/3.png")
    torn.write_bytes(torn.read_bytes()[:-10])  # a damaged file is a miss, not a broken tile
    assert cache.get("https://t/3.png") is None
    assert cache.clear() > 0
    assert cache.size_bytes() == 0 and cache.get("https://t/0.png") is None


def test_expand_template_fills_leaflet_placeholders():
    url = expand_template("https://{s}.tile.example/{z}/{x}/{y}{r}.png?k=1", 5, 6, 7)
    assert url == "https://a.tile.example/5/6/7.png?k=1"
