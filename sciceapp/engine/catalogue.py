"""The catalogue: one SQLite file (``catalogue.sqlite`` in the data folder) for every collection.

It records the collections (name, model file and fingerprint, index kind), the folders and
files added to each (``roots``), and one row per photo: file identity (path, size, mtime,
SHA-256), position from EXIF (or why there is none), capture time, state (``indexed`` or
``skipped`` with a reason) and the model that embedded it. A photo's row id is its id in the
collection's faiss index.

Schema changes are ordered migrations; the file is copied aside before any migration runs.

How it stays in agreement with the faiss file (see ``library.py`` for the write order): every
row carries the *generation* that added it, pending deletions carry the generation that
deleted them, and the collection records ``saved_gen``, the generation of its last faiss
save (the file ``index-<saved_gen>.faiss``). ``rollback_unsaved`` throws away whatever
came after that save, which is exactly the state of the saved faiss file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sciceapp.errors import CollectionError

log = logging.getLogger(__name__)

FILE_NAME = "catalogue.sqlite"
BUSY_TIMEOUT_S = 30.0

MIGRATIONS: tuple[str, ...] = (
    # 1: collections, the paths added to them, and their photos
    """
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        model_path TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        model_label TEXT NOT NULL,
        model_random_init INTEGER NOT NULL,
        descriptor_dim INTEGER NOT NULL,
        index_kind TEXT NOT NULL,
        created TEXT NOT NULL,
        saved_gen INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE roots (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        lat REAL,
        lon REAL,
        alt REAL,
        gps_reason TEXT,
        capture_time TEXT,
        state TEXT NOT NULL CHECK (state IN ('indexed', 'skipped')),
        skip_reason TEXT,
        model_sha256 TEXT,
        index_id INTEGER,
        gen INTEGER NOT NULL,
        deleted_gen INTEGER
    );
    CREATE UNIQUE INDEX photos_one_per_path ON photos(collection_id, path)
        WHERE deleted_gen IS NULL;
    """,
    # 2: listing a collection by state is what the GUI and `collection show` do most
    "CREATE INDEX photos_by_state ON photos(collection_id, state);",
    # 3: compressed index kinds. ``index_kind`` is the kind asked for; the index in use
    # (``index_kind_used``) stays flat until there are enough photos to train it, and the
    # conversion records its recall@10 against exact search (or why it failed).
    """
    ALTER TABLE collections ADD COLUMN index_params TEXT;
    ALTER TABLE collections ADD COLUMN index_kind_used TEXT NOT NULL DEFAULT 'flat';
    ALTER TABLE collections ADD COLUMN index_recall_at_10 REAL;
    ALTER TABLE collections ADD COLUMN index_note TEXT;
    """,
    # 4: the geotag journal (engine/geotag/journal.py): every change sciceapp makes to a photo
    # or its sidecar is recorded here *before* the file is replaced, with what to restore.
    # A change is one user action (a `geotag set`, a review --apply, a GPX run); it holds one
    # write per file. ``undo_sha256`` is what the file will be after an undo (NULL: removed).
    """
    CREATE TABLE geotag_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created TEXT NOT NULL,
        summary TEXT NOT NULL,
        undone TEXT
    );
    CREATE TABLE geotag_writes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        change_id INTEGER NOT NULL REFERENCES geotag_changes(id) ON DELETE CASCADE,
        photo TEXT NOT NULL,
        target TEXT NOT NULL,
        sidecar INTEGER NOT NULL,
        source TEXT NOT NULL,
        old_tags TEXT,
        new_tags TEXT NOT NULL,
        old_sha256 TEXT,
        old_size INTEGER,
        old_mode INTEGER,
        old_atime_ns INTEGER,
        old_mtime_ns INTEGER,
        new_sha256 TEXT NOT NULL,
        backup_kind TEXT NOT NULL CHECK (backup_kind IN ('none', 'bytes', 'metadata')),
        backup_sha256 TEXT,
        undo_sha256 TEXT,
        state TEXT NOT NULL CHECK (state IN
            ('pending', 'done', 'failed', 'undoing', 'undone', 'conflict')),
        note TEXT
    );
    CREATE INDEX geotag_writes_by_change ON geotag_writes(change_id);
    CREATE INDEX geotag_writes_by_state ON geotag_writes(state);
    """,
    # 5: local features (feature_store.py) on or off; collections made before them have none
    "ALTER TABLE collections ADD COLUMN local_features INTEGER NOT NULL DEFAULT 0;",
)
SCHEMA_VERSION = len(MIGRATIONS)

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


def _record(row: sqlite3.Row) -> PhotoRecord:
    return PhotoRecord(**dict(row))  # PHOTO_COLUMNS are exactly PhotoRecord's fields


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(path: Path, conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> None:
    """Bring the schema to ``target``, copying the file aside first when it holds data."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise CollectionError(
            f"{path} was written by a newer sciceapp (schema {version}, this one knows up to "
            f"{SCHEMA_VERSION}). Update sciceapp, or use another --data-dir."
        )
    if version >= target:
        return
    if version > 0:
        backup = path.with_name(f"{path.name}.v{version}.bak")
        with sqlite3.connect(backup) as copy:
            conn.backup(copy)
        log.info("catalogue backed up to %s before migrating", backup)
    for number in range(version + 1, target + 1):
        # One transaction per step, re-checked inside it: two processes opening an old
        # catalogue at once must not both run the same step.
        with transaction(conn):
            if schema_version(conn) >= number:
                continue
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        log.info("catalogue migrated to schema %d", number)


def connect(data_dir: Path, target: int = SCHEMA_VERSION) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the catalogue of ``data_dir``."""
    path = Path(data_dir) / FILE_NAME
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed generation survives power loss, so ids are never handed out twice.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(path, conn, target)
    except sqlite3.DatabaseError as exc:
        raise CollectionError(
            f"The catalogue {path} cannot be opened ({exc}). If it is damaged, restore a "
            f"backup ({FILE_NAME}.v*.bak) or move it away to start afresh."
        ) from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (taken at once, so two writers queue instead of deadlocking)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def photos(
    conn: sqlite3.Connection, collection_id: int, state: str | None = None
) -> list[PhotoRecord]:
    """Live photos of a collection (pending deletions excluded), in path order."""
    query = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE collection_id = ? AND deleted_gen IS NULL"
    args: list[object] = [collection_id]
    if state is not None:
        query += " AND state = ?"
        args.append(state)
    return [_record(row) for row in conn.execute(query + " ORDER BY path", args)]


def photos_by_id(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, PhotoRecord]:
    """Indexed live photos with these ids (ids the catalogue does not know are left out)."""
    wanted = sorted({int(i) for i in ids if int(i) >= 0})
    found: dict[int, PhotoRecord] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE id IN ({marks}) "
            "AND state = 'indexed' AND deleted_gen IS NULL",
            chunk,
        ):
            found[row["id"]] = _record(row)
    return found


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
    conn: sqlite3.Connection, collection_id: int, gen: int, state: IndexState | None = None
) -> None:
    """Record that ``index-<gen>.faiss`` is saved (and, if given, what it is): pending
    deletions become final."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM photos WHERE collection_id = ? AND deleted_gen IS NOT NULL",
            (collection_id,),
        )
        conn.execute("UPDATE collections SET saved_gen = ? WHERE id = ?", (gen, collection_id))
        if state is not None:
            conn.execute(
                "UPDATE collections SET index_kind_used = ?, index_recall_at_10 = ?, "
                "index_note = ? WHERE id = ?",
                (state.kind_used, state.recall_at_10, state.note, collection_id),
            )
