"""The ``photos`` table: one row per photo of a collection (file identity, position from EXIF
or why there is none, capture time, state, the model that embedded it), as readers see it
(``COMMITTED``: as of the last save) and as a run writes it. A photo's row id is its id in
the collection's store and index."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sciceapp.engine.catalogue.db import damaged, transaction

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


def live_indexed_path(conn: sqlite3.Connection, collection_id: int, photo_id: int) -> str | None:
    """The path of photo ``photo_id`` while it is a live, indexed photo of the collection."""
    row = conn.execute(
        "SELECT path FROM photos WHERE id = ? AND collection_id = ? AND state = 'indexed' "
        "AND deleted_gen IS NULL",
        (photo_id, collection_id),
    ).fetchone()
    return None if row is None else row[0]
