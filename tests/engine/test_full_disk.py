"""A full disk while writing the catalogue or importing a model: a message, nothing lost, and
no traceback in the log."""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3

import pytest

from sciceapp.cli import main
from sciceapp.engine import catalogue
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError

real_connect = catalogue.connect


def _full_catalogue(data_dir, target=catalogue.SCHEMA_VERSION):
    """A connection whose file cannot grow by a single page: SQLite's own "disk is full"."""
    conn = real_connect(data_dir, target)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    return conn


def test_a_full_catalogue_disk_says_so_and_keeps_what_was_saved(
    data_dir, toy_model, make_photos, monkeypatch, caplog
):
    collection = Library(data_dir).create_collection("c", toy_model)
    collection.add(make_photos(3))
    monkeypatch.setattr(catalogue, "connect", _full_catalogue)
    real_rollback, calls = catalogue.rollback_unsaved, []

    def rollback(conn, collection_id):  # the first call starts the run; later ones fail
        calls.append(collection_id)
        if len(calls) > 1:
            full = sqlite3.OperationalError("database or disk is full")
            full.sqlite_errorcode = catalogue.SQLITE_FULL
            raise catalogue.explain(full, data_dir)
        return real_rollback(conn, collection_id)

    monkeypatch.setattr(catalogue, "rollback_unsaved", rollback)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CollectionError, match="is full.*Nothing stored was lost"):
        collection.add(make_photos(40, folder="many", start=10))
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    monkeypatch.undo()
    assert collection.summary().indexed == 3
    assert collection.update().added == 40


def test_model_import_onto_a_full_disk_says_so(toy_model, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", full)
    assert main(["model", "import", str(toy_model)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free some space" in err
