"""A collection's local features on disk: one append-only file, ``features.bin``, keyed by photo id.

Each record is ``<magic, photo id, payload length, extraction ms>`` followed by the payload
(``LocalFeatures.to_bytes()``, which carries its own CRC). Records are only ever appended;
a photo that changes gets a new catalogue row (a new id) and so a new record.

Why this agrees with the catalogue after a kill -9 (``library.py`` has the generations):

- A run appends the features of a batch after committing the batch's rows, and fsyncs the
  file at every checkpoint *before* the index file is saved and ``saved_gen`` committed. So
  every row of a saved generation has its record on disk.
- A record counts only while its photo id is a live indexed row. Rows that a crash rolls
  back (``rollback_unsaved``) leave records that no row names; ids are never reused
  (SQLite AUTOINCREMENT), so such a record can never be taken for another photo's.
- At the start of every run (under the collection lock), :meth:`FeatureStore.prune`
  removes the records of ids that are no longer live and cuts off a torn last record, so
  the file again holds exactly one record per live indexed photo; photos without a
  record are then extracted again (``library.py``).

This is the shape ARCHITECTURE.md wants for descriptors too (append-only, fsync, then commit
the rows), so the descriptor store of issue 12 can take it over.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sciceapp.atomic import atomic_write
from sciceapp.engine.local_features import FeatureFormatError, LocalFeatures

log = logging.getLogger(__name__)

FILE_NAME = "features.bin"
_RECORD = struct.Struct("<4sqIf")  # magic, photo id, payload bytes, extraction ms
_MAGIC = b"LFr1"
REWRITE_GARBAGE_SHARE = 0.25
"""``prune`` rewrites the file when records of deleted photos take more than this share of
it (dropping a torn or rolled-back tail is always done, in place)."""


@dataclass(frozen=True)
class _Entry:
    offset: int  # of the payload
    length: int
    extract_ms: float


@dataclass(frozen=True)
class StoreStats:
    """What ``collection show`` reports: records, bytes on disk, mean extraction time."""

    photos: int
    file_bytes: int
    bytes_per_photo: float
    extract_ms_per_photo: float


class FeatureStore:
    """Reads and appends a collection's ``features.bin`` (appending needs the collection lock)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / FILE_NAME
        self._entries: dict[int, _Entry] = {}
        self._end = 0  # bytes of whole records read so far
        self._identity: tuple[int, int] | None = None  # (inode, device) of the file read
        self._writer = None
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Read the headers of records appended (or of a file replaced) since the last call."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._entries, self._end, self._identity = {}, 0, None
            return
        identity = (stat.st_ino, stat.st_dev)
        if identity != self._identity:
            self._entries, self._end, self._identity = {}, 0, identity
        if stat.st_size <= self._end:
            return
        with open(self.path, "rb") as file:
            file.seek(self._end)
            position = self._end
            while True:
                header = file.read(_RECORD.size)
                if len(header) < _RECORD.size:
                    break
                magic, photo_id, length, extract_ms = _RECORD.unpack(header)
                start = position + _RECORD.size
                if magic != _MAGIC or start + length > stat.st_size:
                    break  # a torn last record (or garbage after it): not part of the store
                self._entries[photo_id] = _Entry(start, length, extract_ms)
                position = start + length
                file.seek(position)
            self._end = position

    def ids(self) -> set[int]:
        """Photo ids that have a record (live or not: see the module docstring)."""
        with self._lock:
            self._refresh()
            return set(self._entries)

    def get(self, photo_id: int) -> LocalFeatures | None:
        """The features of one photo, or None when it has none (or its record is damaged)."""
        return self.get_many([photo_id]).get(photo_id)

    def get_many(self, photo_ids: Iterable[int]) -> dict[int, LocalFeatures]:
        """Features of the photos that have them (damaged records are logged and left out)."""
        wanted = [int(i) for i in photo_ids]
        found: dict[int, LocalFeatures] = {}
        try:
            file = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return found
        with file, self._lock:
            stat = os.fstat(file.fileno())
            if (stat.st_ino, stat.st_dev) != self._identity or any(
                i not in self._entries for i in wanted
            ):
                self._refresh()  # new records, or a file rewritten by another process
            if self._identity != (stat.st_ino, stat.st_dev):
                return found  # replaced again just now: these offsets are not that file's
            entries = {i: self._entries[i] for i in wanted if i in self._entries}
            for photo_id, entry in sorted(entries.items(), key=lambda item: item[1].offset):
                file.seek(entry.offset)
                try:
                    found[photo_id] = LocalFeatures.from_bytes(file.read(entry.length))
                except FeatureFormatError as exc:
                    log.warning("local features of photo %d unreadable (%s)", photo_id, exc)
        return found

    def stats(self, live_ids: Iterable[int] | None = None) -> StoreStats:
        with self._lock:
            self._refresh()
            entries = self._entries
            if live_ids is not None:
                live = set(live_ids)
                entries = {i: e for i, e in entries.items() if i in live}
            size = self.path.stat().st_size if self.path.exists() else 0
        count = len(entries)
        return StoreStats(
            count,
            size,
            sum(e.length + _RECORD.size for e in entries.values()) / count if count else 0.0,
            sum(e.extract_ms for e in entries.values()) / count if count else 0.0,
        )

    # -- writing (under the collection lock) ----------------------------------------------
    def prune(self, live_ids: Iterable[int]) -> int:
        """Keep exactly one record per live id: cut a torn or dead tail, rewrite the file when
        dead records take too much of it. Returns how many records were dropped."""
        live = set(live_ids)
        self.close()
        with self._lock:
            self._refresh()
            dead = {i: e for i, e in self._entries.items() if i not in live}
            size = self.path.stat().st_size if self.path.exists() else 0
            if not dead and size == self._end:
                return 0
            last_live = max(
                (e.offset + e.length for i, e in self._entries.items() if i in live), default=0
            )
            tail_only = all(e.offset > last_live for e in dead.values())
            dead_bytes = sum(e.length + _RECORD.size for e in dead.values())
            if tail_only:
                with open(self.path, "r+b") as file:
                    file.truncate(last_live)
                    os.fsync(file.fileno())
            elif dead_bytes > REWRITE_GARBAGE_SHARE * max(size, 1) or size != self._end:
                self._rewrite(live)
            else:
                return 0  # a few dead records in the middle: not worth a rewrite yet
            self._identity = None
            self._refresh()
        if dead:
            log.info("local features: dropped %d records of photos no longer indexed", len(dead))
        return len(dead)

    def _rewrite(self, live: set[int]) -> None:
        with open(self.path, "rb") as source, atomic_write(self.path) as target:
            for photo_id, entry in sorted(self._entries.items(), key=lambda kv: kv[1].offset):
                if photo_id in live:
                    source.seek(entry.offset)
                    target.write(_RECORD.pack(_MAGIC, photo_id, entry.length, entry.extract_ms))
                    target.write(source.read(entry.length))

    def append(self, photo_id: int, features: LocalFeatures, extract_ms: float = 0.0) -> None:
        """Add one photo's record (durable only after :meth:`sync`)."""
        payload = features.to_bytes()
        with self._lock:
            if self._writer is None:
                self._refresh()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = open(self.path, "ab")  # noqa: SIM115 - kept open across batches
                if self._writer.tell() != self._end:
                    # A torn record at the end: cut it, so the new records follow whole ones.
                    self._writer.truncate(self._end)
                    self._writer.seek(self._end)
            self._writer.write(_RECORD.pack(_MAGIC, int(photo_id), len(payload), extract_ms))
            self._writer.write(payload)

    def sync(self) -> None:
        """Make every appended record durable (flush and fsync): call before committing."""
        with self._lock:
            if self._writer is not None:
                self._writer.flush()
                os.fsync(self._writer.fileno())

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def remove(self) -> None:
        """Delete the file (local features switched off)."""
        self.close()
        self.path.unlink(missing_ok=True)
        with self._lock:
            self._entries, self._end, self._identity = {}, 0, None
