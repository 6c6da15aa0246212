"""The map page in a real browser engine (QtWebEngine, offscreen): markers, hooks, escaping."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineWidgets import QWebEngineView
from test_map import EVIL, sample_data

from sciceapp.engine.mapview import OFFLINE_NOTICE, MapData, MapPoint, render_map

pytestmark = pytest.mark.gui


class Bridge(QObject):
    clicked = Signal(str)

    @Slot(str)
    def markerClicked(self, photo_id: str) -> None:  # noqa: N802 - the name the page calls
        self.clicked.emit(photo_id)


@pytest.fixture
def open_map(qtbot, tmp_path):
    views = []

    def load(path, bridge=None):
        view = QWebEngineView()
        qtbot.addWidget(view)
        view.resize(800, 600)
        view.show()  # markercluster only draws what lies inside a map of non-zero size
        if bridge is not None:
            channel = QWebChannel(view.page())
            channel.registerObject("bridge", bridge)
            view.page().setWebChannel(channel)
            view._channel = channel
        with qtbot.waitSignal(view.loadFinished, timeout=30_000) as blocker:
            view.load(QUrl.fromLocalFile(str(path)))
        assert blocker.args == [True]
        views.append(view)
        return view

    return load


def run_js(qtbot, view, code):
    box = []
    view.page().runJavaScript(code, 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=10_000)
    return box[0]


def test_markers_popups_and_escaping_in_the_browser(qtbot, open_map, tmp_path):
    view = open_map(render_map(sample_data(), tmp_path / "m.html", tile_url=None))
    assert run_js(qtbot, view, "window.sciceapp && sciceapp.ready") is True
    # 3 references + 2 geotagged matches + prediction + recorded GPS (the failed query draws nothing)
    assert run_js(qtbot, view, "sciceapp.markerCount()") == 7
    assert run_js(qtbot, view, "sciceapp.notice()") == OFFLINE_NOTICE
    assert run_js(qtbot, view, "sciceapp.highlight(3)") is True  # a clustered reference
    assert run_js(qtbot, view, "sciceapp.highlight(999)") is False
    popup = "(function(){var p=document.querySelector('.leaflet-popup-content');return p?p.textContent:''})()"
    qtbot.waitUntil(lambda: "c.jpg" in run_js(qtbot, view, popup), timeout=10_000)
    run_js(qtbot, view, "sciceapp.highlight(1)")
    qtbot.waitUntil(lambda: EVIL in run_js(qtbot, view, popup), timeout=10_000)
    assert run_js(qtbot, view, "document.querySelectorAll('img[src=x]').length") == 0
    assert run_js(qtbot, view, "document.querySelectorAll('script[src]').length") == 0
    assert run_js(qtbot, view, "typeof alert2 === 'undefined' && !window.__pwned") is True


POPUP_TEXT = (
    "(function(){var p=document.querySelector('.leaflet-popup-content');"
    "return p?p.textContent:''})()"
)


def test_highlight_uncluster_a_marker_among_many_at_one_spot(qtbot, open_map, tmp_path):
    # 40 photos within a few metres (two at exactly the same spot): clustered at every zoom
    # level short of the last, where the identical pair still needs spiderfying.
    refs = [
        MapPoint(i, f"/p/{i}.jpg", 43.46 + (i % 7) * 2e-5, 11.88 + (i // 7) * 2e-5)
        for i in range(40)
    ]
    refs.append(MapPoint(40, "/p/twin.jpg", refs[17].lat, refs[17].lon))
    view = open_map(render_map(MapData(refs), tmp_path / "many.html", tile_url=None))
    assert run_js(qtbot, view, "sciceapp.markerCount()") == 41
    assert run_js(qtbot, view, "document.querySelectorAll('.marker-cluster').length") >= 1
    assert run_js(qtbot, view, "sciceapp.highlight(17)") is True
    qtbot.waitUntil(lambda: "/p/17.jpg" in run_js(qtbot, view, POPUP_TEXT), timeout=10_000)


def test_a_failing_tile_server_shows_the_notice(qtbot, open_map, tmp_path):
    # Nothing listens on port 9 of this machine: every tile fails at once, no network needed.
    url = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    view = open_map(render_map(sample_data(), tmp_path / "m.html", tile_url=url))
    qtbot.waitUntil(lambda: run_js(qtbot, view, "sciceapp.notice()") != "", timeout=15_000)
    assert "could not be loaded" in run_js(qtbot, view, "sciceapp.notice()")


def test_clicking_a_marker_tells_the_bridge_its_photo_id(qtbot, open_map, tmp_path):
    bridge = Bridge()
    view = open_map(
        render_map(sample_data(), tmp_path / "m.html", tile_url=None, bridge=True), bridge
    )
    qtbot.waitUntil(lambda: run_js(qtbot, view, "typeof QWebChannel") == "function", timeout=10_000)
    with qtbot.waitSignal(bridge.clicked, timeout=10_000) as blocker:
        run_js(qtbot, view, "sciceapp.marker(2).fire('click'); true")  # a match marker
    assert blocker.args == ["2"]
    run_js(qtbot, view, "sciceapp.highlight(3)")  # a reference photo
    qtbot.waitUntil(lambda: "c.jpg" in run_js(qtbot, view, POPUP_TEXT), timeout=10_000)
    with qtbot.waitSignal(bridge.clicked, timeout=10_000) as blocker:
        run_js(qtbot, view, "sciceapp.marker(3).fire('click'); true")
    assert blocker.args == ["3"]


def test_verified_matches_are_marked_apart_with_their_inliers(qtbot, open_map, tmp_path):
    data = sample_data()
    first, second = data.results[0].matches[:2]
    first.inliers, first.verified = 57, True
    second.inliers, second.verified = 9, False
    view = open_map(render_map(data, tmp_path / "m.html", tile_url=None))
    assert run_js(qtbot, view, "window.sciceapp && sciceapp.ready") is True
    assert run_js(qtbot, view, "document.querySelectorAll('.sciceapp-verified').length") == 1
    assert run_js(qtbot, view, "document.querySelectorAll('.sciceapp-match').length") == 1
    run_js(qtbot, view, "sciceapp.marker(1).openPopup(); true")  # the verified match
    qtbot.waitUntil(
        lambda: "verified, 57 inliers" in run_js(qtbot, view, POPUP_TEXT), timeout=10_000
    )
    run_js(qtbot, view, "sciceapp.marker(2).openPopup(); true")
    qtbot.waitUntil(
        lambda: "not verified, 9 inliers" in run_js(qtbot, view, POPUP_TEXT), timeout=10_000
    )
