"""Field survey review in the window, and the model dialog (listing, demo label, import,
export subprocess errors)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

from PySide6.QtCore import Qt
from ui_helpers import WAIT_MS, run_js

from sciceapp.ui.model_dialog import ModelDialog
from sciceapp.ui.review_table import COLUMNS
from sciceapp.ui.review_window import ReviewWindow


def test_review_flags_a_photo_whose_gps_disagrees_and_exports(
    qtbot, window, gps_collection: str, exif_samples: Path, tmp_path: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select=gps_collection)
    survey = tmp_path / "survey"
    survey.mkdir()
    for name in ("DSCN0010.jpg", "DSCN0021.jpg", "DSCN0040.jpg"):
        shutil.copyfile(exif_samples / "gps" / name, survey / name)
    shutil.copyfile(exif_samples / "phones" / "IMG_5195.HEIC", survey / "IMG_5195.HEIC")  # Missouri
    dialog = ReviewWindow.show_for(window)
    dialog.threshold_m.setValue(5000)
    with qtbot.waitSignal(dialog.model.modelReset, timeout=WAIT_MS):
        dialog.review(str(survey))
    rows = {Path(r.path).name: r for r in dialog.model.rows}
    assert set(rows) == {"DSCN0010.jpg", "DSCN0021.jpg", "DSCN0040.jpg", "IMG_5195.HEIC"}
    assert rows["IMG_5195.HEIC"].flagged  # recorded in Missouri, predicted in Arezzo
    assert not rows["DSCN0010.jpg"].flagged
    assert "1 flagged" in dialog.summary.text()

    # Sorting by the verdict column puts the disagreement first (descending).
    verdict = COLUMNS.index("Verdict")
    dialog.table.sortByColumn(verdict, dialog.proxy.sortOrder().DescendingOrder)
    assert dialog.proxy.index(0, 0).data() == "IMG_5195.HEIC"
    assert dialog.proxy.index(0, verdict).data() == "DISAGREES"

    saved = os.umask(0o002)  # a group-writable umask is kept, not narrowed to 0600
    try:
        dialog.export("csv", str(tmp_path / "review.csv"))
        dialog.export("geojson", str(tmp_path / "review.geojson"))
    finally:
        os.umask(saved)
    for name in ("review.csv", "review.geojson"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o664
    with open(tmp_path / "review.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    assert len(json.loads((tmp_path / "review.geojson").read_text())["features"]) >= 4

    # On the map: one arrow (line + head) per checked photo, pushed into the page on screen.
    assert dialog.windowTitle().endswith(f"“{gps_collection}”")  # names what it checks against
    qtbot.waitUntil(lambda: window.map_view.is_ready, timeout=WAIT_MS)
    loads = window.map_view.page_loads
    dialog.show_on_map()
    qtbot.waitUntil(lambda: not window.locating.render_pending, timeout=WAIT_MS)
    checked = sum(1 for r in rows.values() if r.recorded and r.predicted)
    count = "window.sciceapp.overlayCount('review')"  # per photo an arrow and its own marker
    assert run_js(qtbot, window.map_view, count) == 2 * checked
    legend = "(document.querySelector('.sciceapp-legend') || {}).textContent || ''"
    assert "flagged" in run_js(qtbot, window.map_view, legend)
    flagged = "window.sciceapp.overlayCount('review', 'flagged')"
    assert run_js(qtbot, window.map_view, flagged) == 1  # the Missouri photo's arrow
    dialog.show_agreeing.setChecked(False)  # only the flagged arrow stays
    qtbot.waitUntil(lambda: run_js(qtbot, window.map_view, count) == 2, timeout=WAIT_MS)
    assert window.map_view.page_loads == loads  # drawn over the page, never a reload
    dialog.close()  # the survey leaves the main map with its window
    qtbot.waitUntil(lambda: not window.locating.render_pending, timeout=WAIT_MS)
    assert run_js(qtbot, window.map_view, count) == 0
    assert run_js(qtbot, window.map_view, legend) == ""


def test_model_dialog_lists_demo_models_as_such_and_adopts_an_import(
    qtbot, window, tiny_onnx_model: Path, tmp_path: Path
):
    dialog = ModelDialog.show_for(window)
    qtbot.waitUntil(lambda: dialog.builder.preset.count() > 0, timeout=WAIT_MS)
    assert "No model yet" in dialog.local_list.item(0).text()
    assert "tiny" in [
        dialog.builder.preset.itemData(i) for i in range(dialog.builder.preset.count())
    ]
    with qtbot.waitSignal(dialog.models_changed, timeout=WAIT_MS):
        dialog.import_file(str(tiny_onnx_model))
    qtbot.waitUntil(
        lambda: "demo, not accurate" in dialog.local_list.item(0).text(), timeout=WAIT_MS
    )
    assert Path(window.settings.model_path).parent == window.data_dir / "models"
    qtbot.waitUntil(lambda: "CPUExecutionProvider" in dialog.provider_label.text(), timeout=WAIT_MS)

    bad = tmp_path / "not-a-model.onnx"
    bad.write_bytes(b"this is not ONNX")
    with qtbot.waitSignal(window.error_shown, timeout=WAIT_MS) as shown:
        dialog.import_file(str(bad))
    assert "not-a-model.onnx" in shown.args[0]
    dialog.close()


def test_model_dialog_preselects_the_precision_that_is_fastest_here(qtbot, window):
    from sciceapp.engine.providers import CPU, plan

    fastest = "int8" if plan(window.settings.provider)[0][0] == CPU else "fp16"
    dialog = ModelDialog.show_for(window)
    qtbot.waitUntil(lambda: dialog.builder.chosen_precision() == fastest, timeout=WAIT_MS)
    assert dialog.builder.precision.currentText() == f"{fastest} (recommended here)"
    tips = [dialog.builder.precision.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(3)]
    assert "for CPUs" in tips[2] and "for GPUs" in tips[1]
    dialog.close()


def test_a_precision_the_user_chose_is_kept(qtbot, window):
    dialog = ModelDialog.show_for(window)
    dialog.builder.precision.setCurrentIndex(0)
    dialog.builder.precision.activated.emit(0)  # what a click on "fp32" sends
    qtbot.waitUntil(lambda: "recommended" in "".join(
        dialog.builder.precision.itemText(i) for i in range(3)), timeout=WAIT_MS)  # fmt: skip
    dialog.builder.recommend_precision("int8")  # the machine's advice arriving after the pick
    assert dialog.builder.chosen_precision() == "fp32"
    assert dialog.builder.precision.findText("int8 (recommended here)") >= 0
    dialog.close()


def test_model_export_subprocess_error_is_shown(qtbot, window):
    dialog = ModelDialog.show_for(window)
    with qtbot.waitSignal(dialog.builder.exporter.failed, timeout=WAIT_MS) as failed:
        dialog.builder.start_export("no-such-preset", "broken.onnx")
    assert "no-such-preset" in failed.args[0]
    assert dialog.builder.export_button.isEnabled() and not dialog.builder.cancel_button.isEnabled()
    assert window.error_box is not None and "no-such-preset" in window.error_box.text()
    dialog.close()


def test_demo_model_export_runs_in_a_subprocess_and_is_adopted_labelled(
    qtbot, window, data_dir: Path
):
    dialog = ModelDialog.show_for(window)
    qtbot.waitUntil(lambda: dialog.builder.preset.count() > 0, timeout=WAIT_MS)
    progress: list[tuple[int, int, str]] = []
    dialog.builder.exporter.progress.connect(lambda *a: progress.append(a))
    with qtbot.waitSignal(dialog.builder.exporter.succeeded, timeout=240_000) as done:
        dialog.builder.demo_button.click()
        assert (
            dialog.builder.cancel_button.isEnabled() and not dialog.builder.demo_button.isEnabled()
        )
    built = Path(done.args[0])
    assert built.parent == data_dir / "models" and built.is_file()
    assert progress  # the subprocess's JSON progress reached the dialog
    assert window.settings.model_path == str(built)
    qtbot.waitUntil(
        lambda: "demo, not accurate" in dialog.local_list.item(0).text(), timeout=WAIT_MS
    )
    assert dialog.builder.demo_button.isEnabled() and not dialog.builder.cancel_button.isEnabled()
    dialog.close()


def test_cancelling_an_export_stops_the_subprocess_and_leaves_no_file(
    qtbot, window, data_dir: Path
):
    dialog = ModelDialog.show_for(window)
    with qtbot.waitSignal(dialog.builder.exporter.failed, timeout=WAIT_MS) as failed:
        dialog.builder.create_demo_model()
        qtbot.waitUntil(dialog.builder.exporter.is_running, timeout=WAIT_MS)
        dialog.builder.cancel_button.click()
    assert failed.args == ["Export cancelled."]
    assert not dialog.builder.exporter.is_running()
    assert list((data_dir / "models").glob("*")) == []
    dialog.close()


def test_closing_the_window_stops_a_running_export(qtbot, window, data_dir: Path):
    dialog = ModelDialog.show_for(window)
    dialog.builder.create_demo_model()
    qtbot.waitUntil(dialog.builder.exporter.is_running, timeout=WAIT_MS)
    process = dialog.builder.exporter.process
    window.close()
    assert process.state() == process.ProcessState.NotRunning
    assert list((data_dir / "models").glob("*")) == []


def test_review_shows_verified_badges_and_the_selected_photos_matches(qtbot, window, tmp_path):
    """The review table's Verified column and the strip of the selected photo's matches say
    what the main window's strip says: the badge and the inliers."""
    from sciceapp.engine.locate import LocateResult, Match
    from sciceapp.engine.review import row_from_result
    from sciceapp.ui.match_strip import VERIFIED_COLOR

    def result(name: str, matches: list[Match], verified: bool) -> LocateResult:
        return LocateResult(
            str(tmp_path / name), (43.46, 11.88), 0.5, matches, (43.46, 11.88), 0.0,
            verified=verified,
        )  # fmt: skip

    sure = result("sure.jpg", [Match("/r/a.jpg", 0.4, 43.46, 11.88, 1, inliers=57, verified=True),
                               Match("/r/b.jpg", 0.3, None, None, 2, inliers=9)], True)  # fmt: skip
    unsure = result("unsure.jpg", [Match("/r/c.jpg", 0.5, 43.46, 11.88, 3, inliers=12)], False)
    dialog = ReviewWindow.show_for(window)
    dialog.model.set_rows([row_from_result(sure, 500), row_from_result(unsure, 500)])
    column = COLUMNS.index("Verified")
    cells = [dialog.model.index(r, column) for r in range(2)]
    assert [c.data() for c in cells] == ["✔ verified, 57 inliers", "not verified, 12 inliers"]
    assert cells[0].data(Qt.ItemDataRole.ForegroundRole) == VERIFIED_COLOR
    assert cells[1].data(Qt.ItemDataRole.ForegroundRole) is None
    assert "1 predicted from a verified match" not in dialog.summary.text()  # not reviewed yet

    def select(source_row: int) -> None:
        dialog.table.selectRow(dialog.proxy.mapFromSource(dialog.model.index(source_row, 0)).row())

    select(0)
    assert dialog.strip.count() == 2
    assert "✔ verified, 57 inliers" in dialog.strip.item(0).text()
    assert "not verified, 9 inliers" in dialog.strip.item(1).text()
    assert dialog.strip.item(0).foreground().color() == VERIFIED_COLOR
    select(1)
    assert dialog.strip.count() == 1 and "not verified, 12" in dialog.strip.item(0).text()
    dialog.close()
