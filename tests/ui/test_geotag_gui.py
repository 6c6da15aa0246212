"""Writing locations from the window: review "Apply predicted location", dragging a photo's
marker on the map, Edit > Undo and the history, read-only files, and the GPX dialog. Always on
copies of the sample photos."""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
from pathlib import Path

import exifread
import pytest
from ui_helpers import WAIT_MS, run_js

from sciceapp.engine.geo import haversine_m
from sciceapp.engine.geotag.tags import GeoTag, write_in_file
from sciceapp.ui.review_window import ReviewWindow

ROME = GeoTag(41.9028, 12.4964)
AREZZO = (43.467, 11.882)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def position(path: Path) -> tuple[float, float]:
    tags = exifread.process_file(io.BytesIO(path.read_bytes()), details=False)

    def degrees(key: str) -> float:
        d, m, s = (float(v.num) / float(v.den) for v in tags[f"GPS GPS{key}"].values)
        value = d + m / 60 + s / 3600
        return -value if str(tags[f"GPS GPS{key}Ref"]) in ("S", "W") else value

    return degrees("Latitude"), degrees("Longitude")


@pytest.fixture
def survey(tmp_path: Path, exif_samples: Path) -> Path:
    """A copy of an Arezzo photo whose GPS was moved to Rome (so the review flags it)."""
    folder = tmp_path / "survey"
    folder.mkdir()
    moved = folder / "moved.jpg"
    moved.write_bytes(write_in_file((exif_samples / "gps" / "DSCN0021.jpg").read_bytes(), ROME))
    moved.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return folder


@pytest.fixture
def reviewed(qtbot, window, gps_collection: str, survey: Path):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    dialog = ReviewWindow.show_for(window)
    dialog.threshold_m.setValue(5000)
    with qtbot.waitSignal(dialog.model.modelReset, timeout=WAIT_MS):
        dialog.review(str(survey))
    (row,) = dialog.model.rows
    assert row.flagged
    yield dialog
    dialog.close()


def confirm(qtbot, window, sidecar: str = "") -> None:
    dialog = window.geotag.confirm_dialog
    dialog.target.setCurrentIndex(dialog.target.findData(sidecar))
    with qtbot.waitSignal(window.geotag.changed, timeout=WAIT_MS):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()


@pytest.mark.slow
def test_apply_predicted_location_then_undo(qtbot, window, reviewed, survey: Path):
    moved = survey / "moved.jpg"
    before = sha(moved)
    reviewed.table.selectRow(0)
    reviewed.unverified.setChecked(True)  # the tiny demo model verifies nothing
    dialog = reviewed.apply_selected()
    text = dialog.summary.text()
    assert "moved.jpg" in text and "predicted location" in text
    assert dialog.target.currentText().startswith("into the photo files")  # the choice is named
    confirm(qtbot, window)
    assert haversine_m(*position(moved), *AREZZO) < 2000  # back in Arezzo
    assert "Wrote the location into 1 file" in window.statusBar().currentMessage()

    with qtbot.waitSignal(window.geotag.changed, timeout=WAIT_MS):
        window.geotag.undo_action.trigger()  # Edit > Undo (Ctrl+Z)
    assert sha(moved) == before
    assert window.geotag.undo_action.shortcut().toString() == "Ctrl+Z"

    # the sidecar choice: the photo stays as it is
    reviewed.apply_selected()
    confirm(qtbot, window, "darktable")
    assert sha(moved) == before and (survey / "moved.jpg.xmp").is_file()
    assert window.settings.geotag_sidecar == "darktable"  # remembered for next time


@pytest.mark.slow
def test_unverified_predictions_are_left_alone_unless_asked(qtbot, window, reviewed):
    reviewed.table.selectRow(0)
    dialog = reviewed.apply_selected()
    assert "not geometrically verified" in dialog.summary.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.reject()


@pytest.mark.slow
def test_read_only_photo_is_refused_in_the_window(qtbot, window, reviewed, survey: Path):
    moved = survey / "moved.jpg"
    moved.chmod(0o444)
    before = sha(moved)
    reviewed.table.selectRow(0)
    reviewed.unverified.setChecked(True)
    reviewed.apply_selected()
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        window.geotag.confirm_dialog.accept()
    assert "read-only" in shown.args[0] and "moved.jpg" in shown.args[0]
    assert sha(moved) == before


@pytest.mark.slow
def test_dragging_a_photo_marker_writes_its_new_position(qtbot, window, reviewed, survey: Path):
    moved = survey / "moved.jpg"
    reviewed.show_on_map()  # the survey is pushed over the page on screen: no reload
    qtbot.waitUntil(lambda: not window.locating.render_pending, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: run_js(qtbot, window.map_view, "window.sciceapp.bridgeReady()") is True,
        timeout=WAIT_MS,
    )
    target = (43.4705, 11.8790)
    script = (
        f"var m = window.sciceapp.photoMarker({str(moved)!r}); "
        f"m.setLatLng([{target[0]}, {target[1]}]); m.fire('dragend'); true"
    )
    assert run_js(qtbot, window.map_view, script) is True
    qtbot.waitUntil(lambda: window.geotag.confirm_dialog is not None, timeout=WAIT_MS)
    dialog = window.geotag.confirm_dialog
    assert "moved.jpg" in dialog.summary.text() and "43.470500, 11.879000" in dialog.summary.text()
    confirm(qtbot, window)
    assert position(moved) == pytest.approx(target, abs=1e-6)

    history = window.geotag.show_history()
    qtbot.waitUntil(lambda: history.tree.topLevelItemCount() == 1, timeout=WAIT_MS)
    assert "moved.jpg on the map" in history.tree.topLevelItem(0).text(0)
    with qtbot.waitSignal(window.geotag.changed, timeout=WAIT_MS):
        history.undo_button.click()
    qtbot.waitUntil(lambda: "undone" in history.tree.topLevelItem(0).text(1), timeout=WAIT_MS)
    assert haversine_m(*position(moved), ROME.lat, ROME.lon) < 1
    history.close()


@pytest.mark.slow
def test_gpx_dialog_shows_matches_finds_the_offset_and_applies(
    qtbot, window, tmp_path: Path, exif_samples: Path
):
    from sciceapp.ui.gpx_dialog import GpxDialog

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("DSCN0010.jpg", "DSCN0012.jpg"):
        shutil.copyfile(exif_samples / "gps" / name, photos / name)
        (photos / name).chmod(stat.S_IRUSR | stat.S_IWUSR)
    # 14:00-15:00 UTC, one point a minute, heading north-east; times written as UTC
    points = "".join(
        f'<trkpt lat="{43.46 + k * 1e-4}" lon="{11.88 + k * 2e-4}">'
        f"<time>2008-10-22T14:{k:02d}:00Z</time></trkpt>"
        for k in range(60)
    )
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(f'<gpx version="1.1" creator="t"><trk><trkseg>{points}</trkseg></trk></gpx>')
    dialog = window.geotag.open_gpx()
    assert isinstance(dialog, GpxDialog)
    dialog.set_inputs([str(gpx)], [str(photos)])
    dialog.camera_tz.setText("Europe/Rome")
    with qtbot.waitSignal(dialog.map_view.rendered, timeout=WAIT_MS):
        dialog.match()
    assert dialog.table.rowCount() == 2 and "2 of 2" in dialog.status.text()
    # The track itself is drawn, as one line (no gap longer than the max gap), over the map.
    qtbot.waitUntil(lambda: not dialog.map_view.busy, timeout=WAIT_MS)
    lines = "window.sciceapp.overlayCount('track', 'lines')"
    assert run_js(qtbot, dialog.map_view, lines) == 1
    assert len(dialog.result.lines[0]["points"]) == 60
    assert sha(photos / "DSCN0010.jpg") == sha(exif_samples / "gps" / "DSCN0010.jpg")  # not yet

    # DSCN0010 (14:28:39 UTC) was really taken where the track was at 14:20:00
    dialog.table.selectRow(0)
    dialog.start_offset_pick()
    with qtbot.waitSignal(dialog.map_view.rendered, timeout=WAIT_MS):
        dialog.map_view.bridge.mapClicked(43.46 + 20 * 1e-4, 11.88 + 20 * 2e-4)
    assert dialog.offset.text() == "-00:08:39"
    dialog.apply()
    confirm(qtbot, window)
    assert position(photos / "DSCN0010.jpg") == pytest.approx((43.462, 11.884), abs=1e-6)
    dialog.close()


@pytest.mark.slow
def test_views_show_the_written_position_then_the_restored_one(
    qtbot, window, reviewed, survey: Path
):
    """After a write and after its undo, the review table and the main window's query list
    show the photo's position as it is now, without reopening anything."""
    from sciceapp.ui.queries import ERROR

    (row,) = reviewed.model.rows
    queries = window.query_model.add_paths([row.path])  # the same photo, located in the window
    window.query_model.set_results(queries, [row.result])
    assert haversine_m(*row.recorded, ROME.lat, ROME.lon) < 1 and row.flagged
    rome_error = window.query_model.index(0, ERROR).data()
    reviewed.table.selectRow(0)
    reviewed.unverified.setChecked(True)
    reviewed.apply_selected()
    both = [reviewed.reread_done, window.locating.positions_reread]
    with qtbot.waitSignals(both, timeout=WAIT_MS):
        confirm(qtbot, window)
    (row,) = reviewed.model.rows
    assert haversine_m(*row.recorded, *AREZZO) < 2000 and not row.flagged
    assert reviewed.model.index(0, 1).data() != f"{ROME.lat:.5f}, {ROME.lon:.5f}"
    assert "0 flagged" in reviewed.summary.text()
    query = window.query_model.rows[0].result
    assert haversine_m(*query.query_gps, *AREZZO) < 2000 and query.error_m < 2000
    assert window.query_model.index(0, ERROR).data() != rome_error

    with qtbot.waitSignals(both, timeout=WAIT_MS):
        window.geotag.undo_action.trigger()
    (row,) = reviewed.model.rows
    assert haversine_m(*row.recorded, ROME.lat, ROME.lon) < 1 and row.flagged
    assert window.query_model.index(0, ERROR).data() == rome_error
