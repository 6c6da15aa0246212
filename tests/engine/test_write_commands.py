"""The write lock covers a whole write command: nothing is recorded by a command the lock
refused, and a collection removed after another command opened it stays removed."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from test_library_resume import LOCK_HOLDER, _child, _wait_for

from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError, CollectionLockedError


def _roots(data_dir) -> list[str]:
    with closing(sqlite3.connect(data_dir / "catalogue.sqlite")) as conn:
        return [r[0] for r in conn.execute("SELECT path FROM roots")]


def test_an_add_refused_by_the_lock_records_nothing(data_dir, toy_model, make_photos):
    collection = Library(data_dir).create_collection("c", toy_model)
    folder = make_photos(3)[0].parent
    holder = _child(LOCK_HOLDER, str(data_dir))
    try:
        _wait_for(holder, "locked")
        with pytest.raises(CollectionLockedError):
            collection.add([folder])
    finally:
        holder.stdin.close()
        holder.wait()
    assert _roots(data_dir) == []
    report = collection.update()  # the user was told nothing was added: nothing is
    assert report.added == 0 and collection.summary().total == 0


@pytest.mark.parametrize("command", ["add", "update", "remove", "rebuild"])
def test_a_command_that_opened_a_collection_before_it_was_removed_stops_cleanly(
    data_dir, toy_model, make_photos, command
):
    library = Library(data_dir)
    folder = make_photos(2)[0].parent
    library.create_collection("c", toy_model).add([folder])
    opened = library.open_collection("c")  # this command started here ...
    Library(data_dir).remove_collection("c")  # ... and a remove ran before it took the lock
    run = {
        "add": lambda: opened.add([folder]),
        "update": opened.update,
        "remove": lambda: library.remove_collection("c"),
        "rebuild": opened.rebuild,
    }[command]
    with pytest.raises(CollectionError, match="removed|No collection named 'c'"):
        run()
    assert not opened.folder.exists()  # its folder is not brought back
    assert _roots(data_dir) == []
    assert library.list_collections() == []
