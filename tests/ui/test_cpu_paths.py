"""The Models dialog shows how a model runs on this CPU, measures it again and takes a choice."""

from __future__ import annotations

import pytest
from ui_helpers import WAIT_MS

from sciceapp.engine import calibration, tuning
from sciceapp.engine.onnx_model import read_model_info
from sciceapp.ui.cpu_paths_panel import AUTO
from sciceapp.ui.model_dialog import ModelDialog


@pytest.mark.slow
def test_models_dialog_measures_shows_speeds_and_takes_a_choice(
    qtbot, window, gps_collection, model_in_data_dir, data_dir, monkeypatch
):
    monkeypatch.setattr(calibration, "PAUSE_S", 0.0)
    monkeypatch.setattr(calibration, "REPEATS", 1)
    dialog = ModelDialog.show_for(window)
    panel = dialog.cpu_paths
    qtbot.waitUntil(
        lambda: bool(dialog.local_list.count() and dialog.local_list.item(0).data(256)),
        timeout=WAIT_MS,
    )
    dialog.local_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: "Not measured" in panel.text.text(), timeout=WAIT_MS)
    assert not panel.choice.isEnabled()
    panel.measure()  # on the photos of the collection built with this model
    qtbot.waitUntil(lambda: "images/s" in panel.text.text(), timeout=480_000)
    record, _ = tuning.load(data_dir, read_model_info(model_in_data_dir).sha256)
    assert record is not None and f"using {record.chosen}" in panel.text.text()
    assert panel.choice.itemText(0) == AUTO and panel.choice.isEnabled()
    names = [panel.choice.itemData(i) for i in range(1, panel.choice.count())]
    assert "onnxruntime-fp32" in names
    panel._chosen(names.index("onnxruntime-fp32") + 1)
    qtbot.waitUntil(lambda: "onnxruntime-fp32 (your choice)" in panel.text.text(), timeout=WAIT_MS)
    assert tuning.load(data_dir, record.model_sha256)[0].override == "onnxruntime-fp32"
    dialog.close()
