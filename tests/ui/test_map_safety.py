"""The map view shows only the app's own pages, and text from files never becomes markup."""

from __future__ import annotations

import shutil
from pathlib import Path

from ui_helpers import WAIT_MS, drop_files, run_js

from sciceapp.engine.library import Library

HOSTILE_NAME = "<img src=x onerror=alert(1)>.jpg"
POPUP = "document.querySelector('.leaflet-popup-content')"


def _map_settled(window) -> bool:
    return window.map_view.is_ready and not window.locating.render_pending


def test_html_in_a_file_name_shows_as_text_and_runs_no_script(
    qtbot, window, model_in_data_dir: Path, data_dir: Path, exif_samples: Path, tmp_path: Path
):
    folder = tmp_path / "hostile"
    folder.mkdir()
    shutil.copyfile(exif_samples / "gps" / "DSCN0010.jpg", folder / HOSTILE_NAME)
    shutil.copyfile(exif_samples / "gps" / "DSCN0021.jpg", folder / "plain.jpg")
    Library(data_dir).create_collection("hostile", model_in_data_dir).add([folder])
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select="hostile")
    qtbot.waitUntil(lambda: _map_settled(window), timeout=WAIT_MS)
    hostile = next(
        p
        for p in Library(data_dir).open_collection("hostile").photos()
        if p.path.endswith(HOSTILE_NAME)
    )

    assert run_js(qtbot, window.map_view, f"window.sciceapp.highlight('{hostile.id}')") is True
    qtbot.waitUntil(lambda: run_js(qtbot, window.map_view, f"!!{POPUP}"), timeout=WAIT_MS)
    assert HOSTILE_NAME in run_js(qtbot, window.map_view, f"{POPUP}.textContent")
    assert run_js(qtbot, window.map_view, "document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert run_js(qtbot, window.map_view, f"{POPUP}.querySelectorAll('img').length") == 0
    assert window.map_view.map_page.alerts == []  # onerror=alert(1) never ran
    # The query list shows the name as plain text too.
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        drop_files(window, [folder / HOSTILE_NAME])
    assert window.query_model.index(0, 0).data() == HOSTILE_NAME
    assert window.map_view.map_page.alerts == []


def test_map_refuses_to_navigate_away_and_drops_become_queries(
    qtbot, window, gps_collection: str, exif_samples: Path, tmp_path: Path
):
    window.settings.tile_url = ""  # offline: no tiles, a plain background and a notice
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    qtbot.waitUntil(lambda: _map_settled(window), timeout=WAIT_MS)
    assert "offline" in run_js(qtbot, window.map_view, "window.sciceapp.notice()")
    assert run_js(qtbot, window.map_view, "window.sciceapp.markerCount()") == 9
    page = window.map_view.map_page
    home = window.map_view.url()
    outside = tmp_path / "elsewhere.html"
    outside.write_text("<html><body>not the map</body></html>")
    for target in ("https://example.com/", outside.as_uri(), "file:///etc/passwd"):
        with qtbot.waitSignal(page.navigation_refused, timeout=WAIT_MS) as refused:
            run_js(qtbot, window.map_view, f"window.location.href = {target!r}; true")
        assert refused.args[0].rstrip("/") == target.rstrip("/")
    with qtbot.waitSignal(page.navigation_refused, timeout=WAIT_MS):
        run_js(qtbot, window.map_view, "window.open('https://example.com/'); true")
    assert window.map_view.url() == home
    assert run_js(qtbot, window.map_view, "typeof window.sciceapp") == "object"  # still our page

    # A photo dropped on the map (on the widget the page draws into, where a real drop
    # lands) is a query, not a navigation to the photo.
    photo = exif_samples / "gps" / "DSCN0027.jpg"
    target = window.map_view.focusProxy()
    assert target is not None and target is not window.map_view
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        accepted = drop_files(target, [photo])
    assert accepted
    assert [row.name for row in window.query_model.rows] == ["DSCN0027.jpg"]
    assert window.map_view.url().toLocalFile().startswith(str(window.map_view.map_dir))
    assert window.map_view.url().fileName() != photo.name
