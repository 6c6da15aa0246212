"""The two-stage kind's default code, pq4 (4-bit fast-scan PQ, ``engine/index_fastscan.py``),
through the collection code and the CLI: conversion, removals and re-described photos (where
faiss' own removal corrupted the codes added after it), a kill during the conversion, and
shards in and out.

Small settings: a 16-d PCA in 2 lists needs 39 x 16 = 624 photos to train pq4's codebooks.
A shortlist of 4 (of 624 and more photos) makes the codes decide what the exact re-rank sees:
a photo whose code is wrong is not found by its own descriptor.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pyarrow.parquet as pq
import pytest
from photo_fixtures import write_photo
from test_library_index_kinds import assert_consistent, own_descriptors, recall_against_exact
from test_shards import _by_path, _same

from sciceapp.cli import main
from sciceapp.engine.index import IndexParams, min_training_vectors
from sciceapp.engine.index_faiss import structure_of
from sciceapp.engine.library import Library

SMALL_PQ4 = ["--pca-dim", "16", "--nlist", "2", "--shortlist", "4"]
SMALL_PQ4_MIN = 624
SMALL_PQ4_PARAMS = IndexParams(pca_dim=16, nlist=2, shortlist=4, code="pq4")


def create(data_dir: Path, toy_model: Path, name: str, *options: str) -> None:
    """``collection create NAME`` of the toy model, two-stage with the small settings, without
    local features (photos are then decoded as ``own_descriptors`` decodes them)."""
    command = ["--data-dir", str(data_dir), "collection", "create", name]
    command += ["--model", str(toy_model), "--local-features", "off", "--index-kind", "twostage"]
    assert main([*command, *SMALL_PQ4, *options]) == 0


def cli(data_dir: Path, *args: str) -> None:
    assert main(["--data-dir", str(data_dir), "collection", *args]) == 0


def assert_found_first(collection, photos: list[Path]) -> None:
    """Each photo's own descriptor finds it first, at cosine 1 (the exact re-rank's score)."""
    results = collection.search(own_descriptors(collection, photos), k=3)
    found = [hits[0][0].path for hits in results]
    missed = [str(p) for p, f in zip(photos, found, strict=True) if f != str(p)]
    assert not missed, f"{len(missed)} of {len(photos)} not found first: {missed[:5]}"
    assert [hits[0][1] for hits in results] == pytest.approx([1.0] * len(photos), abs=1e-4)


def assert_pq4(collection) -> None:
    """The collection searches with a two-stage index of fast-scan codes."""
    opened = collection.index()
    assert (opened.kind, opened.index.params.code) == ("twostage", "pq4")
    (saved,) = collection.folder.glob("index-*.faiss")
    assert structure_of(faiss.read_index(str(saved))) == "ivfpq4"


def test_small_settings_need_624_photos():
    assert min_training_vectors("twostage", 48, SMALL_PQ4_PARAMS) == SMALL_PQ4_MIN
    assert IndexParams().code == "pq4"  # the default these tests are about


@pytest.mark.slow
def test_cli_pq4_collection_converts_shows_its_codes_and_finds_each_photo_first(
    data_dir: Path, toy_model: Path, make_photos, capsys
):
    create(data_dir, toy_model, "city")  # the default code: pq4
    first = make_photos(SMALL_PQ4_MIN - 4)
    cli(data_dir, "add", "city", str(first[0].parent), "-q")
    capsys.readouterr()
    cli(data_dir, "show", "city", "--json")
    shown = json.loads(capsys.readouterr().out)
    assert (shown["index_kind"], shown["index_kind_used"]) == ("twostage", "flat")
    assert f"needs at least {SMALL_PQ4_MIN} indexed photos" in shown["index_flat_reason"]

    more = make_photos(4, folder="more", start=900)
    cli(data_dir, "add", "city", str(more[0].parent), "-q")
    assert "converting" not in capsys.readouterr().out  # -q: no progress messages
    cli(data_dir, "show", "city")
    text = capsys.readouterr().out
    assert (
        "Index:      twostage (a shortlist of 4 from 4-bit fast-scan PQ codes of a rotated 16-d "
        "PCA (4 bytes per photo) in 2 lists, all searched, re-ranked exactly" in text
    )
    cli(data_dir, "show", "city", "--json")
    shown = json.loads(capsys.readouterr().out)
    assert shown["index_kind_used"] == "twostage" and shown["indexed"] == SMALL_PQ4_MIN

    reopened = Library(data_dir).open_collection("city")
    assert_pq4(reopened)
    assert_consistent(reopened)
    # The recall shown is what this very index scores against exact search.
    recall = recall_against_exact(reopened, first + more)
    assert shown["index_recall_at_10"] == pytest.approx(recall, abs=1e-6)
    assert 0.0 < recall < 1.0  # a shortlist of 4 for a top-10 cannot hold all of it
    assert f"recall@10 against exact search {recall:.3f}, measured on this collection" in text
    assert_found_first(reopened, first + more)
    # One query alone: its lists are searched in parts over the cores (search_in_parts).
    for photo in first[::20] + more[-1:]:
        assert_found_first(reopened, [photo])
    capsys.readouterr()
    queries = [str(first[100]), str(more[0])]
    cli_args = ["--data-dir", str(data_dir), "locate", *queries, "-c", "city"]
    assert main([*cli_args, "--json", "--top-k", "3", "--include-self", "-q"]) == 0
    located = json.loads(capsys.readouterr().out)
    assert [r["matches"][0]["path"] for r in located] == queries


def test_removed_changed_and_added_photos_after_a_pq4_conversion(
    data_dir: Path, toy_model: Path, make_photos, capsys
):
    """The path where faiss' own removal from fast-scan lists left the removed codes' bits in
    the last block, corrupting the codes of photos added later (``index_fastscan.py``)."""
    create(data_dir, toy_model, "c", "--code", "pq4")
    photos = make_photos(SMALL_PQ4_MIN)
    cli(data_dir, "add", "c", str(photos[0].parent), "-q")
    collection = Library(data_dir).open_collection("c")
    assert_pq4(collection)
    before = {r.path: r for r in collection.photos()}
    gone = photos[1::7]  # 89 photos, spread over both lists
    changed = [p for p in photos[3::50] if p not in gone]
    gone_vectors = own_descriptors(collection, gone)
    old_vectors = own_descriptors(collection, changed)
    old_ids = {before[str(p)].id for p in gone + changed}

    for path in gone:
        path.unlink()
    for i, path in enumerate(changed):
        write_photo(path, seed=5000 + i)  # another picture under the same name
    capsys.readouterr()
    cli(data_dir, "update", "c", "-q")
    counts = f"added 0, updated {len(changed)}, removed {len(gone)}"
    assert counts in capsys.readouterr().out
    added = make_photos(100, folder="later", start=1000)
    cli(data_dir, "add", "c", str(added[0].parent), "-q")

    reopened = Library(data_dir).open_collection("c")
    assert_pq4(reopened)
    assert_consistent(reopened)
    rows = {r.path: r for r in reopened.photos()}
    kept = [p for p in photos if p not in gone]
    assert sorted(rows) == sorted(str(p) for p in kept + added)
    for path in changed:  # re-described: its new row replaced the old one
        assert rows[str(path)].sha256 != before[str(path)].sha256
    index_ids = set(reopened.index().ids().tolist())
    assert not index_ids & old_ids
    # Neither a removed photo nor a changed photo's old descriptor is ever returned, even
    # when searched for with its own old descriptor.
    queries = np.concatenate([gone_vectors, old_vectors])
    for hits in reopened.search(queries, k=20):
        assert len(hits) == 20
        assert not {h[0].id for h in hits} & old_ids
        assert not {h[0].path for h in hits} & {str(p) for p in gone}
    scores, ids = reopened.index().search(queries, 20)
    assert not set(ids.ravel().tolist()) & old_ids
    # The photos added after the removal, the re-described ones and the others are all found.
    assert_found_first(reopened, added + changed)
    assert_found_first(reopened, kept)


# The child indexes batches of 64 photos, saving after each, and stops (blocked on stdin,
# waiting to be killed) in the pq4 conversion of the save that reaches 624 photos: while faiss
# trains the fast-scan index ("training"), or once the converted index's file is written and
# only the catalogue's commit of it is left ("commit").
KILLED_IN_PQ4_CONVERSION = r"""
import sys
from sciceapp.engine import catalogue, index
from sciceapp.engine.collection import CollectionOptions
from sciceapp.engine.library import Library
data, folder, point = sys.argv[1:4]
options = CollectionOptions(batch_size=64, checkpoint_s=0)
collection = Library(data).open_collection("k", options)
real_train, real_commit = index.train_ivf, catalogue.commit_saved

def stall(what):
    print(what, flush=True)
    sys.stdin.readline()

def train(ivf, reduced, cancel):
    if point == "training":
        stall(f"training {type(ivf).__name__} on {len(reduced)}")
    real_train(ivf, reduced, cancel)

def commit(conn, collection_id, gen, state=None, *args, **kwargs):
    if point == "commit" and state is not None and state.kind_used == "twostage":
        stall(f"committing {state.kind_used}")
    real_commit(conn, collection_id, gen, state, *args, **kwargs)

index.train_ivf = train
catalogue.commit_saved = commit
collection.add([folder])
print("finished", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "said"),
    [("training", "training IndexIVFPQFastScan on 640"), ("commit", "committing twostage")],
)
def test_kill_during_a_pq4_conversion_loses_nothing_and_the_next_add_converts(
    data_dir: Path, toy_model: Path, make_photos, point: str, said: str
):
    create(data_dir, toy_model, "k", "--code", "pq4")
    photos = make_photos(SMALL_PQ4_MIN + 16)  # 10 batches of 64: the tenth save converts
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_IN_PQ4_CONVERSION,
            str(data_dir),
            str(photos[0].parent),
            point,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line == f"{said}\n", line
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL

    reopened = Library(data_dir).open_collection("k")
    written = list(reopened.folder.glob("index-*.faiss"))  # by the killed run, not committed
    assert len(written) == (1 if point == "commit" else 0)
    summary = reopened.summary()
    assert (summary.index_kind_used, summary.indexed) == ("flat", 576)  # the last exact save
    assert reopened.index().kind == "flat" and reopened.index().ntotal == 576
    assert_consistent(reopened)
    report = reopened.add([photos[0].parent])
    assert (report.added, report.unchanged) == (64, 576)
    assert sorted(r.path for r in reopened.photos()) == sorted(str(p) for p in photos)
    summary = reopened.summary()
    assert summary.index_kind_used == "twostage" and summary.index_recall_at_10 is not None
    assert_pq4(reopened)  # one index file: what the killed run wrote was cleared
    assert_consistent(reopened)
    reopened.index().store.verify()
    assert_found_first(reopened, photos)


@pytest.mark.slow
def test_shards_imported_into_a_pq4_collection_and_exported_back_keep_every_photo(
    data_dir: Path, toy_model: Path, make_photos, tmp_path: Path, capsys
):
    photos = make_photos(SMALL_PQ4_MIN + 6)
    library = Library(data_dir)
    source = library.create_collection("src", toy_model, local_features=False)  # exact
    source.add([photos[0].parent])
    out, back = tmp_path / "out", tmp_path / "back"
    cli(data_dir, "export-shards", "src", str(out), "--rows-per-shard", "200", "-q")
    create(data_dir, toy_model, "city", "--code", "pq4")
    capsys.readouterr()
    cli(data_dir, "import", "city", str(out), "-q")
    assert "added 630, updated 0, removed 0, unchanged 0, skipped 0" in capsys.readouterr().out
    city = library.open_collection("city")
    assert_pq4(city)  # the import reached 624 photos and converted
    assert_consistent(city)
    _same(_by_path(source), _by_path(city))
    assert_found_first(city, photos)
    cli(data_dir, "import", "city", str(out), "-q")  # again: nothing changes
    assert "added 0, updated 0, removed 0, unchanged 630" in capsys.readouterr().out

    # A shard that describes some photos anew replaces them in the fast-scan lists.
    table = pq.read_table(sorted(out.glob("*.parquet"))[0])
    rows = table.to_pylist()[:40:4]
    rng = np.random.default_rng(7)
    for row in rows:
        vector = rng.standard_normal(city.descriptor_dim).astype(np.float32)
        row["sha256"], row["descriptor"] = "1" * 64, list(vector / np.linalg.norm(vector))
    changed = tmp_path / "changed" / "shard.parquet"
    changed.parent.mkdir()
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), changed)
    old_ids = {r.id for r in city.photos() if r.path in {row["path"] for row in rows}}
    report = city.import_shards([changed])
    assert (report.added, report.updated) == (0, len(rows))
    assert_consistent(city)
    new_vectors = np.array([row["descriptor"] for row in rows], np.float32)
    for row, hits in zip(rows, city.search(new_vectors, k=3), strict=True):
        assert hits[0][0].path == row["path"] and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert not set(city.index().ids().tolist()) & old_ids

    cli(data_dir, "export-shards", "city", str(back), "-q")
    create(data_dir, toy_model, "copy", "--code", "pq4")
    cli(data_dir, "import", "copy", str(back), "-q")
    copy = library.open_collection("copy")
    assert_pq4(copy)
    assert_consistent(copy)
    _same(_by_path(city), _by_path(copy))
    unchanged = [p for p in photos if str(p) not in {row["path"] for row in rows}]
    assert_found_first(copy, unchanged)
    for row, hits in zip(rows, copy.search(new_vectors, k=3), strict=True):
        assert hits[0][0].path == row["path"]


def odd_model(path: Path) -> Path:
    """A pooling model of 27 values (3 x 3 x 3): a size pq4's codes of 2 values cannot divide."""
    from onnx import helper
    from toy_models import save_model, toy_metadata

    nodes = [
        helper.make_node(
            "AveragePool", ["images"], ["pooled"], kernel_shape=[10, 10], strides=[10, 10]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("LpNormalization", ["flat"], ["descriptors"], axis=1, p=2),
    ]
    meta = toy_metadata(**{"sciceapp.descriptor_dim": "27", "sciceapp.image_size": "30"})
    meta["sciceapp.config"] = json.dumps({"grid": 3})
    return save_model(path, nodes, 30, 27, meta)


def test_a_model_pq4_cannot_divide_stays_exact_under_auto_and_twostage_is_refused(
    data_dir: Path, tmp_path: Path, make_photos, capsys, monkeypatch
):
    from sciceapp.engine import conversion

    model = odd_model(tmp_path / "odd.onnx")
    monkeypatch.setattr(conversion, "AUTO_TWOSTAGE_FROM", 4)  # these photos would cross it
    dd = ["--data-dir", str(data_dir)]
    create = [*dd, "collection", "create", "odd", "--model", str(model), "--local-features", "off"]
    assert main([*create, "--index-kind", "twostage"]) != 0
    assert "pq4 code needs a reduced size divisible by 2, got 27" in capsys.readouterr().err
    assert main(create) == 0  # auto
    photos = make_photos(6)
    cli(data_dir, "add", "odd", str(photos[0].parent), "-q")
    capsys.readouterr()
    cli(data_dir, "show", "odd", "--json")
    shown = json.loads(capsys.readouterr().out)
    assert (shown["index_kind"], shown["index_kind_used"], shown["indexed"]) == ("auto", "flat", 6)
    reason = shown["index_flat_reason"]
    assert "cannot be built for this model's 27-value descriptors" in reason
    assert "pq4 code needs a reduced size divisible by 2" in reason
    collection = Library(data_dir).open_collection("odd")
    assert collection.index().kind == "flat" and not list(collection.folder.glob("index-*"))
    assert_found_first(collection, photos)


@pytest.mark.slow
def test_a_damaged_pq4_index_file_is_refused_and_rebuild_converts_again(
    data_dir: Path, toy_model: Path, make_photos, capsys
):
    from sciceapp.errors import CollectionError

    create(data_dir, toy_model, "c", "--code", "pq4")
    photos = make_photos(SMALL_PQ4_MIN + 6)
    cli(data_dir, "add", "c", str(photos[0].parent), "-q")
    library = Library(data_dir)
    (saved,) = library.open_collection("c").folder.glob("index-*.faiss")
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])  # cut short
    with pytest.raises(CollectionError, match="rebuild c"):
        library.open_collection("c").index()
    capsys.readouterr()
    cli(data_dir, "rebuild", "c", "-q")
    assert f"updated {len(photos)}" in capsys.readouterr().out  # every photo embedded again
    rebuilt = library.open_collection("c")
    assert_pq4(rebuilt)  # trained anew: one complete file
    assert_consistent(rebuilt)
    assert rebuilt.summary().index_recall_at_10 is not None
    assert_found_first(rebuilt, photos)


def test_auto_converts_to_pq4_codes_at_the_crossover(
    data_dir: Path, toy_model: Path, make_photos, capsys, monkeypatch
):
    from sciceapp.engine import conversion

    crossover = SMALL_PQ4_MIN + 6  # the measured 10 000, set just above what pq4 can train on
    monkeypatch.setattr(conversion, "AUTO_TWOSTAGE_FROM", crossover)
    command = ["--data-dir", str(data_dir), "collection", "create", "town"]
    command += ["--model", str(toy_model), "--local-features", "off"]
    assert main([*command, *SMALL_PQ4]) == 0  # auto, the default code
    first = make_photos(SMALL_PQ4_MIN + 2)  # enough to train pq4, below the crossover
    cli(data_dir, "add", "town", str(first[0].parent), "-q")
    assert Library(data_dir).open_collection("town").summary().index_kind_used == "flat"
    more = make_photos(4, folder="more", start=900)
    cli(data_dir, "add", "town", str(more[0].parent), "-q")
    capsys.readouterr()
    cli(data_dir, "show", "town")
    shown = capsys.readouterr().out
    assert "Index:      twostage (a shortlist of 4 from 4-bit fast-scan PQ codes" in shown
    assert f"chosen automatically: from {crossover} photos the two-stage kind is faster" in shown
    town = Library(data_dir).open_collection("town")
    assert town.summary().index_kind == "auto"
    assert_pq4(town)
    assert_consistent(town)
    assert_found_first(town, first + more)
