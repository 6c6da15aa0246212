"""Generations and saves: what a collection's last save holds (``saved_gen``, the checksum
of its index file, the kind in use), the store segments each save committed, and going back
to the last save (``rollback_unsaved``).

Every photo row carries the generation that added it and pending deletions the generation
that deleted them; ``commit_saved`` makes a generation part of the collection in one
transaction, and ``rollback_unsaved`` throws away whatever came after it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from sciceapp.engine.catalogue.db import transaction
from sciceapp.engine.store import Segment
from sciceapp.errors import CollectionError

log = logging.getLogger(__name__)


def rollback_unsaved(conn: sqlite3.Connection, collection_id: int) -> int:
    """Undo everything after the last faiss save; returns how many rows changed."""
    with transaction(conn):
        saved = conn.execute(
            "SELECT saved_gen FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()[0]
        added = conn.execute(
            "DELETE FROM photos WHERE collection_id = ? AND gen > ?", (collection_id, saved)
        ).rowcount
        restored = conn.execute(
            "UPDATE photos SET deleted_gen = NULL WHERE collection_id = ? AND deleted_gen > ?",
            (collection_id, saved),
        ).rowcount
    if added or restored:
        log.warning(
            "collection %d: dropped %d rows and restored %d deletions that came after the last "
            "index save (an interrupted run); they are redone on the next add/update",
            collection_id,
            added,
            restored,
        )
    return added + restored


@dataclass(frozen=True)
class IndexState:
    """What the saved index file is: its kind, and its recall@10 versus exact search (or why
    it is not the kind asked for). Recorded with ``saved_gen``, so it always describes it."""

    kind_used: str
    recall_at_10: float | None = None
    note: str | None = None


def commit_saved(
    conn: sqlite3.Connection,
    collection_id: int,
    gen: int,
    state: IndexState | None = None,
    segment: Segment | None = None,
    index_sha256: str | None = None,
) -> None:
    """Record that generation ``gen`` is saved: its store ``segment`` (if it appended one),
    the checksum of its faiss file (trained kinds) and, if given, what the index is. Pending
    deletions become final."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM photos WHERE collection_id = ? AND deleted_gen IS NOT NULL",
            (collection_id,),
        )
        conn.execute(
            "UPDATE collections SET saved_gen = ?, index_sha256 = ? WHERE id = ?",
            (gen, index_sha256, collection_id),
        )
        if segment is not None:
            conn.execute(
                "INSERT INTO store_segments (collection_id, gen, first_row, rows, first_deleted, "
                "deleted, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    segment.gen,
                    segment.first_row,
                    segment.rows,
                    segment.first_deleted,
                    segment.deleted,
                    segment.sha256,
                ),
            )
        if state is not None:
            conn.execute(
                "UPDATE collections SET index_kind_used = ?, index_recall_at_10 = ?, "
                "index_note = ? WHERE id = ?",
                (state.kind_used, state.recall_at_10, state.note, collection_id),
            )


def forget_store(conn: sqlite3.Connection, collection_id: int) -> None:
    """A rebuild starts a new store: no committed segment, no index file, exact search."""
    with transaction(conn):
        conn.execute("DELETE FROM store_segments WHERE collection_id = ?", (collection_id,))
        conn.execute(
            "UPDATE collections SET index_sha256 = NULL, index_kind_used = 'flat', "
            "index_recall_at_10 = NULL, index_note = NULL WHERE id = ?",
            (collection_id,),
        )


def segments(conn: sqlite3.Connection, collection_id: int) -> list[Segment]:
    """The committed store segments of a collection, oldest first."""
    rows = conn.execute(
        "SELECT gen, first_row, rows, first_deleted, deleted, sha256 FROM store_segments "
        "WHERE collection_id = ? ORDER BY gen",
        (collection_id,),
    )
    return [Segment(*row) for row in rows]


@dataclass(frozen=True)
class SavedState:
    """A collection's saved generation and what describes its files."""

    gen: int
    index_sha256: str | None
    kind_used: str


def saved_state(conn: sqlite3.Connection, collection_id: int) -> SavedState:
    row = conn.execute(
        "SELECT saved_gen, index_sha256, index_kind_used FROM collections WHERE id = ?",
        (collection_id,),
    ).fetchone()
    if row is None:
        raise CollectionError("The collection was removed.")
    return SavedState(int(row[0]), row[1], row[2])
