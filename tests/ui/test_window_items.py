"""Window details users of photo tools expect: Remove asks with No as the default and says
what is lost, Help > About names the version, model and data folder, and a photo that cannot
be opened in a viewer says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox
from ui_helpers import WAIT_MS

from sciceapp import __version__
from sciceapp.engine.library import Library


def test_remove_collection_defaults_to_no_and_says_what_is_lost(
    qtbot, window, gps_collection: str, data_dir: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    box = window.remove_collection(gps_collection)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    assert "9 photos" in box.text() and "describing every photo again" in box.text()
    assert "stay where they are" in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert gps_collection in [s.name for s in Library(data_dir).list_collections()]
    box = window.remove_collection(gps_collection)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert gps_collection not in [s.name for s in Library(data_dir).list_collections()]


def test_help_about_names_version_model_and_data_folder(qtbot, window, gps_collection: str):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    assert [a.text() for a in window.menuBar().actions()][-1] == "&Help"
    window.actions_by_name["About sciceapp"].trigger()
    text = window.about_box.text()
    assert __version__ in text and str(window.data_dir) in text
    assert "random weights" in text  # the selected collection's model, labelled as a demo


def test_opening_a_photo_without_a_viewer_is_reported(qtbot, window, exif_samples, monkeypatch):
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda _url: False))
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        assert window.open_in_viewer(str(exif_samples / "gps" / "DSCN0010.jpg")) is False
    assert "No program to open DSCN0010.jpg" in shown.args[0]
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        window.open_in_viewer("/no/such/photo.jpg")
    assert "not there" in shown.args[0]


def _menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if a.text()]


def test_context_menus_sorting_and_removing_queries(
    qtbot, window, gps_collection: str, exif_samples: Path
):
    from PySide6.QtWidgets import QApplication

    from sciceapp.ui import context_menus

    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    photos = [exif_samples / "gps" / n for n in ("DSCN0040.jpg", "DSCN0010.jpg", "DSCN0025.jpg")]
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        window.add_queries([str(p) for p in photos])
    names = lambda: [r.name for r in window.query_model.rows]  # noqa: E731
    assert names() == ["DSCN0040.jpg", "DSCN0010.jpg", "DSCN0025.jpg"]

    # A query row's menu: copy its prediction, remove it.
    menu = context_menus.query_menu(window, 1)
    texts = _menu_texts(menu)
    assert texts == ["Open photo", "Show in file manager", "Copy predicted coordinates",
                     "Show on map", "Remove this query"]  # fmt: skip
    next(a for a in menu.actions() if a.text() == "Copy predicted coordinates").trigger()
    lat, lon = (float(x) for x in QApplication.clipboard().text().split(","))
    assert (lat, lon) == pytest.approx(window.query_model.rows[1].result.predicted, abs=1e-5)
    next(a for a in menu.actions() if a.text() == "Remove this query").trigger()
    assert names() == ["DSCN0040.jpg", "DSCN0025.jpg"]
    assert window.query_table.currentIndex().row() == 1  # the neighbour is selected

    # Sorting by the photo column, both ways.
    window.query_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert names() == ["DSCN0025.jpg", "DSCN0040.jpg"]
    window.query_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert names() == ["DSCN0040.jpg", "DSCN0025.jpg"]

    # A match's menu, from the strip or from its marker on the map; others can add entries.
    window.query_table.selectRow(0)
    match = window.strip.matches[0]
    seen = []
    context_menus.MATCH_MENU_EXTRAS.append(
        lambda menu, _w, m: seen.append(m) or menu.addAction("extra")
    )
    try:
        menu = context_menus.match_menu(window, match)
    finally:
        context_menus.MATCH_MENU_EXTRAS.clear()
    assert _menu_texts(menu) == ["Open photo", "Show in file manager", "Copy coordinates",
                                 "Show on map", "Why this match?", "extra"]  # fmt: skip
    assert seen == [match]
    next(a for a in menu.actions() if a.text() == "Copy coordinates").trigger()
    assert QApplication.clipboard().text() == f"{match.lat:.5f}, {match.lon:.5f}"
    window.map_view.marker_menu.emit(str(match.photo_id), "match")  # right click on its marker
    assert window.context_menu is not None and "Copy coordinates" in _menu_texts(
        window.context_menu
    )
    window.context_menu.close()
