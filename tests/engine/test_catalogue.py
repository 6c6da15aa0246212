"""The catalogue's schema: ordered migrations with a backup, and refusing what it cannot read."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sciceapp.engine import catalogue
from sciceapp.errors import CollectionError


def _add_old_collection(conn: sqlite3.Connection) -> None:
    """A collection row as schema 1 wrote them (the columns every later schema keeps)."""
    conn.execute(
        "INSERT INTO collections (name, model_path, model_sha256, model_label, "
        "model_random_init, descriptor_dim, index_kind, created) "
        "VALUES ('old', 'm.onnx', 'abc', 'M', 0, 8, 'flat', 'then')"
    )


def test_fresh_catalogue_is_at_the_latest_schema(data_dir: Path):
    with closing(catalogue.connect(data_dir)) as conn:
        assert catalogue.schema_version(conn) == catalogue.SCHEMA_VERSION
    assert not list(data_dir.glob("*.bak"))  # nothing to back up in a new file


def test_old_catalogue_is_backed_up_then_migrated(data_dir: Path):
    with closing(catalogue.connect(data_dir, target=1)) as conn:
        _add_old_collection(conn)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "photos_by_state" not in indexes
    with closing(catalogue.connect(data_dir)) as conn:
        assert catalogue.schema_version(conn) == catalogue.SCHEMA_VERSION
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "photos_by_state" in indexes
        assert conn.execute("SELECT name FROM collections").fetchone()[0] == "old"
    backup = data_dir / "catalogue.sqlite.v1.bak"
    with closing(sqlite3.connect(backup)) as old:
        assert old.execute("SELECT version FROM schema_version").fetchone()[0] == 1
        assert old.execute("SELECT name FROM collections").fetchone()[0] == "old"


def test_newer_catalogue_is_refused(data_dir: Path):
    with closing(catalogue.connect(data_dir)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(CollectionError, match="newer sciceapp"):
        catalogue.connect(data_dir)


def test_damaged_catalogue_says_what_to_do(data_dir: Path):
    (data_dir / catalogue.FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(CollectionError, match="is damaged.*restore"):
        catalogue.connect(data_dir)


def test_one_live_row_per_path(data_dir: Path):
    with closing(catalogue.connect(data_dir)) as conn:
        conn.execute(
            "INSERT INTO collections (id, name, model_path, model_sha256, model_label, "
            "model_random_init, descriptor_dim, index_kind, created) "
            "VALUES (1, 'c', 'm', 'x', 'M', 0, 8, 'flat', 'now')"
        )
        insert = (
            "INSERT INTO photos (collection_id, path, size, mtime_ns, state, gen) "
            "VALUES (1, 'a.jpg', 1, 1, 'indexed', 1)"
        )
        conn.execute(insert)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(insert)
        conn.execute("UPDATE photos SET deleted_gen = 2")  # a pending deletion frees the path
        conn.execute(insert)


def test_schema_3_records_the_index_in_use_for_existing_collections(data_dir: Path):
    with closing(catalogue.connect(data_dir, target=2)) as conn:
        _add_old_collection(conn)
    with closing(catalogue.connect(data_dir, target=3)) as conn:
        row = conn.execute(
            "SELECT index_kind_used, index_recall_at_10, index_params FROM collections"
        ).fetchone()
        assert tuple(row) == ("flat", None, None)
    with closing(catalogue.connect(data_dir)) as conn:
        catalogue.commit_saved(conn, 1, 4, catalogue.IndexState("pca", 0.9))
        row = conn.execute("SELECT saved_gen, index_kind_used, index_recall_at_10 FROM collections")
        assert tuple(row.fetchone()) == (4, "pca", 0.9)
    assert (data_dir / "catalogue.sqlite.v2.bak").is_file()


def test_a_migration_step_is_run_statement_by_statement_never_split_on_semicolons(
    data_dir: Path, monkeypatch
):
    from sciceapp.engine.catalogue import db as catalogue_db

    with closing(catalogue.connect(data_dir)) as conn:
        _add_old_collection(conn)
    # A statement holding ";" in a literal: splitting the script on ";" would break it.
    step = ("UPDATE collections SET model_label = 'before; after' WHERE name = 'old'",)
    steps = (*catalogue_db.MIGRATIONS, step)
    monkeypatch.setattr(catalogue_db, "MIGRATIONS", steps)
    monkeypatch.setattr(catalogue_db, "SCHEMA_VERSION", len(steps))
    with closing(catalogue.connect(data_dir, target=len(steps))) as conn:
        assert catalogue.schema_version(conn) == len(steps)
        label = conn.execute("SELECT model_label FROM collections").fetchone()[0]
    assert label == "before; after"
    assert all(isinstance(s, tuple) for s in catalogue.MIGRATIONS)  # statements, not scripts
