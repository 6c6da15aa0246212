"""A reference photo's map popup names its place (offline GeoNames), looked up in a worker:
the table takes seconds to read, and the GUI thread never waits for it."""

from __future__ import annotations

import threading
from pathlib import Path

from ui_helpers import WAIT_MS, run_js

from sciceapp.engine.library import Library
from sciceapp.ui import jobs


def test_a_reference_popup_gets_its_place_name_from_a_worker(
    qtbot, window, gps_collection: str, data_dir: Path, monkeypatch
):
    looked_up: list[tuple[bool, tuple[float, float]]] = []
    real = jobs.place_name

    def spy(point, *, progress, cancel):
        looked_up.append((threading.current_thread() is threading.main_thread(), point))
        return real(point, progress=progress, cancel=cancel)

    monkeypatch.setattr(jobs, "place_name", spy)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    qtbot.waitUntil(lambda: window.map_view.is_ready, timeout=WAIT_MS)
    photo = Library(data_dir).open_collection(gps_collection).photos(state="indexed")[0]

    assert run_js(qtbot, window.map_view, f"window.sciceapp.highlight({photo.id})")
    popup = "window.sciceapp.popupText()"
    qtbot.waitUntil(lambda: "Italy" in run_js(qtbot, window.map_view, popup), timeout=WAIT_MS)
    text = run_js(qtbot, window.map_view, popup)
    assert "Arezzo" in text and Path(photo.path).name in text
    assert looked_up == [(False, (photo.lat, photo.lon))]  # off the GUI thread, once

    run_js(qtbot, window.map_view, "window.sciceapp.setView(20, 0, 2)")
    assert run_js(qtbot, window.map_view, f"window.sciceapp.highlight({photo.id})")
    qtbot.waitUntil(lambda: "Italy" in run_js(qtbot, window.map_view, popup), timeout=WAIT_MS)
    assert len(looked_up) == 1  # known now: the page keeps it
