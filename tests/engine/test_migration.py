"""A collection written by the versions before the descriptor store moves into one, with its
descriptors as they were (no re-embedding), crash-safely.

Each fixture was written by such a version: a flat collection "old" of 12 photos embedded by
the toy model, 2 of them removed by an update; ``expected.npz`` holds the ids and vectors its
index file held, read back by that version.

- ``legacy_v3`` (commit 05e3f9d): catalogue schema 3, index file format 1;
- ``legacy_v6`` (commit 2149b9a, main just before the store landed): catalogue schema 6 (the
  collection has a uid), index file format 2 (checksummed header naming its owner).
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from sciceapp.engine import catalogue
from sciceapp.engine.library import Library
from sciceapp.engine.onnx_model import model_fingerprint, read_model_info
from sciceapp.errors import CollectionError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["legacy_v3", "legacy_v6"])
def legacy(request, data_dir: Path, toy_model: Path) -> Path:
    shutil.copytree(FIXTURES / request.param, data_dir, dirs_exist_ok=True)
    with closing(sqlite3.connect(data_dir / "catalogue.sqlite")) as conn, conn:
        # The fixture was embedded by the toy model of its day; today's toy model (same
        # descriptor size, other bytes) takes its place, as a user's restored model file
        # would. The migration copies stored vectors and never runs the model.
        dim = conn.execute("SELECT descriptor_dim FROM collections").fetchone()[0]
        assert dim == read_model_info(toy_model).descriptor_dim
        sha = model_fingerprint(toy_model)
        conn.execute(
            "UPDATE collections SET model_path = ?, model_sha256 = ?", (str(toy_model), sha)
        )
        conn.execute("UPDATE photos SET model_sha256 = ? WHERE model_sha256 IS NOT NULL", (sha,))
    return data_dir


def test_old_flat_collection_moves_to_the_store_without_re_embedding(legacy, make_photos):
    expected = np.load(legacy / "expected.npz")
    (old_file,) = (legacy / "collections" / "1").glob("index-*.faiss")
    with closing(sqlite3.connect(legacy / "catalogue.sqlite")) as conn:
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    collection = Library(legacy).open_collection("old")
    assert (legacy / f"catalogue.sqlite.v{version}.bak").is_file()  # copied aside first
    opened = collection.index()
    assert not old_file.exists()
    store = opened.store
    assert np.array_equal(store.live_ids(), expected["ids"])
    assert np.array_equal(store.vectors_of(expected["ids"]), expected["vectors"])
    store.verify()
    assert sorted(r.id for r in collection.photos()) == expected["ids"].tolist()
    (hits,) = collection.search(expected["vectors"][4], k=2)
    assert hits[0][0].id == expected["ids"][4] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    summary = collection.summary()
    assert (summary.indexed, summary.index_kind_used) == (10, "flat")

    # It goes on as any collection: new photos are appended after the migrated rows.
    report = collection.add([make_photos(2, folder="new")[0].parent])
    assert report.added == 2
    opened = collection.index()
    assert opened.store.live_count == 12
    assert np.array_equal(opened.store.ids[:10], expected["ids"])


def test_a_crash_while_migrating_keeps_the_old_file_and_migrates_again(legacy, monkeypatch):
    (old_file,) = (legacy / "collections" / "1").glob("index-*.faiss")

    def crash(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(catalogue, "commit_saved", crash)
    with pytest.raises(sqlite3.OperationalError):
        Library(legacy).open_collection("old").index()
    monkeypatch.undo()
    assert old_file.is_file()  # still the collection's file
    assert not list(old_file.parent.glob(".*.tmp"))
    expected = np.load(legacy / "expected.npz")
    opened = Library(legacy).open_collection("old").index()
    assert np.array_equal(opened.store.live_ids(), expected["ids"])  # appended once, not twice
    assert opened.store.rows == 10


def test_an_index_file_of_another_collection_is_not_migrated(legacy):
    """Format 2 names its owner; format 1 has none, so only its checksum is checked."""
    (old_file,) = (legacy / "collections" / "1").glob("index-*.faiss")
    with closing(sqlite3.connect(legacy / "catalogue.sqlite")) as conn, conn:
        uid = "uid" in [row[1] for row in conn.execute("PRAGMA table_info(collections)")]
        if uid:
            conn.execute("UPDATE collections SET uid = 'someone-else'")
    collection = Library(legacy).open_collection("old")
    if not uid:
        assert collection.index().store.live_count == 10
        return
    with pytest.raises(CollectionError, match="belongs to another collection.*rebuild"):
        collection.index()
    assert old_file.is_file() and collection.summary().indexed == 10


def test_a_damaged_old_file_is_refused_and_kept(legacy):
    (old_file,) = (legacy / "collections" / "1").glob("index-*.faiss")
    data = old_file.read_bytes()
    damaged = data[:-7] + bytes(b ^ 0xFF for b in data[-7:])
    old_file.write_bytes(damaged)
    collection = Library(legacy).open_collection("old")
    with pytest.raises(CollectionError, match="truncated or corrupt.*rebuild"):
        collection.index()
    assert old_file.read_bytes() == damaged  # kept for whoever restores it
