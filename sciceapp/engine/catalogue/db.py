"""The catalogue's file: opening it (creating and migrating it, a backup first), the one
connection class whose every statement turns SQLite's errors into ours (a damaged file, a
full disk, a read-only folder), transactions, and the integrity check run before writes.
The other statements are in the package's other modules (``__init__.py``); the schema in
``schema.py``."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sciceapp.engine.catalogue.schema import MIGRATIONS, SCHEMA_VERSION
from sciceapp.errors import CollectionError, DataFolderError, SciceappError

log = logging.getLogger(__name__)

FILE_NAME = "catalogue.sqlite"
BUSY_TIMEOUT_S = 30.0


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


def check_integrity(conn: sqlite3.Connection, data_dir: Path) -> None:
    """SQLite's ``quick_check`` (0.2 s for 200k photos): ``CollectionError`` with the way to
    restore when the file is damaged. Run before anything writes, so a damaged catalogue is
    never written to."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise damaged(data_dir, "; ".join(problems))
