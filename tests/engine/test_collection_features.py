"""Local features of a collection: stored with every indexed photo, switched on later without
re-embedding, pruned with the photos, and consistent with the catalogue after a kill -9."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from sciceapp.engine.feature_store import FILE_NAME, FeatureStore
from sciceapp.engine.library import CollectionOptions, Library
from sciceapp.engine.local_features import extract_features

SACRE = ("02928139_3448003521.jpg", "44120379_8371960244.jpg", "71295362_4051449754.jpg")


@pytest.fixture
def real_photos(tmp_path, real_places):
    folder = tmp_path / "real"
    folder.mkdir()
    for name in SACRE:
        shutil.copy(real_places / "sacre_coeur" / name, folder / name)
    return folder


def _live_ids(collection) -> set[int]:
    return {p.id for p in collection.photos(state="indexed")}


@pytest.mark.slow
def test_indexing_stores_features_of_every_photo(data_dir, toy_model, real_photos):
    collection = Library(data_dir).create_collection("c", toy_model, local_features=True)
    assert collection.local_features
    collection.add([real_photos])
    store = collection.features()
    assert store.ids() == _live_ids(collection)
    photo = next(p for p in collection.photos() if p.path.endswith(SACRE[0]))
    stored = store.get(photo.id)
    from PIL import Image

    with Image.open(photo.path) as image:
        assert stored.image_size == image.size
        fresh = extract_features(np.asarray(image.convert("RGB")))
    assert len(stored) == 2000
    # What was stored is what the photo gives (same keypoints, within storage rounding).
    assert np.abs(np.sort(stored.keypoints[:, 0]) - np.sort(fresh.keypoints[:, 0])).max() < 0.5
    summary = collection.summary()
    assert summary.local_features and summary.features_photos == 3
    assert 2000 * 132 <= summary.features_bytes_per_photo < 2000 * 132 + 64
    assert summary.features_ms_per_photo > 0


def test_collection_without_features_gets_them_without_re_embedding(
    data_dir, toy_model, real_photos
):
    collection = Library(data_dir).create_collection("c", toy_model, local_features=False)
    collection.add([real_photos])
    assert not (collection.folder / FILE_NAME).exists()
    assert collection.summary().features_photos == 0
    ids_before = set(collection.index().ids().tolist())

    def no_embedding(images):
        raise AssertionError("switching local features on must not re-embed")

    reopened = Library(data_dir).open_collection("c")
    reopened.embedder().embed = no_embedding
    report = reopened.set_local_features(True)
    assert report.unchanged == 3 and report.added == report.updated == 0
    assert reopened.features().ids() == _live_ids(reopened) == ids_before
    assert Library(data_dir).open_collection("c").summary().features_photos == 3
    reopened.set_local_features(False)
    assert not (reopened.folder / FILE_NAME).exists()
    assert not Library(data_dir).open_collection("c").local_features


def test_removed_and_changed_photos_lose_their_features(
    data_dir, toy_model, make_photos, exif_tools
):
    photos = make_photos(4)
    collection = Library(data_dir).create_collection("c", toy_model, local_features=True)
    collection.add([photos[0].parent])
    first = collection.features().ids()
    photos[0].unlink()
    exif_tools.photo(photos[1], seed=99)  # changed: a new row, so new features
    collection.update()
    live = _live_ids(collection)
    assert len(live) == 3
    # Their records were 2 of 5, over the share (REWRITE_GARBAGE_SHARE) that a run rewrites.
    assert collection.features().ids() == live
    assert len(first & live) == 2


def test_torn_record_is_cut_and_redone(data_dir, toy_model, make_photos):
    photos = make_photos(3)
    collection = Library(data_dir).create_collection("c", toy_model, local_features=True)
    collection.add([photos[0].parent])
    path = collection.folder / FILE_NAME
    whole = path.stat().st_size
    with open(path, "ab") as file:
        file.write(b"LFr1" + b"\x07" * 30)  # a record header cut short by a crash
    assert FeatureStore(collection.folder).ids() == _live_ids(collection)
    collection.update()
    assert path.stat().st_size == whole
    assert FeatureStore(collection.folder).ids() == _live_ids(collection)


def _saved_ids(collection) -> set[int]:
    """Rows of saved generations (what a run keeps; later ones are rolled back)."""
    from contextlib import closing

    with closing(collection.library.connect()) as conn:
        rows = conn.execute(
            "SELECT p.id FROM photos p JOIN collections c ON c.id = p.collection_id "
            "WHERE c.id = ? AND p.gen <= c.saved_gen AND p.state = 'indexed'",
            (collection.id,),
        )
        return {row[0] for row in rows}


# The child indexes with 2-photo batches, saving at every batch, and is killed while
# features are being written: after a checkpoint ("saved") or between a batch's rows and
# its checkpoint ("unsaved").
CHILD = r"""
import sys
from sciceapp.engine import feature_store
from sciceapp.engine.library import CollectionOptions, Library
data, folder, mode = sys.argv[1:4]
options = CollectionOptions(batch_size=2, checkpoint_s=0 if mode == "saved" else 1e9)
collection = Library(data).open_collection("c", options)
syncs = 0
real_sync = feature_store.FeatureStore.sync
real_append = feature_store.FeatureStore.append
appended = 0

def sync(self):
    global syncs
    real_sync(self)
    syncs += 1
    if mode == "saved" and syncs == 2:
        print("stalled", flush=True)
        sys.stdin.readline()

def append(self, photo_id, features, ms=0.0):
    global appended
    real_append(self, photo_id, features, ms)
    appended += 1
    if mode == "unsaved" and appended == 3:
        self._writer.flush()  # on disk, but its rows are not saved: must not survive
        print("stalled", flush=True)
        sys.stdin.readline()

feature_store.FeatureStore.sync = sync
feature_store.FeatureStore.append = append
collection.add([folder])
print("finished", flush=True)
"""


@pytest.mark.parametrize("mode", ["saved", "unsaved"])
def test_features_survive_a_killed_run(data_dir, toy_model, make_photos, mode):
    photos = make_photos(7)
    Library(data_dir).create_collection("c", toy_model, local_features=True)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(photos[0].parent), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "stalled"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    collection = Library(data_dir).open_collection("c")
    store = FeatureStore(collection.folder)
    saved = _saved_ids(collection)
    # Every photo the catalogue kept has its features on disk (the fsync came first) ...
    assert saved <= store.ids()
    assert len(saved) == (2 if mode == "saved" else 0)
    report = collection.add([photos[0].parent])
    assert report.added + report.unchanged == 7
    # ... and after the resumed run, exactly the indexed photos have features.
    live = _live_ids(collection)
    assert len(live) == 7
    assert FeatureStore(collection.folder).ids() == live
    assert len(FeatureStore(collection.folder).get_many(live)) == 7


def test_cli_switches_local_features_and_show_reports_them(
    data_dir, toy_model, real_photos, capsys
):
    from sciceapp.cli import main

    dd = ["--data-dir", str(data_dir)]
    assert main([*dd, "collection", "create", "c", "--model", str(toy_model)]) == 0
    assert Library(data_dir).open_collection("c").local_features  # on by default
    create_off = [*dd, "collection", "create", "d", "--model", str(toy_model)]
    assert main([*create_off, "--local-features", "off"]) == 0
    assert main([*dd, "collection", "add", "d", str(real_photos), "-q"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "d"]) == 0
    assert "Features:   off" in capsys.readouterr().out
    assert main([*dd, "collection", "update", "d", "--local-features", "on", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Local features on" in out and "added 0, updated 0, removed 0, unchanged 3" in out
    assert main([*dd, "collection", "show", "d"]) == 0
    shown = capsys.readouterr().out
    assert "Features:   on, 3 of 3 photos; 2" in shown and "KB per photo" in shown
    assert main([*dd, "collection", "show", "d", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["local_features"] is True and data["features_photos"] == 3
    assert data["features_ms_per_photo"] > 0


def test_full_disk_while_writing_features_loses_nothing(
    data_dir, toy_model, make_photos, monkeypatch
):
    import errno

    from sciceapp.errors import CollectionError

    photos = make_photos(6)
    collection = Library(data_dir).create_collection(
        "c",
        toy_model,
        local_features=True,
        options=CollectionOptions(batch_size=2, checkpoint_s=0),  # a save after every batch
    )
    real_append = FeatureStore.append
    calls = []

    def append(self, photo_id, features, ms=0.0):
        calls.append(photo_id)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, photo_id, features, ms)

    monkeypatch.setattr(FeatureStore, "append", append)
    with pytest.raises(CollectionError, match="disk is full.*Nothing stored was lost"):
        collection.add([photos[0].parent])
    monkeypatch.undo()
    # The two saved batches are kept, with their features; the rest is redone.
    assert _saved_ids(collection) <= FeatureStore(collection.folder).ids()
    assert len(_saved_ids(collection)) == 4
    report = collection.add([photos[0].parent])
    assert (report.unchanged, report.added) == (4, 2)
    assert FeatureStore(collection.folder).ids() == _live_ids(collection)
    assert len(_live_ids(collection)) == 6


def test_a_reader_follows_a_file_rewritten_by_another_writer(tmp_path, real_places):
    from PIL import Image

    features = []
    for name in SACRE:
        with Image.open(real_places / "sacre_coeur" / name) as image:
            features.append(extract_features(np.asarray(image), max_keypoints=300))
    writer = FeatureStore(tmp_path)
    for photo_id, f in enumerate(features, 1):
        writer.append(photo_id, f)
    writer.sync()
    reader = FeatureStore(tmp_path)
    assert reader.get(3).image_size == features[2].image_size  # offsets now cached
    FeatureStore(tmp_path).prune({3})  # 2 of 3 records dead: rewritten, photo 3 moves up
    assert reader.get(1) is None
    np.testing.assert_array_equal(reader.get(3).descriptors, features[2].descriptors)
