"""Readers see a collection as its last index save has it: rows a running (or killed) add has
committed ahead of its next save are not counted, and stale index files go at the next run."""

from __future__ import annotations

import signal

from test_library_resume import CHILD, _child, _wait_for

from sciceapp.engine.library import Library


def test_counts_and_listings_ignore_rows_not_yet_in_the_saved_index(
    data_dir, toy_model, make_photos
):
    photos = make_photos(9)
    Library(data_dir).create_collection("c", toy_model).add(photos[:3])  # saved: 3 photos
    child = _child(CHILD, str(data_dir), str(photos[0].parent), "unsaved")
    try:
        _wait_for(child, "stalled")  # 2 batches of new photos committed, no save since
        reader = Library(data_dir).open_collection("c")
        summary = reader.summary()
        assert (summary.indexed, summary.total) == (3, 3)
        assert [r.path for r in reader.photos()] == [str(p) for p in photos[:3]]
        assert reader.index().ntotal == 3
        assert [s.indexed for s in Library(data_dir).list_collections()] == [3]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # After the kill the same holds, and the next run redoes the lost work.
    reopened = Library(data_dir).open_collection("c")
    assert reopened.summary().indexed == 3
    assert reopened.update().added == 6
    assert reopened.summary().indexed == 9


def test_stale_index_files_are_removed_by_the_next_run(data_dir, toy_model, make_photos):
    collection = Library(data_dir).create_collection("c", toy_model)
    collection.add(make_photos(2))
    current = sorted(collection.folder.glob("index-*"))  # none: exact search reads the store
    stale = [collection.folder / "index-7.faiss", collection.folder / ".index-3.faiss.ab12.tmp"]
    for path in stale:
        path.write_bytes(b"left by a killed save")
    assert collection.update().unchanged == 2  # nothing to save, but the folder is cleaned
    assert sorted(collection.folder.glob("index-*")) == current
    assert not any(path.exists() for path in stale)
