"""The model session opens while the first photos are decoded (engine/model_start.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from sciceapp.engine import embedder_cache, pipeline
from sciceapp.engine.images import load_for_model
from sciceapp.engine.library import Library
from sciceapp.engine.model_start import StartingModel
from sciceapp.engine.onnx_model import Embedder, read_model_info
from sciceapp.errors import ModelError

WAIT_S = 20.0
"""How long a session start waits for a photo to be decoded: far more than decoding one
takes; only reached when decoding does not begin before the session is ready."""


def decode_signal(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once the pipeline has decoded a photo."""
    decoded = threading.Event()
    real = pipeline.load_upright

    def load_upright(*args, **kwargs):
        found = real(*args, **kwargs)
        decoded.set()
        return found

    monkeypatch.setattr(pipeline, "load_upright", load_upright)
    return decoded


def test_photos_are_decoded_while_the_session_starts(toy_model, make_photos, monkeypatch):
    photos = make_photos(5)
    decoded = decode_signal(monkeypatch)
    first_batch = threading.Event()

    class Starting(StartingModel):
        def embed_inputs(self, inputs):
            first_batch.set()  # a whole first batch is decoded, and waits for the session
            return super().embed_inputs(inputs)

    def start() -> Embedder:
        # The session is ready only once the pipeline asks it for a first batch: decoding
        # must have begun without it (else this waits in vain and fails the run).
        if not (decoded.wait(WAIT_S) and first_batch.wait(WAIT_S)):
            raise AssertionError("no photo was decoded while the session was starting")
        return Embedder(toy_model, provider="cpu", batch_size=2)

    starting = Starting(read_model_info(toy_model), start, provisional=3)
    assert starting.batch_size == 3  # the provisional size until ready
    batches = list(pipeline.embed_files(photos, starting, workers=2))
    assert starting.started and starting.batch_size == 2
    # the first batch took the provisional size, the next ones the session's
    assert [len(b.items) for b in batches] == [3, 2]
    info = starting.info
    direct = starting.ready().embed(
        np.stack([load_for_model(p, info.image_size, info.mean, info.std) for p in photos])
    )
    np.testing.assert_allclose(np.concatenate([b.vectors for b in batches]), direct, atol=1e-6)


def test_a_session_that_fails_to_start_fails_where_it_is_used(toy_model, make_photos):
    def broken():
        raise ModelError("cannot start")

    starting = StartingModel(read_model_info(toy_model), broken, provisional=3)
    with pytest.raises(ModelError, match="cannot start"):
        list(pipeline.embed_files(make_photos(2), starting))
    with pytest.raises(ModelError, match="cannot start"):
        starting.ready()


def test_collection_add_decodes_while_the_session_opens(
    data_dir: Path, toy_model, make_photos, monkeypatch
):
    """The whole command: the collection's session is opened in a thread while photos are
    decoded (before the fix it was opened first, and this start would wait in vain)."""
    photos = make_photos(4)
    decoded = decode_signal(monkeypatch)
    real_open = embedder_cache.model_kinds.open_model
    opened_in: list[str] = []

    def open_model(*args, **kwargs):
        opened_in.append(threading.current_thread().name)
        if not decoded.wait(WAIT_S):
            raise AssertionError("no photo was decoded while the session was opening")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(embedder_cache.model_kinds, "open_model", open_model)
    collection = Library(data_dir).create_collection("c", toy_model)
    report = collection.add([photos[0].parent])
    assert report.added == 4 and not report.skipped
    assert collection.summary().indexed == 4
    assert len(opened_in) == 1 and opened_in[0].startswith("model-start")
    # the session is the collection's from now on: the next run opens nothing
    assert collection.add([photos[0].parent]).unchanged == 4 and len(opened_in) == 1


def test_a_model_that_cannot_start_fails_the_run_with_nothing_to_embed(
    data_dir: Path, toy_model, tmp_path: Path, monkeypatch
):
    def open_model(*args, **kwargs):
        raise ModelError("the session cannot start")

    monkeypatch.setattr(embedder_cache.model_kinds, "open_model", open_model)
    collection = Library(data_dir).create_collection("c", toy_model)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="cannot start"):
        collection.add([empty])
