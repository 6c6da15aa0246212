"""Map tiles in the window: an MBTiles file served by the app's own URL scheme, chosen in
Settings; and with no tiles at all, the shipped world outline."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from tile_files import make_mbtiles
from ui_helpers import WAIT_MS, run_js

RED = (220, 30, 30)


def png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, "PNG")
    return out.getvalue()


def settled(window) -> bool:
    return window.map_view.is_ready and not window.locating.render_pending


LOADED_TILES = (
    "Array.prototype.filter.call(document.querySelectorAll('img.leaflet-tile-loaded'),"
    " function (i) { return i.src.indexOf('sciceapp-tiles://mbtiles/') === 0"
    " && i.naturalWidth === 256; }).length"
)


def test_mbtiles_chosen_in_settings_are_served_to_the_map(
    qtbot, window, gps_collection: str, tmp_path: Path
):
    from sciceapp.ui.settings_dialog import SettingsDialog
    from sciceapp.ui.tile_scheme import install_tile_handler

    tiles = {(1, x, y): png(RED) for x in (0, 1) for y in (0, 1)}
    mbtiles = make_mbtiles(tmp_path / "world.mbtiles", tiles)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    loads = window.map_view.page_loads

    dialog = SettingsDialog.show_for(window)
    dialog.tile_source.setCurrentIndex(dialog.tile_source.findData("mbtiles"))
    assert dialog.mbtiles_path.isEnabled() and not dialog.tile_url.isEnabled()
    dialog.mbtiles_path.setText(str(mbtiles))
    dialog.accept()
    assert window.settings.tile_source == "mbtiles"
    qtbot.waitUntil(lambda: window.map_view.page_loads == loads + 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    served = install_tile_handler().served
    run_js(qtbot, window.map_view, "window.sciceapp.setView(20, 0, 1)")  # where the file has tiles
    qtbot.waitUntil(lambda: run_js(qtbot, window.map_view, LOADED_TILES) >= 1, timeout=WAIT_MS)
    assert install_tile_handler().served > served
    assert run_js(qtbot, window.map_view, "window.sciceapp.notice()") == ""  # no tile failed


def test_with_no_tiles_the_world_outline_is_drawn(qtbot, window, gps_collection: str):
    window.settings.tile_source = "none"
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    assert run_js(qtbot, window.map_view, "document.querySelectorAll('.leaflet-tile').length") == 0
    assert run_js(qtbot, window.map_view, "window.sciceapp.basemapShown()") > 150  # countries
    assert "offline" in run_js(qtbot, window.map_view, "window.sciceapp.notice()")
