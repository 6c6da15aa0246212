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
import math
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sciceapp.engine.store import Segment
from sciceapp.errors import CollectionError, DataFolderError, SciceappError

log = logging.getLogger(__name__)

FILE_NAME = "catalogue.sqlite"
BUSY_TIMEOUT_S = 30.0

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: collections, the paths added to them, and their photos
    (
        """CREATE TABLE collections (
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
        )""",
        """CREATE TABLE roots (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            PRIMARY KEY (collection_id, path)
        )""",
        """CREATE TABLE photos (
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
        )""",
        """CREATE UNIQUE INDEX photos_one_per_path ON photos(collection_id, path)
            WHERE deleted_gen IS NULL""",
    ),
    # 2: listing a collection by state is what the GUI and `collection show` do most
    ("CREATE INDEX photos_by_state ON photos(collection_id, state)",),
    # 3: compressed index kinds. ``index_kind`` is the kind asked for; the index in use
    # (``index_kind_used``) stays flat until there are enough photos to train it, and the
    # conversion records its recall@10 against exact search (or why it failed).
    (
        "ALTER TABLE collections ADD COLUMN index_params TEXT",
        "ALTER TABLE collections ADD COLUMN index_kind_used TEXT NOT NULL DEFAULT 'flat'",
        "ALTER TABLE collections ADD COLUMN index_recall_at_10 REAL",
        "ALTER TABLE collections ADD COLUMN index_note TEXT",
    ),
    # 4: the geotag journal (engine/geotag/journal.py): every change sciceapp makes to a photo
    # or its sidecar is recorded here *before* the file is replaced, with what to restore.
    # A change is one user action (a `geotag set`, a review --apply, a GPX run); it holds one
    # write per file. ``undo_sha256`` is what the file will be after an undo (NULL: removed).
    (
        """CREATE TABLE geotag_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            summary TEXT NOT NULL,
            undone TEXT
        )""",
        """CREATE TABLE geotag_writes (
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
        )""",
        """CREATE INDEX geotag_writes_by_change ON geotag_writes(change_id)""",
        """CREATE INDEX geotag_writes_by_state ON geotag_writes(state)""",
    ),
    # 5: local features (feature_store.py) on or off; collections made before them have none
    ("ALTER TABLE collections ADD COLUMN local_features INTEGER NOT NULL DEFAULT 0",),
    # 6: a random uid per collection, written into its index files' checksummed header so a
    # file copied from another collection (or another data folder) is refused; and roots
    # whose folder was not found at the last update (their photos are kept, not removed).
    (
        "ALTER TABLE collections ADD COLUMN uid TEXT",
        "UPDATE collections SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "ALTER TABLE roots ADD COLUMN missing_since TEXT",
    ),
    # 7: the append-only descriptor store (``store.py``). Each saved generation commits the
    # segment it appended; ``store_dtype`` is the row type the collection chose, and
    # ``index_sha256`` the checksum of the trained kinds' faiss file of ``saved_gen``.
    (
        """CREATE TABLE store_segments (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            gen INTEGER NOT NULL,
            first_row INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            first_deleted INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (collection_id, gen)
        )""",
        "ALTER TABLE collections ADD COLUMN store_dtype TEXT NOT NULL DEFAULT 'float32'",
        "ALTER TABLE collections ADD COLUMN index_sha256 TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

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


def restore_advice(data_dir: Path) -> str:
    """How to get a healthy catalogue back: the backups that exist, else SQLite's recovery."""
    backups = sorted(Path(data_dir).glob(f"{FILE_NAME}*.bak"))
    named = ", ".join(b.name for b in backups)
    where = (
        f"restore {FILE_NAME} from a backup ({named}; copy it over {FILE_NAME})"
        if backups
        else (f"restore {FILE_NAME} from your own backup")
    )
    return (
        f"Stop using this data folder, {where}, or salvage what is readable with "
        f"`sqlite3 {FILE_NAME} .recover | sqlite3 recovered.sqlite`; the photos themselves are "
        "untouched"
    )


def damaged(data_dir: Path, what: str) -> CollectionError:
    """The error for a catalogue whose content cannot be right: says how to restore it."""
    return CollectionError(
        f"The catalogue {Path(data_dir) / FILE_NAME} is damaged: {what}. {restore_advice(data_dir)}."
    )


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
        check_integrity(conn, path.parent)  # never migrate (nor back up over) a damaged file
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
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        log.info("catalogue migrated to schema %d", number)


# SQLite's primary result codes (the low byte of ``sqlite_errorcode``) that a disk or a data
# folder causes, as opposed to a bug in a query.
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26
SCHEMA_DAMAGE = ("no such table", "no such column", "malformed")


def explain(exc: sqlite3.Error, data_dir: Path) -> SciceappError | None:
    """Our error for what SQLite reported, or None when it is a bug of ours (re-raised)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    path = Path(data_dir) / FILE_NAME
    text = str(exc)
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB) or any(s in text for s in SCHEMA_DAMAGE):
        return damaged(data_dir, text)
    if code == SQLITE_FULL:
        return CollectionError(
            f"The disk holding {data_dir} is full: the catalogue could not be written. Nothing "
            "stored was lost (a run's unsaved work is redone by the next one): free some space "
            "and try again."
        )
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM):
        return DataFolderError(
            f"The catalogue {path} cannot be opened for writing ({text}): the data folder is "
            "read-only or not accessible. Make it writable, or choose another folder with "
            "--data-dir (or SCICEAPP_DATA_DIR). The catalogue itself is not damaged."
        )
    if code == SQLITE_IOERR:
        return DataFolderError(
            f"The disk holding {path} reported an input/output error ({text}). Check the "
            "drive (it may have been unplugged or be failing), then try again."
        )
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return CollectionError(
            f"The catalogue {path} stayed locked by another sciceapp process for "
            f"{BUSY_TIMEOUT_S:.0f} s; wait for it to finish and try again."
        )
    return None


class _Cursor(sqlite3.Cursor):
    """A cursor whose every step turns SQLite's errors into ours (see :func:`explain`)."""

    data_dir: Path

    def _guard(self, call, *args):
        try:
            return call(*args)
        except sqlite3.IntegrityError:
            raise  # constraint failures are the caller's to handle
        except sqlite3.Error as exc:
            ours = explain(exc, self.data_dir)
            if ours is None:
                raise
            raise ours from exc

    def execute(self, sql, parameters=(), /):
        return self._guard(super().execute, sql, parameters)

    def executemany(self, sql, parameters, /):
        return self._guard(super().executemany, sql, parameters)

    def fetchone(self):
        return self._guard(super().fetchone)

    def fetchall(self):
        return self._guard(super().fetchall)

    def fetchmany(self, size=1):
        return self._guard(super().fetchmany, size)

    def __next__(self):
        return self._guard(super().__next__)


class Connection(sqlite3.Connection):
    """The catalogue's connection: statements run through :class:`_Cursor`, so a damaged
    file, a full disk or a read-only folder reach the user as a message, wherever they show."""

    data_dir: Path

    def cursor(self, factory=None):  # noqa: ARG002 - always ours
        cursor = super().cursor(_Cursor)
        cursor.data_dir = self.data_dir
        return cursor

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        return self.cursor().executemany(sql, parameters)


def connect(data_dir: Path, target: int = SCHEMA_VERSION) -> Connection:
    """Open (creating and migrating as needed) the catalogue of ``data_dir``."""
    path = Path(data_dir) / FILE_NAME
    conn: Connection | None = None
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, factory=Connection
        )
        conn.data_dir = Path(data_dir)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed generation survives power loss, so ids are never handed out twice.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(path, conn, target)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise explain(exc, data_dir) or damaged(data_dir, str(exc)) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (taken at once, so two writers queue instead of deadlocking)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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


def check_integrity(conn: sqlite3.Connection, data_dir: Path) -> None:
    """SQLite's ``quick_check`` (0.2 s for 200k photos): ``CollectionError`` with the way to
    restore when the file is damaged. Run before anything writes, so a damaged catalogue is
    never written to."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise damaged(data_dir, "; ".join(problems))


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
