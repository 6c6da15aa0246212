"""The geotag journal: rows of ``geotag_changes`` and ``geotag_writes`` in the catalogue (what
``geotag/writer.py`` records before and after each write to a photo).

A *change* is one user action; it holds one *write* per file. A write's ``state``:

| state | means |
|---|---|
| ``pending`` | journalled; the file is being replaced (after a crash: see ``writer.recover``) |
| ``done`` | the file holds the new bytes (``new_sha256``) |
| ``failed`` | nothing was changed (``note`` says why: an error, or a crash before the rename) |
| ``undoing`` | an undo is replacing the file with ``undo_sha256`` (NULL: removing it) |
| ``undone`` | the file is back to what it was (``old_sha256``; no file when that is NULL) |
| ``conflict`` | the file is neither what sciceapp found nor what it wrote: someone else changed it |

Backups of original bytes are files named by their SHA-256 in ``<data>/geotag-backups/``, so
writing the same photo twice stores its original once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciceapp.engine.catalogue.db import now_iso, transaction

BACKUP_DIR = "geotag-backups"
WRITE_COLUMNS = (
    "id, change_id, photo, target, sidecar, source, old_tags, new_tags, old_sha256, old_size, "
    "old_mode, old_atime_ns, old_mtime_ns, new_sha256, backup_kind, backup_sha256, "
    "undo_sha256, state, note"
)


@dataclass(frozen=True)
class WriteRecord:
    """One journalled write (a row of ``geotag_writes``); tags are exiv2 key -> text."""

    id: int
    change_id: int
    photo: str
    target: str
    sidecar: bool
    source: str
    old_tags: dict[str, str] | None  # None: the file had no GPS tags (or did not exist)
    new_tags: dict[str, Any]
    old_sha256: str | None  # None: the target did not exist (a new sidecar)
    old_size: int | None
    old_mode: int | None
    old_atime_ns: int | None
    old_mtime_ns: int | None
    new_sha256: str
    backup_kind: str  # 'none' | 'bytes' | 'metadata'
    backup_sha256: str | None
    undo_sha256: str | None
    state: str
    note: str | None


@dataclass(frozen=True)
class ChangeRecord:
    id: int
    created: str
    summary: str
    undone: str | None
    writes: tuple[WriteRecord, ...]

    @property
    def in_effect(self) -> bool:
        return self.undone is None and any(w.state == "done" for w in self.writes)


def _write(row: sqlite3.Row) -> WriteRecord:
    values = dict(row)
    values["sidecar"] = bool(values["sidecar"])
    values["old_tags"] = json.loads(values["old_tags"]) if values["old_tags"] else None
    values["new_tags"] = json.loads(values["new_tags"])
    return WriteRecord(**values)


def start_change(conn: sqlite3.Connection, summary: str) -> int:
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO geotag_changes (created, summary) VALUES (?, ?)",
            (now_iso(), summary),
        )
    return int(cursor.lastrowid)


def add_write(conn: sqlite3.Connection, change_id: int, **values: Any) -> int:
    """Journal a write as ``pending`` (committed before the file is touched); returns its id."""
    values["old_tags"] = json.dumps(values["old_tags"]) if values.get("old_tags") else None
    values["new_tags"] = json.dumps(values["new_tags"])
    values["sidecar"] = int(values["sidecar"])
    names = ["change_id", *values, "state"]
    marks = ", ".join("?" * len(names))
    with transaction(conn):
        cursor = conn.execute(
            f"INSERT INTO geotag_writes ({', '.join(names)}) VALUES ({marks})",
            [change_id, *values.values(), "pending"],
        )
    return int(cursor.lastrowid)


def set_state(
    conn: sqlite3.Connection, write_id: int, state: str, note: str | None = None, **extra: Any
) -> None:
    sets = ", ".join(["state = ?", "note = COALESCE(?, note)", *(f"{k} = ?" for k in extra)])
    with transaction(conn):
        conn.execute(
            f"UPDATE geotag_writes SET {sets} WHERE id = ?",
            [state, note, *extra.values(), write_id],
        )


def settle_change(conn: sqlite3.Connection, change_id: int) -> None:
    """Record a change as undone once none of its writes is in effect any more."""
    with transaction(conn):
        conn.execute(
            "UPDATE geotag_changes SET undone = ? WHERE id = ? AND undone IS NULL AND "
            "(SELECT COUNT(*) FROM geotag_writes WHERE change_id = ? AND state = 'done') = 0 "
            "AND (SELECT COUNT(*) FROM geotag_writes WHERE change_id = ? AND state = 'undone') > 0",
            (now_iso(), change_id, change_id, change_id),
        )


def writes_in(conn: sqlite3.Connection, *states: str) -> list[WriteRecord]:
    marks = ",".join("?" * len(states))
    rows = conn.execute(
        f"SELECT {WRITE_COLUMNS} FROM geotag_writes WHERE state IN ({marks}) ORDER BY id", states
    )
    return [_write(row) for row in rows]


def changes(conn: sqlite3.Connection, limit: int | None = None) -> list[ChangeRecord]:
    """Changes, newest first, each with its writes (in the order they were made)."""
    query = "SELECT id, created, summary, undone FROM geotag_changes ORDER BY id DESC"
    heads = conn.execute(query + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
    result = []
    for head in heads.fetchall():
        rows = conn.execute(
            f"SELECT {WRITE_COLUMNS} FROM geotag_writes WHERE change_id = ? ORDER BY id",
            (head["id"],),
        )
        result.append(ChangeRecord(*head, writes=tuple(_write(r) for r in rows)))
    return result


def mark_photo_stale(conn: sqlite3.Connection, photo: str) -> int:
    """Make the next ``update`` of every collection holding ``photo`` read it again.

    Its size in the catalogue is set to -1, which no file has: the update's quick check
    (size and mtime) fails even though the write kept the file's mtime, and a sidecar write
    (which leaves the photo's bytes alone) is picked up too.
    """
    with transaction(conn):
        return conn.execute(
            "UPDATE photos SET size = -1 WHERE path = ? AND deleted_gen IS NULL", (photo,)
        ).rowcount


def backup_path(data_dir: Path, sha256: str) -> Path:
    return Path(data_dir) / BACKUP_DIR / sha256
