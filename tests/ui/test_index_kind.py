"""The New collection dialog's index kind reaches the engine, and the collection details say
which index is in use (exact, compressed with its recall, or exact until it can train)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from ui_helpers import WAIT_MS

from sciceapp.engine.defaults import AUTO_TWOSTAGE_FROM
from sciceapp.engine.index import IndexParams, min_training_vectors
from sciceapp.engine.library import Library
from sciceapp.ui.new_collection_dialog import index_kind_help

TINY_DIM = 1344  # the tiny test model's descriptor size


def test_new_collection_dialog_creates_the_chosen_index_kind(
    qtbot, model_in_data_dir: Path, window, data_dir: Path, exif_samples: Path
):
    window.settings.model_path = str(model_in_data_dir)
    dialog = window.new_collection()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "name" in dialog.problem.text()
    dialog.add_folder(str(exif_samples / "gps"))
    assert dialog.name_edit.text() == "gps"  # named after the first folder
    assert ok.isEnabled()

    # The explanations use the model's own descriptor size, read without loading the model.
    needed_ivfpq = min_training_vectors("ivfpq", TINY_DIM)
    needed_pca = min_training_vectors("pca", TINY_DIM)
    assert f"once it has {needed_ivfpq} photos" in dialog.kind_help["ivfpq"].text()
    assert f"once it has {needed_pca} photos" in dialog.kind_help["pca"].text()
    assert f"{4 * TINY_DIM / 1000:.0f} KB per photo" in dialog.kind_help["flat"].text()
    twostage = dialog.kind_help["twostage"].text()
    needed_twostage = min_training_vectors("twostage", TINY_DIM)
    assert "about 256 bytes per photo" in twostage  # pq4: a 1024-d PCA in 512 4-bit codes
    assert f"once it has {needed_twostage} photos" in twostage and "shortlist of 1024" in twostage
    assert dialog.index_kind() == "auto"  # exact until two-stage is the faster
    assert f"up to {AUTO_TWOSTAGE_FROM:,} photos" in dialog.kind_help["auto"].text()

    dialog.name_edit.setText("city")
    dialog.kind_buttons["ivfpq"].click()
    with qtbot.waitSignal(window.indexing.indexing_finished, timeout=WAIT_MS) as indexed:
        ok.click()
    assert indexed.args[0].added == 9

    summary = Library(data_dir).open_collection("city").summary()
    assert summary.index_kind == "ivfpq" and summary.index_kind_used == "flat"
    details = window.collections.details.text()
    assert "Index: exact for now (IVF-PQ asked for)" in details
    assert f"needs at least {needed_ivfpq} indexed photos" in details and "has 9" in details


def test_dialog_refuses_a_taken_name(qtbot, window, gps_collection: str, exif_samples: Path):
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    dialog = window.new_collection([str(exif_samples / "gps")])
    dialog.name_edit.setText(gps_collection)
    assert "exists already" in dialog.problem.text()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.name_edit.setText("other")
    assert dialog.problem.text() == ""
    dialog.reject()


def test_details_show_exact_and_a_converted_index_with_its_recall(
    qtbot, window, gps_collection: str, model_in_data_dir: Path, data_dir: Path, exif_samples: Path
):
    # A PCA index small enough to train on the 9 sample photos, built by the engine.
    small = Library(data_dir).create_collection(
        "small", model_in_data_dir, index_kind="pca", index_params=IndexParams(pca_dim=8)
    )
    small.add([exif_samples / "gps"])
    summary = Library(data_dir).open_collection("small").summary()
    assert summary.index_kind_used == "pca" and summary.index_recall_at_10 is not None

    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh(select="small")
    details = window.collections.details.text()
    expected = f"Index: PCA, recall@10 {summary.index_recall_at_10:.2f} vs exact"
    assert expected in details and "exact for now" not in details

    window.collections.select(gps_collection)  # created with the default kind, auto
    assert "Index: exact (chosen automatically: below" in window.collections.details.text()
    assert "recall@10" not in window.collections.details.text()


def test_two_stage_help_gives_the_pq4_codes_bytes_per_photo():
    # The default 1024-d PCA in 4-bit codes of 2 values: 256 bytes, for the base model
    # (D = 10752) and before the model is known; a model of fewer values reduces to fewer.
    for dim in (10752, None):
        text = index_kind_help("twostage", dim)
        assert "about 256 bytes per photo" in text, text
    assert "once it has 9984 photos" in index_kind_help("twostage", 10752)
    assert "about 24 bytes per photo" in index_kind_help("twostage", 96)
