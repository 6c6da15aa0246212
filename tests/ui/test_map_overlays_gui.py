"""The window's map: one page per collection, overlays pushed through the bridge, the view
following the selected query (its neighbourhood, not the world) and otherwise the user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ui_helpers import WAIT_MS, run_js

from sciceapp.engine.geo import haversine_m
from sciceapp.engine.library import Library

FAR_M = 50_000


@pytest.fixture
def arezzo_and_kansas(model_in_data_dir: Path, data_dir: Path, exif_samples: Path) -> str:
    """The 9 Arezzo photos and the iPhone HEIC taken near Kansas City: one far outlier."""
    collection = Library(data_dir).create_collection("far", model_in_data_dir)
    collection.add([exif_samples / "gps", exif_samples / "phones" / "IMG_5195.HEIC"])
    return "far"


def settled(window) -> bool:
    return window.map_view.is_ready and not window.locating.render_pending


def view(qtbot, window) -> dict:
    return json.loads(run_js(qtbot, window.map_view, "JSON.stringify(window.sciceapp.view())"))


def inside(bounds, point) -> bool:
    (south, west), (north, east) = bounds
    return south <= point[0] <= north and west <= point[1] <= east


@pytest.mark.slow
def test_fifty_selections_one_page_load_and_each_view_is_the_query_neighbourhood(
    qtbot, window, arezzo_and_kansas: str, exif_samples: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=arezzo_and_kansas)
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    assert window.map_view.page_loads == 1
    # The first view is the bulk of the photos (Arezzo), not the world stretched to Kansas.
    first = view(qtbot, window)
    assert first["zoom"] >= 12
    assert not inside(first["bounds"], (39.05, -94.29))

    photos = sorted((exif_samples / "gps").glob("*.jpg"))
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS) as located:
        window.add_queries([str(p) for p in photos])
    results = located.args[0]
    assert len(results) == 9
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)

    for step in range(50):
        row = step % len(results)
        window.query_table.selectRow(row)
        qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
        # "Best matches for X" names the selected query, not the last one located
        assert window.strip_label.text().endswith(window.query_model.rows[row].name)
        if step % 10 == 9:  # look at the view now and then (each look is a round trip)
            result = window.query_model.rows[row].result
            shown = view(qtbot, window)
            assert inside(shown["bounds"], result.predicted)
            for match in result.matches:
                if match.has_gps:
                    far = haversine_m(*result.predicted, match.lat, match.lon) > FAR_M
                    assert inside(shown["bounds"], (match.lat, match.lon)) != far
            expected = (
                10 + sum(m.has_gps for m in result.matches) + 1 + (result.query_gps is not None)
            )
            assert run_js(qtbot, window.map_view, "window.sciceapp.markerCount()") == expected
    assert window.map_view.page_loads == 1  # counted through the bridge: never reloaded
    assert window.map_view.url().isLocalFile()


def test_the_users_pan_and_zoom_stay_when_nothing_is_selected(
    qtbot, window, gps_collection: str, exif_samples: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        window.add_queries([str(exif_samples / "gps" / "DSCN0010.jpg")])
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    assert run_js(qtbot, window.map_view, "window.sciceapp.overlayCount('queries')") > 0
    run_js(qtbot, window.map_view, "window.sciceapp.setView(48.85, 2.35, 6)")  # the user pans away
    window.clear_queries()
    qtbot.waitUntil(lambda: settled(window), timeout=WAIT_MS)
    assert run_js(qtbot, window.map_view, "window.sciceapp.overlayCount('queries')") == 0
    after = view(qtbot, window)
    assert after["zoom"] == 6 and inside(after["bounds"], (48.85, 2.35))
    assert window.map_view.page_loads == 1
