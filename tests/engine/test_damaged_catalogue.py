"""A damaged catalogue is found before anything writes to it, and every command says it is
damaged and how to restore it (no traceback, no "database disk image is malformed")."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from sciceapp.cli import main
from sciceapp.engine import catalogue
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError

PAGE = 4096


def _flip_photos_page(data_dir) -> None:
    """Break the b-tree page type of the photos table (what one flipped byte on disk does)."""
    path = data_dir / catalogue.FILE_NAME
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'photos'").fetchone()
    data = bytearray(path.read_bytes())
    data[(root[0] - 1) * PAGE] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged(data_dir, toy_model, make_photos):
    Library(data_dir).create_collection("c", toy_model).add(make_photos(3))
    _flip_photos_page(data_dir)
    return data_dir


@pytest.mark.parametrize(
    "argv",
    [
        ["collection", "list"],
        ["collection", "show", "c"],
        ["collection", "remove", "c"],
        ["collection", "update", "c", "-q"],
        ["collection", "add", "c", "NEW", "-q"],
    ],
)
def test_every_command_says_the_catalogue_is_damaged(damaged, make_photos, argv, capsys):
    new = make_photos(2, folder="new", start=50)[0].parent
    argv = [str(new) if a == "NEW" else a for a in argv]
    before = (damaged / catalogue.FILE_NAME).read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and "restore catalogue.sqlite" in err and ".recover" in err
    assert "malformed" in err  # what SQLite found, for whoever restores it
    assert (damaged / catalogue.FILE_NAME).read_bytes() == before  # nothing was written


def test_writes_stop_even_where_the_damaged_page_is_not_read(damaged, toy_model, make_photos):
    # Creating a collection never reads the photos table, yet must not write either.
    with pytest.raises(CollectionError, match="is damaged"):
        Library(damaged).create_collection("d", toy_model)


def test_a_damaged_file_is_neither_migrated_nor_backed_up(data_dir):
    with closing(catalogue.connect(data_dir, target=1)):
        pass
    _flip_photos_page(data_dir)
    with pytest.raises(CollectionError, match="is damaged"):
        catalogue.connect(data_dir)
    assert not list(data_dir.glob("*.bak"))


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE photos SET lat = 'abc'",
        "UPDATE photos SET lon = 500",
        "UPDATE photos SET size = 'big'",
        "UPDATE collections SET index_kind = 'hnsw'",
        "UPDATE collections SET index_params = '{'",
        "UPDATE collections SET descriptor_dim = -4",
        "DROP TABLE photos",
    ],
)
def test_hand_edited_values_are_reported_as_damage(data_dir, toy_model, make_photos, edit, capsys):
    photos = make_photos(3)
    Library(data_dir).create_collection("c", toy_model).add(photos)
    with closing(sqlite3.connect(data_dir / catalogue.FILE_NAME)) as conn, conn:
        conn.execute(edit)
    out = data_dir.parent / "map.html"
    for argv in (["collection", "show", "c"], ["collection", "list"]):
        code = main(argv)  # these may not read the edited value; they must not crash on it
        assert code == 0 or (code == 2 and "is damaged" in capsys.readouterr().err), argv
    for argv in (
        ["locate", "-c", "c", str(photos[0]), "-q"],
        ["map", "-c", "c", "--output", str(out), "--offline"],
        ["collection", "update", "c", "-q"],
    ):
        capsys.readouterr()
        assert main(argv) == 2, argv
        assert "is damaged" in capsys.readouterr().err, argv
