"""The ``collections`` and ``roots`` tables: a collection's settings (name, model file and
fingerprint, index kind) and the files and folders added to it."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from sciceapp.engine.catalogue.db import now_iso, transaction


@dataclass(frozen=True)
class NewCollection:
    name: str
    model_path: str
    model_sha256: str
    model_label: str
    model_random_init: bool
    descriptor_dim: int
    index_kind: str
    index_params: str | None  # JSON of ``IndexParams``, None for flat
    store_dtype: str
    local_features: bool


def insert_collection(conn: sqlite3.Connection, new: NewCollection) -> None:
    """``sqlite3.IntegrityError`` when the name is taken."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO collections (name, model_path, model_sha256, model_label, "
            "model_random_init, descriptor_dim, index_kind, created, index_params, "
            "store_dtype, local_features, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.name,
                new.model_path,
                new.model_sha256,
                new.model_label,
                int(new.model_random_init),
                new.descriptor_dim,
                new.index_kind,
                now_iso(),
                new.index_params,
                new.store_dtype,
                int(new.local_features),
                secrets.token_hex(16),
            ),
        )


def collection_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM collections WHERE name = ?", (name,)).fetchone()


def collection_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY name")]


def index_note(conn: sqlite3.Connection, collection_id: int) -> sqlite3.Row | None:
    """``index_kind_used``, ``index_recall_at_10`` and ``index_note`` of a collection."""
    return conn.execute(
        "SELECT index_kind_used, index_recall_at_10, index_note FROM collections WHERE id = ?",
        (collection_id,),
    ).fetchone()


def set_model(conn: sqlite3.Connection, collection_id: int, path: str, sha256: str) -> None:
    """The collection now uses the model file ``path`` (a vocabulary learnt from its photos)."""
    with transaction(conn):
        conn.execute(
            "UPDATE collections SET model_path = ?, model_sha256 = ? WHERE id = ?",
            (path, sha256, collection_id),
        )


def set_local_features(conn: sqlite3.Connection, collection_id: int, on: bool) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE collections SET local_features = ? WHERE id = ?", (int(on), collection_id)
        )


def collection_uid(conn: sqlite3.Connection, collection_id: int) -> str | None:
    """The uid of collection ``collection_id``, or None once it was removed."""
    row = conn.execute("SELECT uid FROM collections WHERE id = ?", (collection_id,)).fetchone()
    return None if row is None else row[0]


def remove_collection(conn: sqlite3.Connection, collection_id: int) -> None:
    conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))


def roots(conn: sqlite3.Connection, collection_id: int) -> list[str]:
    """The files and folders given to ``add``, in the order they were added."""
    query = "SELECT path FROM roots WHERE collection_id = ? ORDER BY rowid"
    return [r[0] for r in conn.execute(query, (collection_id,))]


def missing_roots(conn: sqlite3.Connection, collection_id: int) -> list[str]:
    """Roots that the last update did not find (their photos are kept)."""
    query = (
        "SELECT path FROM roots WHERE collection_id = ? AND missing_since IS NOT NULL "
        "ORDER BY rowid"
    )
    return [r[0] for r in conn.execute(query, (collection_id,))]


def add_roots(conn: sqlite3.Connection, collection_id: int, paths: Iterable[str]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO roots (collection_id, path) VALUES (?, ?)",
        [(collection_id, path) for path in paths],
    )


def remove_roots(conn: sqlite3.Connection, collection_id: int, paths: Iterable[str]) -> None:
    conn.executemany(
        "DELETE FROM roots WHERE collection_id = ? AND path = ?",
        [(collection_id, path) for path in paths],
    )


def mark_missing_roots(conn: sqlite3.Connection, collection_id: int, missing: list[str]) -> None:
    """Record which roots were not found by this update (the others were)."""
    conn.execute("UPDATE roots SET missing_since = NULL WHERE collection_id = ?", (collection_id,))
    conn.executemany(
        "UPDATE roots SET missing_since = ? WHERE collection_id = ? AND path = ?",
        [(now_iso(), collection_id, path) for path in missing],
    )


def model_fingerprints(conn: sqlite3.Connection) -> set[str]:
    """The fingerprints of every collection's model."""
    return {row[0] for row in conn.execute("SELECT model_sha256 FROM collections")}
