"""Verified matches in the window: the badge and inliers in the strip and the table, and the
"Why this match?" view that draws the correspondences computed in a worker."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from ui_helpers import WAIT_MS

from sciceapp.engine.locate import LocateResult, Match
from sciceapp.ui import jobs
from sciceapp.ui.queries import VERIFIED
from sciceapp.ui.why_match import WhyMatchDialog

PLACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "places"
SACRE = sorted((PLACES / "sacre_coeur").glob("*.jpg"))
OTHER_PLACE = sorted((PLACES / "triplets" / "p3").glob("*.jpg"))[1]


def located(query: Path, matches: list[Match]) -> LocateResult:
    return LocateResult(
        str(query), predicted=(48.886, 2.343), confidence=0.5, matches=matches, verified=True
    )


def show_result(window, result: LocateResult) -> None:
    """As if ``result`` had just been located: its row current, its matches in the strip."""
    rows = window.query_model.add_paths([result.query])
    window.query_model.set_results(rows, [result])
    window.query_table.selectRow(window.query_model.row_of(rows[0]))
    window.strip.show_matches(result)


def test_strip_and_table_show_the_badge_and_the_inliers(qtbot, window):
    result = located(
        SACRE[0],
        [
            Match(str(SACRE[1]), 0.31, 48.886, 2.343, 1, inliers=57, verified=True),
            Match(str(OTHER_PLACE), 0.35, None, None, 2, inliers=12, verified=False),
            Match(str(SACRE[2]), 0.20, None, None, 3),
        ],
    )
    show_result(window, result)
    first, second, third = (window.strip.item(i).text() for i in range(3))
    assert "✔ verified, 57 inliers" in first
    assert "not verified, 12 inliers" in second and "✔" not in second
    assert "verified" not in third and "inliers" not in third  # not checked at all
    assert window.strip.item(0).foreground().color().name() == "#2b8a3e"
    cell = window.query_model.index(0, VERIFIED).data()
    assert cell == "✔ verified, 57 inliers"
    result.verified = False
    for match in result.matches:
        match.verified = False
    window.query_model.set_results(window.query_model.rows[:1], [result])
    assert window.query_model.index(0, VERIFIED).data() == "not verified, 57 inliers"


@pytest.mark.slow
def test_why_this_match_draws_correspondences_from_a_worker_without_blocking(
    qtbot, window, monkeypatch
):
    threads: list[threading.Thread] = []
    real = jobs.explain_match

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "explain_match", recording)
    match = Match(str(SACRE[1]), 0.31, None, None, 1, inliers=57, verified=True)
    show_result(window, located(SACRE[0], [match]))

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    dialog = window.explain_match(0)
    # The dialog is up at once, busy, with nothing drawn yet: the work is elsewhere.
    assert isinstance(dialog, WhyMatchDialog) and dialog.isVisible()
    assert dialog.view.explanation is None and dialog.progress.isVisibleTo(dialog)
    with qtbot.waitSignal(dialog.drawn, timeout=WAIT_MS) as drawn:
        pass
    timer.stop()
    assert threads and threads[0] is not threading.main_thread()
    assert len(ticks) >= 3  # the GUI thread kept running its event loop meanwhile
    lines = drawn.args[0]
    explanation = dialog.view.explanation
    assert lines == min(explanation.inliers, 400) >= 20 and explanation.verified
    assert dialog.verdict.text().startswith("Verified:")
    assert not dialog.progress.isVisibleTo(dialog)

    # What is painted: the lines change many pixels; the points lie inside both photos.
    dialog.view.resize(1000, 400)
    with_lines = dialog.view.grab().toImage()
    dialog.view.show_lines = False
    without = dialog.view.grab().toImage()
    changed = sum(
        with_lines.pixel(x, y) != without.pixel(x, y)
        for x in range(0, 1000, 4)
        for y in range(0, 400, 4)
    )
    assert changed > 200
    for points, image in (
        (explanation.query_points, explanation.query_image),
        (explanation.ref_points, explanation.ref_image),
    ):
        assert (points >= -1).all()
        assert (points[:, 0] <= image.shape[1]).all() and (points[:, 1] <= image.shape[0]).all()
    dialog.close()


@pytest.mark.slow
def test_a_look_alike_is_not_verified_and_the_menu_offers_the_view(qtbot, window):
    match = Match(str(OTHER_PLACE), 0.35, None, None, 2, inliers=3, verified=False)
    show_result(window, located(SACRE[0], [match]))
    from sciceapp.ui.context_menus import match_menu

    menu = match_menu(window, window.strip.matches[0])
    (action,) = [a for a in menu.actions() if a.text() == "Why this match?"]
    action.trigger()
    qtbot.waitUntil(lambda: bool(window.findChildren(WhyMatchDialog)), timeout=WAIT_MS)
    dialog = window.findChildren(WhyMatchDialog)[-1]
    with qtbot.waitSignal(dialog.drawn, timeout=WAIT_MS):
        pass
    assert not dialog.view.explanation.verified
    assert dialog.verdict.text().startswith("Not verified:")
    dialog.close()


def test_cancelling_stops_the_worker_and_says_so(qtbot, window):
    match = Match(str(SACRE[1]), 0.31, None, None, 1)
    dialog = WhyMatchDialog(window, str(SACRE[0]), match)
    with qtbot.waitSignal(dialog.worker.signals.cancelled, timeout=WAIT_MS):
        dialog.cancel_button.click()
    assert "Cancelled" in dialog.verdict.text() and dialog.view.explanation is None
    assert not dialog.cancel_button.isEnabled()
    dialog.close()


@pytest.mark.slow
def test_the_view_reads_the_collections_stored_features(
    qtbot, window, model_in_data_dir, data_dir, tmp_path, monkeypatch
):
    """The dialog asks for the current collection's stored features of the match's photo
    (what verification counted), not a fresh extraction."""
    import shutil

    from sciceapp.engine.library import Library

    folder = tmp_path / "sacre"
    folder.mkdir()
    for photo in SACRE[1:3]:
        shutil.copy(photo, folder / photo.name)
    collection = Library(data_dir).create_collection(
        "sacre", model_in_data_dir, local_features=True
    )
    collection.add([folder])
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select="sacre")
    record = next(p for p in collection.photos() if p.path.endswith(SACRE[1].name))
    match = Match(record.path, 0.31, None, None, 1, inliers=57, verified=True)
    match.photo_id = record.id
    show_result(window, located(SACRE[0], [match]))
    dialog = window.explain_match(0)
    with qtbot.waitSignal(dialog.drawn, timeout=WAIT_MS):
        pass
    explanation = dialog.view.explanation
    assert explanation.ref_features_stored and explanation.verified
    assert "features stored" in dialog.verdict.text()
    dialog.close()
