"""Map tiles in the window: an MBTiles file served by the app's own URL scheme, chosen in
Settings; and with no tiles at all, the shipped world outline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
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


def loaded_tiles(host: str) -> str:
    """JavaScript counting the map's loaded 256-pixel tiles that came from the app's ``host``."""
    return (
        "Array.prototype.filter.call(document.querySelectorAll('img.leaflet-tile-loaded'),"
        f" function (i) {{ return i.src.indexOf('sciceapp-tiles://{host}/') === 0"
        " && i.naturalWidth === 256; }).length"
    )


def make_tile_folder(folder: Path, tiles: dict) -> Path:
    for (z, x, y), data in tiles.items():
        (folder / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
        (folder / str(z) / str(x) / f"{y}.png").write_bytes(data)
    return folder


@pytest.mark.parametrize("source", ["mbtiles", "folder"])
def test_tiles_chosen_in_settings_are_served_to_the_map(
    qtbot, window, gps_collection: str, tmp_path: Path, source: str
):
    """An MBTiles file and a tile folder are both served by the app's own scheme (a page
    that is not file:// may not load file:// images, so a folder's file URIs would fail)."""
    from sciceapp.ui.settings_dialog import SettingsDialog
    from sciceapp.ui.tile_scheme import install_tile_handler

    tiles = {(1, x, y): png(RED) for x in (0, 1) for y in (0, 1)}
    if source == "mbtiles":
        where = make_mbtiles(tmp_path / "world.mbtiles", tiles)
    else:
        where = make_tile_folder(tmp_path / "my tiles", tiles)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    loads = window.map_view.page_loads

    dialog = SettingsDialog.show_for(window)
    dialog.tile_source.setCurrentIndex(dialog.tile_source.findData(source))
    field = dialog.mbtiles_path if source == "mbtiles" else dialog.tile_folder
    assert field.isEnabled() and not dialog.tile_url.isEnabled()
    field.setText(str(where))
    dialog.accept()
    assert window.settings.tile_source == source
    qtbot.waitUntil(lambda: window.map_view.page_loads == loads + 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    served = install_tile_handler().served
    run_js(qtbot, window.map_view, "window.sciceapp.setView(20, 0, 1)")  # where there are tiles
    count = loaded_tiles(source)
    qtbot.waitUntil(lambda: run_js(qtbot, window.map_view, count) >= 1, timeout=WAIT_MS)
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
