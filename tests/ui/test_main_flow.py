"""The whole path a user takes: build a collection in the window, drop a photo, see matches
and the map."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ui_helpers import WAIT_MS, drop_files, run_js

from sciceapp.engine.library import Library

POPUP_TEXT = "(document.querySelector('.leaflet-popup-content') || {}).textContent"


def test_collection_from_folder_then_dropped_query_shows_rows_strip_and_map(
    qtbot, window, model_in_data_dir: Path, data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as indexed:
        window.create_collection("arezzo", [str(exif_samples / "gps")])
    report = indexed.args[0]
    assert report is not None and report.added == 9 and not report.skipped
    assert window.current_collection() == "arezzo"
    details = window.collections.details.text()
    assert "Indexed: 9" in details and "demo, not accurate" in details
    assert Library(data_dir).open_collection("arezzo").summary().indexed == 9

    query = exif_samples / "gps" / "DSCN0012.jpg"
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS) as located:
        assert drop_files(window, [query])
    (result,) = located.args[0]
    assert result.error is None

    model = window.query_model
    assert model.rowCount() == 1
    assert model.index(0, 0).data() == "DSCN0012.jpg"
    lat, lon = (float(x) for x in model.index(0, 1).data().split(","))
    assert 43.4 < lat < 43.5 and 11.8 < lon < 11.9  # somewhere in Arezzo
    assert model.index(0, 2).data() == "Arezzo, Tuscany, Italy"  # offline place name
    assert model.index(0, 3).data().endswith("%")
    assert model.index(0, 4).data().endswith(("m", "km"))  # the query has its own GPS
    assert "in this collection" in model.index(0, 5).data()
    assert window.query_table.currentIndex().row() == 0

    # The strip: the top-K matches with similarity, distance and town; the query itself is in
    # the collection but not among its own matches.
    assert window.strip.count() == min(window.settings.top_k, 8)
    assert "DSCN0012.jpg" not in window.strip.names()
    caption = window.strip.item(0).text()
    assert "similarity" in caption and "from prediction" in caption and "Arezzo" in caption
    assert "Tuscany, Italy" in window.strip.item(0).toolTip()
    assert window.strip_label.text() == "<b>Best matches</b> for DSCN0012.jpg"
    qtbot.waitUntil(lambda: window.thumbnails.pixmap(str(query)) is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.strip.item(0).icon().isNull(), timeout=WAIT_MS)

    # The map: Leaflet loaded from local files; the 9 reference photos, then for the query
    # its geotagged matches, its prediction and its own GPS.
    qtbot.waitUntil(
        lambda: window.map_view.is_ready and not window.locating.render_pending, timeout=WAIT_MS
    )
    assert window.map_view.url().isLocalFile()
    assert run_js(qtbot, window.map_view, "typeof L") == "object"
    expected = 9 + sum(m.has_gps for m in result.matches) + 1 + 1
    assert run_js(qtbot, window.map_view, "window.sciceapp.markerCount()") == expected

    # Match strip -> map: picking the third match highlights (opens) its marker's popup.
    third = window.strip.matches[2]
    window.strip.setCurrentRow(2)
    qtbot.waitUntil(
        lambda: Path(third.path).name in (run_js(qtbot, window.map_view, POPUP_TEXT) or ""),
        timeout=WAIT_MS,
    )
    # Map -> strip: clicking a marker selects its match.
    fifth = window.strip.matches[4]
    with qtbot.waitSignal(window.map_view.marker_clicked, timeout=WAIT_MS) as clicked:
        run_js(
            qtbot,
            window.map_view,
            f"window.sciceapp.marker('{fifth.photo_id}').fire('click'); true",
        )
    assert clicked.args == [str(fifth.photo_id)]
    assert window.strip.currentRow() == 4


def test_copy_coordinates_and_export_map(
    qtbot, window, gps_collection: str, exif_samples: Path, tmp_path: Path
):
    from PySide6.QtWidgets import QApplication

    from sciceapp.ui.map_render import export_map_to

    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS) as located:
        window.path_edit.setText(str(exif_samples / "gps" / "DSCN0038.jpg"))  # pasted path
        window.path_edit.returnPressed.emit()
    (result,) = located.args[0]
    window.actions_by_name["Copy predicted coordinates"].trigger()
    lat, lon = (float(x) for x in QApplication.clipboard().text().split(","))
    assert (round(lat, 5), round(lon, 5)) == (
        round(result.predicted[0], 5),
        round(result.predicted[1], 5),
    )

    out = tmp_path / "exported.html"
    saved = os.umask(0o027)  # the user's umask, not mkstemp's 0600, decides who may read it
    try:
        export_map_to(window, out)
        qtbot.waitUntil(
            lambda: out.exists() and not window.pool.active, timeout=WAIT_MS
        )  # written atomically
    finally:
        os.umask(saved)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    page = out.read_text()
    assert "DSCN0038.jpg" in page and "L.map" in page
    assert "qrc:///qtwebchannel" not in page  # a stand-alone page, without the GUI's hooks


def test_a_dropped_folder_is_walked_off_the_gui_thread_then_located(
    qtbot, window, gps_collection: str, exif_samples: Path, tmp_path: Path, monkeypatch
):
    import threading

    from sciceapp.ui import jobs

    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    folder = tmp_path / "survey" / "day1"
    folder.mkdir(parents=True)
    for name in ("DSCN0010.jpg", "DSCN0021.jpg"):
        (folder / name).write_bytes((exif_samples / "gps" / name).read_bytes())
    walked_on = []
    real_find = jobs.find_photos

    def spy(*args, **kwargs):
        walked_on.append(threading.current_thread() is threading.main_thread())
        return real_find(*args, **kwargs)

    monkeypatch.setattr(jobs, "find_photos", spy)
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS) as located:
        assert drop_files(window, [tmp_path / "survey"])
    assert walked_on == [False]  # the folder tree was searched by a worker
    qtbot.waitUntil(lambda: not window.locating.render_pending, timeout=WAIT_MS)
    # every query re-draws the map; only the page on screen stays on disk
    assert list(window.map_view.map_dir.glob("map-*.html")) == [window.map_view.current_file]
    assert sorted(Path(r.query).name for r in located.args[0]) == ["DSCN0010.jpg", "DSCN0021.jpg"]
    assert window.query_model.rowCount() == 2

    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        drop_files(window, [empty])
    assert "no photos" in shown.args[0].lower()
