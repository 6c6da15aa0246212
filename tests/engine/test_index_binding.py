"""A collection's files are bound to it: its descriptor store names the collection's uid, a
trained kind's index file must have the checksum the catalogue recorded when it saved it, and
what they hold must be the catalogue's indexed rows. A copied, restored or edited file is
refused with a way out (`collection rebuild`) instead of answering with another collection's
photos."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import numpy as np
import pytest

from sciceapp.engine.library import Library
from sciceapp.engine.store import STORE_DIR, VECTORS_FILE
from sciceapp.errors import CollectionError


@pytest.fixture
def two(data_dir, toy_model, make_photos):
    library = Library(data_dir)
    a = library.create_collection("a", toy_model)
    b = library.create_collection("b", toy_model)
    a.add(make_photos(4, folder="pa"))
    b.add(make_photos(3, folder="pb", start=10))
    return library, a, b


def test_a_store_copied_from_another_collection_is_refused(two):
    library, a, b = two
    rows_before = [r.path for r in b.photos()]
    shutil.rmtree(b.folder / STORE_DIR)
    shutil.copytree(a.folder / STORE_DIR, b.folder / STORE_DIR)
    b = library.open_collection("b")
    with pytest.raises(CollectionError, match="belongs to another collection.*rebuild b"):
        b.search(np.ones((1, b.descriptor_dim), np.float32), 3)
    with pytest.raises(CollectionError, match="belongs to another collection"):
        b.update()
    assert [r.path for r in b.photos()] == rows_before


def test_a_store_restored_from_an_older_save_is_refused(two, make_photos):
    library, a, _ = two
    saved = (a.folder / STORE_DIR / VECTORS_FILE).read_bytes()
    a.add(make_photos(2, folder="more", start=20))
    (a.folder / STORE_DIR / VECTORS_FILE).write_bytes(saved)  # an old backup restored
    with pytest.raises(CollectionError, match="truncated.*rebuild a"):
        library.open_collection("a").index()


def test_ids_must_be_the_catalogues_rows(two):
    library, a, _ = two
    with closing(sqlite3.connect(library.data_dir / "catalogue.sqlite")) as conn, conn:
        conn.execute("DELETE FROM photos WHERE id = (SELECT MIN(id) FROM photos)")
    with pytest.raises(CollectionError, match="do not match the catalogue.*rebuild a"):
        library.open_collection("a").index()


def test_rebuild_re_embeds_from_the_catalogue_after_the_store_is_damaged(two, capsys):
    from sciceapp.cli import main

    library, a, _ = two
    paths = sorted(r.path for r in a.photos())
    vectors = a.folder / STORE_DIR / VECTORS_FILE
    vectors.write_bytes(vectors.read_bytes()[:-10])  # truncated
    assert main(["collection", "update", "a", "-q"]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "`sciceapp collection rebuild a`" in err
    assert main(["collection", "rebuild", "a", "-q"]) == 0
    assert "updated 4" in capsys.readouterr().out
    rebuilt = library.open_collection("a")
    assert sorted(r.path for r in rebuilt.photos()) == paths
    assert set(rebuilt.index().ids().tolist()) == {r.id for r in rebuilt.photos()}
    assert main(["collection", "update", "a", "-q"]) == 0
    assert "unchanged 4" in capsys.readouterr().out
