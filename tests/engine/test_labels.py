"""A random-weight model's name always carries the demo note, exactly once."""

from __future__ import annotations

from sciceapp.engine.labels import RANDOM_WEIGHTS_NOTE, model_text


def test_random_models_get_the_demo_note_once():
    assert model_text("tiny SciceVPR", True) == f"tiny SciceVPR {RANDOM_WEIGHTS_NOTE}"
    labelled = model_text("tiny SciceVPR", True)
    assert model_text(labelled, True) == labelled
    assert "demo, not accurate" in RANDOM_WEIGHTS_NOTE


def test_trained_models_keep_their_label():
    assert model_text("SciceVPR-B", False) == "SciceVPR-B"
