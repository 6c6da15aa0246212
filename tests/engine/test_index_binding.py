"""An index file is bound to its collection and generation (inside the checksummed header),
and its ids must be the catalogue's indexed rows: a copied, restored or edited file is refused
with a way out (`collection rebuild`) instead of answering with another collection's photos."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import numpy as np
import pytest

from sciceapp.engine.index import MAGIC, VectorIndex
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError


@pytest.fixture
def two(data_dir, toy_model, make_photos):
    library = Library(data_dir)
    a = library.create_collection("a", toy_model)
    b = library.create_collection("b", toy_model)
    a.add(make_photos(4, folder="pa"))
    b.add(make_photos(3, folder="pb", start=10))
    return library, a, b


def _only_index_file(collection):
    (path,) = collection.folder.glob("index-*.faiss")
    return path


def test_a_file_copied_from_another_collection_is_refused(two):
    library, a, b = two
    rows_before = [r.path for r in b.photos()]
    shutil.copyfile(_only_index_file(a), _only_index_file(b))
    b = library.open_collection("b")
    with pytest.raises(CollectionError, match="belongs to another collection.*rebuild"):
        b.search(np.ones((1, b.descriptor_dim), np.float32), 3)
    with pytest.raises(CollectionError, match="belongs to another collection"):
        b.update()
    assert [r.path for r in b.photos()] == rows_before


def test_a_file_of_an_older_generation_is_refused(two, make_photos):
    library, a, _ = two
    saved = _only_index_file(a).read_bytes()
    a.add(make_photos(2, folder="more", start=20))
    _only_index_file(a).write_bytes(saved)  # an old backup restored under the current name
    with pytest.raises(CollectionError, match="another collection or generation"):
        library.open_collection("a").index()


def test_kind_and_dim_are_inside_the_checksum(tmp_path):
    path = tmp_path / "i.faiss"
    VectorIndex(8, "flat").save(path, owner={"collection": "x", "gen": 1})
    data = path.read_bytes()
    edited = data.replace(b'"dim": 8', b'"dim": 9')
    assert edited != data and edited.startswith(MAGIC)
    path.write_bytes(edited)
    with pytest.raises(CollectionError, match="checksum"):
        VectorIndex.load(path)


def test_ids_must_be_the_catalogues_rows(two):
    library, a, _ = two
    with closing(sqlite3.connect(library.data_dir / "catalogue.sqlite")) as conn, conn:
        conn.execute("DELETE FROM photos WHERE id = (SELECT MIN(id) FROM photos)")
    with pytest.raises(CollectionError, match="does not match the catalogue.*rebuild"):
        library.open_collection("a").index()


def test_rebuild_re_embeds_from_the_catalogue_after_the_index_is_damaged(two, capsys):
    from sciceapp.cli import main

    library, a, _ = two
    paths = sorted(r.path for r in a.photos())
    path = _only_index_file(a)
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    assert main(["collection", "update", "a", "-q"]) == 2
    err = capsys.readouterr().err
    assert "checksum" in err and "`sciceapp collection rebuild a`" in err
    assert main(["collection", "rebuild", "a", "-q"]) == 0
    assert "updated 4" in capsys.readouterr().out
    rebuilt = library.open_collection("a")
    assert sorted(r.path for r in rebuilt.photos()) == paths
    assert set(rebuilt.index().ids().tolist()) == {r.id for r in rebuilt.photos()}
    assert main(["collection", "update", "a", "-q"]) == 0
    assert "unchanged 4" in capsys.readouterr().out
