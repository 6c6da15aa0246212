"""Collections asking for a compressed index (pca, ivfpq): exact until they can train, then
converted inside the usual save scheme, with their recall against exact search recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sciceapp.cli import main
from sciceapp.engine import conversion
from sciceapp.engine.images import load_for_model
from sciceapp.engine.index import IndexParams, VectorIndex, min_training_vectors, recall_at_k
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError

# 156 photos train this: max(39 * nlist, 39 * 2**pq_bits, pca_dim) = 39 * 4.
SMALL_IVFPQ = ["--pca-dim", "16", "--nlist", "2", "--pq-m", "16", "--pq-bits", "2"]
SMALL_IVFPQ_MIN = 156


def assert_consistent(collection) -> None:
    rows = collection.photos()
    assert len({r.path for r in rows}) == len(rows)
    indexed = {r.id for r in rows if r.state == "indexed"}
    assert set(collection.index().ids().tolist()) == indexed


def own_descriptors(collection, photos: list[Path]) -> np.ndarray:
    info = collection.model_info
    batch = np.stack([load_for_model(p, info.image_size, info.mean, info.std) for p in photos])
    return collection.embedder().embed(batch)


def recall_against_exact(collection, photos: list[Path]) -> float:
    """recall@10 of ``collection``'s index against exact search with ``photos``' own
    descriptors as queries, each photo left out of its own results (both find it first):
    what a conversion measures and stores, when ``photos`` are all the collection has."""
    records = {r.path: r.id for r in collection.photos()}
    every = own_descriptors(collection, photos)
    ids = np.array([records[str(p)] for p in photos])
    exact = VectorIndex(every.shape[1])
    exact.add(ids, every)

    def top10_of_others(index):
        rows = index.search(every, 11)[1]
        return np.array(
            [[i for i in row if i != own][:10] for row, own in zip(rows, ids, strict=True)]
        )

    return recall_at_k(top10_of_others(collection.index()), top10_of_others(exact))


def test_default_thresholds_are_the_training_rule():
    # The base model's descriptor: PCA to 1024 needs 1024 photos; ivfpq's 256 lists need 9984.
    assert min_training_vectors("pca", 10752) == 1024
    assert min_training_vectors("ivfpq", 10752) == 39 * 256
    params = IndexParams()
    assert conversion.flat_reason("ivfpq", 10752, params, 9983) is not None
    assert conversion.flat_reason("ivfpq", 10752, params, 9984) is None
    assert conversion.flat_reason("flat", 10752, params, 0) is None


def test_cli_ivfpq_collection_converts_searches_and_reports_recall(
    data_dir: Path, toy_model: Path, make_photos, capsys
):
    dd = ["--data-dir", str(data_dir)]
    # Without local features photos are decoded as load_for_model does (own_descriptors).
    create = [*dd, "collection", "create", "big", "--model", str(toy_model)]
    create += ["--local-features", "off"]
    assert main([*create, "--index-kind", "ivfpq", *SMALL_IVFPQ]) == 0
    assert f"needs at least {SMALL_IVFPQ_MIN} indexed photos" in capsys.readouterr().out

    first = make_photos(SMALL_IVFPQ_MIN - 6)
    assert main([*dd, "collection", "add", "big", str(first[0].parent), "-q"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "big", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["index_kind"], shown["index_kind_used"]) == ("ivfpq", "flat")
    assert f"has {SMALL_IVFPQ_MIN - 6}" in shown["index_flat_reason"]
    assert shown["index_recall_at_10"] is None

    more = make_photos(10, folder="more", start=500)
    assert main([*dd, "collection", "add", "big", str(more[0].parent), "-q"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "big", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["indexed"] == SMALL_IVFPQ_MIN + 4
    assert shown["index_kind_used"] == "ivfpq" and shown["index_flat_reason"] is None
    assert 0.0 <= shown["index_recall_at_10"] <= 1.0
    assert main([*dd, "collection", "show", "big"]) == 0
    assert "recall@10 against exact search" in capsys.readouterr().out

    reopened = Library(data_dir).open_collection("big")
    assert reopened.index().kind == "ivfpq"
    assert_consistent(reopened)
    # The stored recall is what this index scores against exact search on every photo, each
    # photo left out of its own results (it would be found first by both).
    recall = recall_against_exact(reopened, first + more)
    assert shown["index_recall_at_10"] == pytest.approx(recall, abs=1e-6)
    queries = [first[3], first[77], more[5]]
    results = reopened.search(own_descriptors(reopened, queries), k=10)
    for query, hits in zip(queries, results, strict=True):
        assert len(hits) == 10 and len({h[0].id for h in hits}) == 10
        assert str(query) in [h[0].path for h in hits]  # found among its nearest
    # Photos added after the conversion go into the compressed index directly.
    report = reopened.add([make_photos(3, folder="late", start=900)[0].parent])
    assert report.added == 3 and reopened.index().kind == "ivfpq"
    assert_consistent(reopened)
    assert reopened.summary().indexed == SMALL_IVFPQ_MIN + 7


def test_pca_with_default_settings_converts_at_its_real_threshold(
    data_dir: Path, toy_model: Path, make_photos
):
    library = Library(data_dir)
    collection = library.create_collection("p", toy_model, index_kind="pca")
    needed = min_training_vectors("pca", collection.descriptor_dim)  # 48: the toy model's size
    photos = make_photos(needed)
    messages: list[str] = []
    collection.add(photos[:-1], progress=lambda done, total, message="": messages.append(message))
    assert not any("converting" in m for m in messages)
    summary = collection.summary()
    assert summary.index_kind_used == "flat" and collection.index().kind == "flat"
    assert f"needs at least {needed} indexed photos" in summary.index_flat_reason

    collection.add(photos[-1:], progress=lambda done, total, message="": messages.append(message))
    assert any(
        m.startswith("converting the index to pca (48 photos, may take minutes") for m in messages
    )
    summary = Library(data_dir).open_collection("p").summary()
    assert (summary.index_kind_used, summary.indexed) == ("pca", needed)
    # PCA to the full size only rotates: distances and so rankings are exact's.
    assert summary.index_recall_at_10 == pytest.approx(1.0, abs=0.02)
    (hits,) = collection.search(own_descriptors(collection, [photos[10]]), k=3)
    assert hits[0][0].path == str(photos[10]) and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert_consistent(collection)


def test_settings_that_cannot_be_built_are_refused_and_big_defaults_wait(
    data_dir: Path, toy_model: Path, make_photos
):
    library = Library(data_dir)
    with pytest.raises(CollectionError, match="pq_m=128 must divide"):
        library.create_collection("x", toy_model, index_kind="ivfpq")
    with pytest.raises(CollectionError, match="not available"):
        library.create_collection("x", toy_model, index_kind="hnsw")
    collection = library.create_collection("y", toy_model, "ivfpq", IndexParams(pq_m=16))
    collection.add(make_photos(4))
    assert "needs at least 9984 indexed photos" in collection.summary().index_flat_reason


def test_failed_conversion_keeps_exact_search_and_every_photo(
    data_dir: Path, toy_model: Path, make_photos, monkeypatch
):
    collection = Library(data_dir).create_collection("f", toy_model, "pca", IndexParams(8))
    photos = make_photos(12)

    def broken(*args, **kwargs):
        raise MemoryError("no memory for training")

    monkeypatch.setattr(conversion.VectorIndex, "train", broken)
    report = collection.add(photos)
    assert report.added == 12
    summary = collection.summary()
    assert (summary.index_kind_used, summary.indexed) == ("flat", 12)
    assert "no memory for training" in summary.index_flat_reason
    assert_consistent(collection)

    monkeypatch.undo()
    report = collection.update()  # nothing changed on disk, but the conversion is retried
    assert (report.added, report.unchanged) == (0, 12)
    summary = collection.summary()
    assert (summary.index_kind_used, summary.indexed) == ("pca", 12)
    assert_consistent(collection)


# The child indexes 2-photo batches, saving after each, and blocks inside the conversion's
# training until it is killed.
KILLED_IN_TRAINING = r"""
import sys
from sciceapp.engine import index
from sciceapp.engine.library import Library
from sciceapp.engine.collection import CollectionOptions
options = CollectionOptions(batch_size=2, checkpoint_s=0)
collection = Library(sys.argv[1]).open_collection("k", options)

def stall(self, vectors, cancel=None):
    print("training", len(vectors), flush=True)
    sys.stdin.readline()

index.VectorIndex.train = stall
collection.add([sys.argv[2]])
print("finished", flush=True)
"""


def test_kill_during_conversion_leaves_the_last_exact_save(
    data_dir: Path, toy_model: Path, make_photos
):
    Library(data_dir).create_collection("k", toy_model, "pca", IndexParams(8))
    photos = make_photos(12)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_TRAINING, str(data_dir), str(photos[0].parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line == "training 8\n", line  # the save that reached 8 photos converts
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    reopened = Library(data_dir).open_collection("k")
    summary = reopened.summary()
    assert summary.index_kind_used == "flat"
    assert reopened.index().kind == "flat" and reopened.index().ntotal == 6  # last save
    report = reopened.update()
    assert report.added + report.unchanged == 12
    rows = reopened.photos()
    assert sorted(r.path for r in rows) == sorted(str(p) for p in photos)
    assert reopened.summary().index_kind_used == "pca"
    assert_consistent(reopened)
    assert len(list(reopened.folder.glob("index-*"))) == 1


def test_a_save_clears_temp_files_that_crashed_saves_left(
    data_dir: Path, toy_model: Path, make_photos
):
    collection = Library(data_dir).create_collection("t", toy_model)
    collection.add(make_photos(2))
    leftovers = [".index-7.faiss.x1.tmp", "index-7.faiss.x2.tmp"]  # this and older versions
    for name in leftovers:
        (collection.folder / name).write_bytes(b"partial")
    (collection.folder / "notes.tmp").write_bytes(b"not ours")
    collection.add(make_photos(1, start=30))
    names = sorted(p.name for p in collection.folder.iterdir() if "lock" not in p.name)
    assert names == ["notes.tmp", "store"]  # a flat collection has no index file


@pytest.mark.parametrize("code", ["sq8", pytest.param("pq4", marks=pytest.mark.slow)])
def test_cancel_while_faiss_trains_keeps_exact_search_and_every_photo(
    data_dir: Path, toy_model: Path, make_photos, monkeypatch, code: str
):
    import dataclasses

    from sciceapp.engine import index_faiss
    from sciceapp.errors import CancelledError
    from sciceapp.progress import CancelToken

    params = IndexParams(pca_dim=8, nlist=2, pq_m=4, pq_bits=1, code=code)
    needed = min_training_vectors("twostage", 48, params)  # sq8: 78; pq4: 624 (16 x 39)
    # A shortlist as long as the collection: the exact re-rank must then give exact's answers.
    params = dataclasses.replace(params, shortlist=needed)
    collection = Library(data_dir).create_collection("t", toy_model, "twostage", params)
    photos = make_photos(needed)
    token = CancelToken()
    real_kmeans = index_faiss.kmeans
    calls = []

    def user_cancels_during_kmeans(*args, **kwargs):
        calls.append(1)
        token.cancel()  # the user presses Cancel while faiss clusters
        return real_kmeans(*args, **kwargs)

    monkeypatch.setattr(index_faiss, "kmeans", user_cancels_during_kmeans)
    with pytest.raises(CancelledError) as info:
        collection.add(photos, cancel=token)
    assert calls == [1]  # stopped inside the first k-means, not after training
    assert info.value.report.added == needed
    summary = collection.summary()
    assert (summary.index_kind_used, summary.indexed) == ("flat", needed)
    assert_consistent(collection)
    monkeypatch.undo()
    assert collection.update().unchanged == needed  # converts now, nothing re-embedded
    summary = collection.summary()
    assert summary.index_kind_used == "twostage"
    assert collection.index().index.params.code == code  # what the saved file holds
    assert summary.index_recall_at_10 == pytest.approx(1.0)
    (hits,) = collection.search(own_descriptors(collection, [photos[7]]), k=3)
    assert hits[0][0].path == str(photos[7]) and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert_consistent(collection)


def test_auto_is_exact_below_the_crossover_then_two_stage_and_show_says_why(
    data_dir: Path, toy_model: Path, make_photos, capsys, monkeypatch
):
    # The crossover is a measured size (defaults.AUTO_TWOSTAGE_FROM, 10 000); here it is set
    # just above what the small two-stage settings need to train, so 160 photos cross it.
    monkeypatch.setattr(conversion, "AUTO_TWOSTAGE_FROM", SMALL_IVFPQ_MIN + 4)
    dd = ["--data-dir", str(data_dir)]
    create = [*dd, "collection", "create", "city", "--model", str(toy_model)]
    small = [*SMALL_IVFPQ, "--shortlist", "8", "--code", "sq8"]  # pq4 trains on 624 at least
    assert main([*create, "--local-features", "off", *small]) == 0
    assert "chosen automatically: below 160 photos exact search is faster" in (
        capsys.readouterr().out
    )
    first = make_photos(SMALL_IVFPQ_MIN)  # enough to train, below the crossover
    assert main([*dd, "collection", "add", "city", str(first[0].parent), "-q"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "city"]) == 0
    shown = capsys.readouterr().out
    assert "auto requested, flat (exact" in shown and "this collection has 156" in shown

    more = make_photos(4, folder="more", start=500)
    assert main([*dd, "collection", "add", "city", str(more[0].parent), "-q"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "city"]) == 0
    shown = capsys.readouterr().out
    assert "Index:      twostage (a shortlist of 8 from 8-bit codes of a 16-d PCA" in shown
    assert "re-ranked exactly with the stored descriptors" in shown
    assert "chosen automatically: from 160 photos the two-stage kind is faster" in shown
    summary = Library(data_dir).open_collection("city").summary()
    assert (summary.index_kind, summary.index_kind_used) == ("auto", "twostage")
    assert summary.index_recall_at_10 is not None and summary.index_flat_reason is None
    # Re-ranked exactly: a stored photo's own descriptor finds it first, at cosine 1.
    collection = Library(data_dir).open_collection("city")
    (hits,) = collection.search(own_descriptors(collection, more[:1]), 3)
    assert hits[0][0].path == str(more[0]) and hits[0][1] == pytest.approx(1.0, abs=1e-4)


def test_show_describes_the_code_the_saved_file_holds_not_the_default(
    data_dir: Path, toy_model: Path, make_photos
):
    # A two-stage collection built before sq8 codes existed: PQ codes in its file, settings
    # stored without a code.
    import sqlite3
    from contextlib import closing

    from sciceapp.engine import catalogue

    library = Library(data_dir)
    params = IndexParams(pca_dim=16, nlist=2, pq_m=16, pq_bits=2, shortlist=8, code="pq")
    collection = library.create_collection(
        "old", toy_model, index_kind="twostage", index_params=params, local_features=False
    )
    collection.add(make_photos(SMALL_IVFPQ_MIN))
    assert "16-byte PQ codes" in library.open_collection("old").summary().index_settings
    stored = dict(vars(params))
    del stored["code"]
    with closing(sqlite3.connect(data_dir / catalogue.FILE_NAME)) as conn, conn:
        conn.execute("UPDATE collections SET index_params = ?", (json.dumps(stored),))
    reopened = library.open_collection("old")
    assert reopened.index_params.code == "pq"
    summary = reopened.summary()
    assert summary.index_kind_used == "twostage"
    assert summary.index_settings == (
        "a shortlist of 8 from 16-byte PQ codes of a rotated 16-d PCA in 2 lists, all searched"
    )
