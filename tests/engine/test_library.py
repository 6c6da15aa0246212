"""Collections: incremental add/update, skips with reasons, model binding, full disk, cancel."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sciceapp.engine.collection import CollectionOptions
from sciceapp.engine.library import Library
from sciceapp.errors import CancelledError, CollectionError, ModelError
from sciceapp.progress import CancelToken


def assert_consistent(collection) -> None:
    """One row per path, the searchable ids are exactly the indexed rows, and the store's
    files hold exactly their committed segments (nothing a crash left behind counts)."""
    rows = collection.photos()
    assert len({r.path for r in rows}) == len(rows)
    indexed = {r.id for r in rows if r.state == "indexed"}
    opened = collection.index()
    assert set(opened.ids().tolist()) == indexed
    live = opened.store.live_ids().tolist()
    assert len(live) == len(set(live)) and set(live) == indexed
    opened.store.verify()


def store_file(collection, name: str = "vectors.bin") -> Path:
    return collection.folder / "store" / name


@pytest.fixture
def library(data_dir: Path) -> Library:
    return Library(data_dir)


@pytest.fixture
def collection(library, toy_model):
    return library.create_collection("test", toy_model, options=CollectionOptions(batch_size=3))


def test_add_indexes_photos_with_gps_and_finds_them(collection, make_photos):
    photos = make_photos(7)
    report = collection.add([photos[0].parent])
    assert (report.added, report.skipped, report.cancelled) == (7, [], False)
    summary = collection.summary()
    assert (summary.indexed, summary.without_gps, summary.skipped, summary.total) == (7, 0, 0, 7)
    assert summary.model_random_init and "demo, not accurate" in summary.model_label
    record = {r.path: r for r in collection.photos()}[str(photos[4])]
    assert record.lat == pytest.approx(43.464, abs=1e-6)
    assert record.lon == pytest.approx(11.884, abs=1e-6)
    assert_consistent(collection)
    info = collection.model_info
    from sciceapp.engine.images import load_for_model

    query = collection.embedder().embed(
        load_for_model(photos[4], info.image_size, info.mean, info.std)[None]
    )
    (hits,) = collection.search(query, k=3)
    assert hits[0][0].path == str(photos[4]) and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[1][1] < hits[0][1]


def test_second_add_embeds_nothing_unchanged(collection, make_photos, monkeypatch):
    folder = make_photos(4)[0].parent
    collection.add([folder])
    calls = []
    embedder = collection.embedder()
    real_embed = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda x: calls.append(len(x)) or real_embed(x))
    report = collection.add([folder])
    assert (report.added, report.unchanged, calls) == (0, 4, [])


def test_update_handles_new_changed_touched_and_deleted(collection, make_photos, exif_tools):
    photos = make_photos(5)
    collection.add([photos[0].parent])
    before = {r.path: r for r in collection.photos()}
    photos[0].unlink()  # deleted
    exif_tools.photo(photos[1], seed=100)  # changed content (and no GPS now)
    stat = photos[2].stat()
    os.utime(photos[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched
    make_photos(1, start=50)  # new
    report = collection.update()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 3)
    after = {r.path: r for r in collection.photos()}
    assert str(photos[0]) not in after
    assert after[str(photos[1])].id != before[str(photos[1])].id  # re-embedded under a new id
    assert after[str(photos[1])].lat is None and after[str(photos[1])].gps_reason
    assert after[str(photos[2])].id == before[str(photos[2])].id  # same bytes: kept
    assert collection.summary().without_gps == 1
    assert_consistent(collection)


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(
    collection, make_photos, exif_samples, tmp_path
):
    folder = make_photos(3)[0].parent
    real = (exif_samples / "gps" / "DSCN0010.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(real[: len(real) // 3])
    (folder / "notes.jpg").write_text("not a photo")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (folder / "readme.txt").write_text("not scanned: not an image extension")
    report = collection.add([folder])
    reasons = dict(report.skipped)
    assert report.added == 3 and len(reasons) == 4
    assert "empty" in reasons[str(folder / "empty.jpg")]
    assert "truncated" in reasons[str(folder / "truncated.jpg")]
    assert "not an image" in reasons[str(folder / "notes.jpg")]
    skipped = {r.path: r.skip_reason for r in collection.photos(state="skipped")}
    assert skipped == reasons
    assert collection.summary().skipped == 4
    # Unchanged broken files are not retried; a repaired one is.
    (folder / "truncated.jpg").write_bytes(real)
    again = collection.update()
    assert (again.updated, again.skipped) == (1, [])
    assert_consistent(collection)


def test_exif_samples_collection(collection, exif_samples):
    report = collection.add([exif_samples])
    summary = collection.summary()
    assert report.added == summary.indexed == 35
    # 9 Arezzo photos and the iPhone HEIC have positions; the rest match but cannot vote.
    assert summary.without_gps == 25
    heic = [r for r in collection.photos() if r.path.endswith("IMG_5195.HEIC")][0]
    assert heic.lat == pytest.approx(39.0513, abs=1e-3) and heic.lon == pytest.approx(
        -94.2888, abs=1e-3
    )
    invalid = [r for r in collection.photos() if "/invalid/" in r.path]
    assert len(invalid) == 7 and all(
        r.gps_reason == "no EXIF metadata in the file" for r in invalid
    )


def test_model_file_changed_is_refused(collection, make_photos, model_builder):
    collection.add(make_photos(2))
    model_builder(collection.model_path, model_builder.meta(**{"sciceapp.label": "Other"}))
    reopened = Library(collection.library.data_dir).open_collection("test")
    with pytest.raises(ModelError, match="not the one collection 'test' was built with"):
        reopened.add(make_photos(1, start=9))
    collection.model_path.unlink()
    with pytest.raises(ModelError, match="missing"):
        Library(collection.library.data_dir).open_collection("test").update()


def test_disk_full_while_saving_keeps_previous_state(collection, make_photos, monkeypatch):
    collection.add(make_photos(3))
    saved = {name: store_file(collection, name).read_bytes() for name in ("vectors.bin", "ids.bin")}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CollectionError, match="disk is full") as info:
        collection.add(make_photos(4, start=10))
    assert "Nothing stored was lost" in str(info.value)
    monkeypatch.undo()
    for name, data in saved.items():
        assert store_file(collection, name).read_bytes() == data  # the appended rows cut back
    assert collection.summary().indexed == 3
    assert_consistent(collection)
    assert collection.add([make_photos(1, start=10)[0].parent]).added == 4
    assert_consistent(collection)


def test_crash_inside_save_leaves_old_store_and_resumes(collection, make_photos, monkeypatch):
    import sqlite3

    from sciceapp.engine import catalogue

    collection.add(make_photos(3))
    old_bytes = store_file(collection).read_bytes()

    def crash(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(catalogue, "commit_saved", crash)
    with pytest.raises(CollectionError, match="Nothing stored was lost"):
        collection.add(make_photos(3, start=20))
    monkeypatch.undo()
    assert store_file(collection).read_bytes() == old_bytes
    assert collection.summary().indexed == 3
    assert_consistent(collection)
    assert collection.update().added == 3
    assert_consistent(collection)


def test_checkpoints_append_and_never_rewrite_earlier_segments(collection, make_photos):
    from sciceapp.engine.store import DescriptorStore

    collection = collection.with_options(checkpoint_s=0)  # a checkpoint after every batch of 3
    photos = make_photos(6)
    collection.add(photos[:3])
    before = {n: store_file(collection, n).read_bytes() for n in ("vectors.bin", "ids.bin")}
    inode = store_file(collection).stat().st_ino
    collection.add(photos[3:])
    photos[0].unlink()
    assert collection.update(prune_missing=True).removed == 1  # a file given to add, gone
    row_bytes = collection.descriptor_dim * 4
    vectors = store_file(collection).read_bytes()
    assert store_file(collection).stat().st_ino == inode  # the same file, appended to
    assert vectors[: len(before["vectors.bin"])] == before["vectors.bin"]
    assert len(vectors) == 6 * row_bytes
    assert store_file(collection, "ids.bin").read_bytes().startswith(before["ids.bin"])
    opened = collection.index()
    assert isinstance(opened.store, DescriptorStore)
    segments = [(s.rows, s.deleted) for s in opened.store.segments]
    assert segments == [(3, 0), (3, 0), (0, 1)]  # the update appended a deletion
    assert len(store_file(collection, "deleted.bin").read_bytes()) == 8
    assert opened.store.live_count == 5
    assert_consistent(collection)


def test_cancel_keeps_finished_batches(collection, make_photos):
    folder = make_photos(10)[0].parent
    token = CancelToken()

    def progress(done, total, message=""):
        if done >= 3:
            token.cancel()

    with pytest.raises(CancelledError) as info:
        collection.add([folder], progress=progress, cancel=token)
    report = info.value.report
    assert report.cancelled and report.added == 3
    # the way to finish names the collection (the command needs it)
    assert f"`sciceapp collection update {collection.name}`" in str(info.value)
    assert collection.summary().indexed == 3
    assert_consistent(collection)
    rest = collection.update()
    assert (rest.added, rest.unchanged) == (7, 3)
    assert_consistent(collection)


def test_collections_list_remove_and_names(library, toy_model, make_photos):
    a = library.create_collection("a", toy_model)
    a.add(make_photos(2))
    library.create_collection("b b", toy_model)
    assert [s.name for s in library.list_collections()] == ["a", "b b"]
    with pytest.raises(CollectionError, match="already exists"):
        library.create_collection("a", toy_model)
    with pytest.raises(CollectionError, match="Existing: a, b b"):
        library.open_collection("c")
    with pytest.raises(CollectionError, match="Invalid collection name"):
        library.create_collection("  ", toy_model)
    folder = a.folder
    library.remove_collection("a")
    assert not folder.exists()
    assert [s.name for s in library.list_collections()] == ["b b"]
    with pytest.raises(CollectionError, match="does not exist"):
        library.open_collection("b b").add(["/no/such/folder"])


def test_search_ignores_ids_the_catalogue_does_not_know(collection, make_photos):
    from contextlib import closing

    collection.add(make_photos(3))
    store = collection.index().store
    gone = int(store.ids[0])
    with closing(collection.library.connect()) as conn:  # e.g. a row another process removed
        conn.execute("DELETE FROM photos WHERE id = ?", (gone,))
    (hits,) = collection.search(store.vectors_of([gone]), k=3)
    assert all(record.id != gone for record, _ in hits) and len(hits) == 2


def test_tiny_scicevpr_end_to_end(library, tiny_onnx_model, exif_samples):
    collection = library.create_collection("arezzo", tiny_onnx_model)
    report = collection.add([exif_samples / "gps"])
    assert report.added == 9
    info = collection.model_info
    from sciceapp.engine.images import load_for_model

    target = sorted((exif_samples / "gps").glob("*.jpg"))[3]
    query = collection.embedder().embed(
        load_for_model(target, info.image_size, info.mean, info.std)[None]
    )
    (hits,) = collection.search(query, k=3)
    assert hits[0][0].path == str(target)
    assert_consistent(collection)


def test_ctrl_c_keeps_finished_batches(collection, make_photos):
    folder = make_photos(9)[0].parent

    def progress(done, total, message=""):
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(CancelledError, match="6 added"):
        collection.add([folder], progress=progress)
    assert collection.summary().indexed == 6
    assert_consistent(collection)
