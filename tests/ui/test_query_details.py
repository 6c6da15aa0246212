"""A failed query's reason is shown in full: in the Status column's tooltip and, wrapped, in
the details pane under the table."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from ui_helpers import WAIT_MS

from sciceapp.ui.queries import STATUS


def test_the_whole_reason_a_query_failed_is_shown(
    qtbot, window, gps_collection: str, tmp_path: Path
):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    assert window.query_details.isHidden()  # nothing selected: nothing to say
    missing = tmp_path / "gone.jpg"
    window.path_edit.setText(str(missing))
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS):
        window.path_edit.returnPressed.emit()
    (row,) = window.query_model.rows
    full = row.status_text()
    assert full.startswith("failed: ") and "No such file" in full
    window.query_table.selectRow(0)
    tip = window.query_model.index(0, STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == full
    details = window.query_details
    assert details.isVisible() and details.wordWrap()
    assert details.text().startswith("<b>gone.jpg</b>: ")
    assert f">{full}</span>" in details.text()  # all of it, not an ellipsis
    assert details.toolTip() == str(missing)
    # Wrapped inside the pane: it is no wider than the table it sits under.
    assert details.width() <= window.query_table.width() + 10
    window.remove_query(0)
    assert details.isHidden()
