"""Online tiles in the window go through the on-disk cache: viewed once from a tile server on
127.0.0.1, they still show with the server stopped; Settings shows the cache's size and
clears it."""

from __future__ import annotations

from pathlib import Path

from test_tiles_gui import png, settled
from tile_files import TileServer
from ui_helpers import WAIT_MS, run_js

from sciceapp.engine.tile_cache import USER_AGENT
from sciceapp.ui.formatting import format_bytes
from sciceapp.ui.settings_dialog import SettingsDialog
from sciceapp.ui.tile_scheme import install_tile_handler

BLUE = (30, 90, 220)
CACHED_TILES = (
    "Array.prototype.filter.call(document.querySelectorAll('img.leaflet-tile-loaded'),"
    " function (i) { return i.src.indexOf('sciceapp-tiles://online/') === 0"
    " && i.naturalWidth === 256; }).length"
)


def _loaded_tiles(qtbot, window) -> int:
    return run_js(qtbot, window.map_view, CACHED_TILES)


def test_online_tiles_still_show_offline_and_settings_clears_the_cache(
    qtbot, window, gps_collection: str
):
    handler = install_tile_handler()
    with TileServer(png(BLUE)) as server:
        window.settings.tile_source = "online"
        window.settings.tile_url = server.template
        with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
            window.indexing.refresh(select=gps_collection)
        qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: _loaded_tiles(qtbot, window) >= 1, timeout=WAIT_MS)
        asked = len(server.requests)
        assert asked >= 1
        assert all(headers["User-Agent"] == USER_AGENT for _path, headers in server.requests)
        # Only what the view shows is fetched: a few tiles, not a region.
        assert asked <= 40
        server.stop()

    cache_folder = window.tile_cache_folder()
    assert cache_folder == Path(window.data_dir) / "tile-cache"
    from_cache = handler.answered.get("cache", 0)
    loads = window.map_view.page_loads
    window.apply_settings(window.settings)  # a new page, with the server gone (offline)
    qtbot.waitUntil(lambda: window.map_view.page_loads == loads + 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _loaded_tiles(qtbot, window) >= 1, timeout=WAIT_MS)
    assert handler.answered.get("cache", 0) > from_cache
    assert run_js(qtbot, window.map_view, "window.sciceapp.notice()") == ""  # no tile failed
    # The credit stays the server's, not the cache's own address.
    credit = "document.querySelector('.leaflet-control-attribution').textContent"
    assert "127.0.0.1" in run_js(qtbot, window.map_view, credit)

    dialog = SettingsDialog.show_for(window)
    qtbot.waitUntil(lambda: dialog.cache_size.text() != "Counting…", timeout=WAIT_MS)
    size = sum(p.stat().st_size for p in cache_folder.glob("*/*.tile"))
    assert size > 0 and dialog.cache_size.text() == format_bytes(size)
    assert dialog.clear_cache_button.isEnabled()
    dialog.clear_cache_button.click()
    qtbot.waitUntil(lambda: dialog.cache_size.text() == "0 bytes", timeout=WAIT_MS)
    assert not dialog.clear_cache_button.isEnabled()
    assert not list(cache_folder.glob("*/*.tile"))
    dialog.reject()


def test_an_exported_map_asks_the_online_server_itself(window):
    window.settings.tile_source = "online"
    window.settings.tile_url = "https://tiles.example/{z}/{x}/{y}.png"
    assert window.tile_url() == "sciceapp-tiles://online/{z}/{x}/{y}"
    assert window.tile_url(exported=True) == "https://tiles.example/{z}/{x}/{y}.png"
    assert window.tile_attribution() == "Map tiles: tiles.example"
    window.settings.tile_source = "mbtiles"
    window.settings.mbtiles_path = "/nowhere.mbtiles"
    assert window.tile_url(exported=True) == ""  # a browser cannot read MBTiles: the outline
