"""The catalogue: one SQLite file (``catalogue.sqlite`` in the data folder) for every collection.

It records the collections (name, model file and fingerprint, index kind), the folders and
files added to each (``roots``), and one row per photo: file identity (path, size, mtime,
SHA-256), position from EXIF (or why there is none), capture time, state (``indexed`` or
``skipped`` with a reason) and the model that embedded it. A photo's row id is its id in the
collection's faiss index.

Schema changes are ordered migrations (``catalogue_schema.py``); the file is copied aside
before any migration runs, and opened through one connection class that turns SQLite's
errors into ours (``catalogue_db.py``; both are re-exported here). Every SQL statement of
the collection code is in this module.

How it stays in agreement with the descriptor store and the index file (see
``collection.py`` for the write order): every row carries the *generation* that added it,
pending deletions carry the generation that deleted them, and the collection records
``saved_gen``, the generation of its last save, with the store segments each save committed.
``rollback_unsaved`` throws away whatever came after that save.
"""

from __future__ import annotations

import logging
import math
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sciceapp.engine.catalogue_db import BUSY_TIMEOUT_S as BUSY_TIMEOUT_S
from sciceapp.engine.catalogue_db import FILE_NAME as FILE_NAME
from sciceapp.engine.catalogue_db import SQLITE_FULL as SQLITE_FULL
from sciceapp.engine.catalogue_db import Connection as Connection
from sciceapp.engine.catalogue_db import check_integrity as check_integrity
from sciceapp.engine.catalogue_db import connect as connect
from sciceapp.engine.catalogue_db import damaged, now_iso, transaction
from sciceapp.engine.catalogue_db import explain as explain
from sciceapp.engine.catalogue_db import migrate as migrate
from sciceapp.engine.catalogue_db import restore_advice as restore_advice
from sciceapp.engine.catalogue_db import schema_version as schema_version
from sciceapp.engine.catalogue_schema import MIGRATIONS as MIGRATIONS
from sciceapp.engine.catalogue_schema import SCHEMA_VERSION as SCHEMA_VERSION
from sciceapp.engine.store import Segment
from sciceapp.errors import CollectionError

log = logging.getLogger(__name__)

COMMITTED = (
    "gen <= (SELECT saved_gen FROM collections WHERE collections.id = photos.collection_id) "
    "AND (deleted_gen IS NULL OR deleted_gen > "
    "(SELECT saved_gen FROM collections WHERE collections.id = photos.collection_id))"
)
"""Rows as the last index save has them: what a reader (list, show, map, search) counts. A
run's batches commit rows before the index file that holds them is saved; until then (and
for ever, if the run is killed) they are not part of the collection."""

PHOTO_COLUMNS = (
    "id, path, size, mtime_ns, sha256, lat, lon, alt, gps_reason, capture_time, state, "
    "skip_reason, model_sha256"
)


@dataclass(frozen=True)
class PhotoRecord:
    id: int  # also the photo's id in the faiss index when state == 'indexed'
    path: str
    lat: float | None
    lon: float | None
    alt: float | None
    gps_reason: str | None
    capture_time: str | None
    state: str  # 'indexed' | 'skipped'
    skip_reason: str | None
    size: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    model_sha256: str | None = None

    @property
    def has_gps(self) -> bool:
        return self.lat is not None and self.lon is not None


RANGES = {"lat": 90.0, "lon": 180.0, "alt": 1e6}
"""Largest absolute value of each coordinate column a photo row may hold."""


def _record(conn: sqlite3.Connection, row: sqlite3.Row) -> PhotoRecord:
    """A photo row as a ``PhotoRecord``; a value no sciceapp writes means the file was edited
    or damaged, and is reported as such rather than crashing whatever reads it."""
    values = dict(row)  # PHOTO_COLUMNS are exactly PhotoRecord's fields
    problems = [
        f"{key}={values[key]!r}"
        for key, limit in RANGES.items()
        if values[key] is not None
        and (
            isinstance(values[key], str)
            or not math.isfinite(values[key])
            or abs(values[key]) > limit
        )
    ]
    problems += [
        f"{key}={values[key]!r}"
        for key in ("id", "size", "mtime_ns")
        if isinstance(values[key], bool) or not isinstance(values[key], int)
    ]
    if values["state"] not in ("indexed", "skipped") or not isinstance(values["path"], str):
        problems.append(f"state={values['state']!r}")
    if problems:
        raise damaged(
            getattr(conn, "data_dir", Path(".")),
            f"photo row {values['id']} holds values sciceapp never writes ({', '.join(problems)})",
        )
    return PhotoRecord(**values)


def photos(
    conn: sqlite3.Connection, collection_id: int, state: str | None = None
) -> list[PhotoRecord]:
    """Photos of a collection as its last index save has them (``COMMITTED``), in path order."""
    query = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE collection_id = ? AND {COMMITTED}"
    args: list[object] = [collection_id]
    if state is not None:
        query += " AND state = ?"
        args.append(state)
    return [_record(conn, row) for row in conn.execute(query + " ORDER BY path", args)]


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


@dataclass(frozen=True)
class NewPhoto:
    """A photo row to insert; ``skip_reason`` None means it is indexed (and has vectors)."""

    collection_id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    lat: float | None
    lon: float | None
    alt: float | None
    gps_reason: str | None
    capture_time: str | None
    skip_reason: str | None
    model_sha256: str
    gen: int


def insert_photo(conn: sqlite3.Connection, photo: NewPhoto) -> int:
    """Insert ``photo`` (inside the caller's transaction); returns its row id, which is also
    its id in the store and the index when it is indexed."""
    indexed = photo.skip_reason is None
    cursor = conn.execute(
        "INSERT INTO photos (collection_id, path, size, mtime_ns, sha256, lat, lon, alt, "
        "gps_reason, capture_time, state, skip_reason, model_sha256, gen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            photo.collection_id,
            photo.path,
            photo.size,
            photo.mtime_ns,
            photo.sha256,
            photo.lat,
            photo.lon,
            photo.alt,
            photo.gps_reason,
            photo.capture_time,
            "indexed" if indexed else "skipped",
            photo.skip_reason,
            photo.model_sha256 if indexed else None,
            photo.gen,
        ),
    )
    row_id = int(cursor.lastrowid)
    if indexed:
        conn.execute("UPDATE photos SET index_id = id WHERE id = ?", (row_id,))
    return row_id


def mark_deleted(conn: sqlite3.Connection, gen: int, ids: list[int]) -> None:
    """Mark photos deleted by generation ``gen`` (final once it is saved; inside the caller's
    transaction)."""
    conn.executemany("UPDATE photos SET deleted_gen = ? WHERE id = ?", [(gen, i) for i in ids])


def set_mtimes(conn: sqlite3.Connection, changes: list[tuple[int, int]]) -> None:
    """``(mtime_ns, id)`` pairs: photos touched without their bytes changing."""
    if changes:
        with transaction(conn):
            conn.executemany("UPDATE photos SET mtime_ns = ? WHERE id = ?", changes)


def live_indexed(conn: sqlite3.Connection, collection_id: int) -> dict[int, str]:
    """Row id -> path of the collection's live indexed photos."""
    return {
        int(row[0]): row[1]
        for row in conn.execute(
            "SELECT id, path FROM photos WHERE collection_id = ? AND state = 'indexed' "
            "AND deleted_gen IS NULL",
            (collection_id,),
        )
    }


def photo_pages(
    conn: sqlite3.Connection, collection_id: int, page_rows: int
) -> Iterator[list[PhotoRecord]]:
    """Photos of a collection as last saved (``COMMITTED``) in id order, ``page_rows`` at a
    time (bounded memory)."""
    after = -1
    while True:
        rows = conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE collection_id = ? AND {COMMITTED} "
            "AND id > ? ORDER BY id LIMIT ?",
            (collection_id, after, page_rows),
        ).fetchall()
        if not rows:
            return
        yield [_record(conn, row) for row in rows]
        after = rows[-1]["id"]


def photos_by_id(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, PhotoRecord]:
    """Indexed live photos with these ids (ids the catalogue does not know are left out)."""
    wanted = sorted({int(i) for i in ids if int(i) >= 0})
    found: dict[int, PhotoRecord] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE id IN ({marks}) "
            f"AND state = 'indexed' AND {COMMITTED}",
            chunk,
        ):
            found[row["id"]] = _record(conn, row)
    return found


def counts(conn: sqlite3.Connection, collection_id: int) -> tuple[int, int, int, int]:
    """``(indexed, indexed without GPS, skipped, total)`` as of the last index save."""
    row = conn.execute(
        "SELECT SUM(state = 'indexed'), SUM(state = 'indexed' AND lat IS NULL), "
        f"SUM(state = 'skipped'), COUNT(*) FROM photos WHERE collection_id = ? AND {COMMITTED}",
        (collection_id,),
    ).fetchone()
    return tuple(int(v or 0) for v in row)  # type: ignore[return-value]


def indexed_ids(conn: sqlite3.Connection, collection_id: int) -> set[int]:
    """Ids the collection's saved index file must hold, exactly."""
    return {
        int(r[0])
        for r in conn.execute(
            f"SELECT id FROM photos WHERE collection_id = ? AND state = 'indexed' AND {COMMITTED}",
            (collection_id,),
        )
    }


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
