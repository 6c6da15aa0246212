"""Appending to a descriptor store: one generation's rows and deletions at a time, fsynced
as a :class:`~sciceapp.engine.store_files.Segment` that the catalogue then commits
(``store.py`` describes the format and its crash safety)."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from sciceapp.atomic import fsync_dir
from sciceapp.engine.store_files import (
    DELETED_FILE,
    ID_TYPE,
    IDS_FILE,
    VECTORS_FILE,
    Segment,
    StoreFiles,
    ends,
    segment_digest,
)
from sciceapp.errors import CollectionError


class StoreWriter(StoreFiles):
    """Appends one generation's rows and deletions at a time (hold the collection's lock).

    Opening cuts the files back to what ``segments`` committed (the leftovers of a crash).
    """

    CREATES = True

    def _open(self) -> None:
        self.rows, self.deleted = ends(self.segments)
        self._files = {}
        self._committed = self.file_sizes(self.rows, self.deleted)
        self.rollback()
        self._files = {name: open(self.root / name, "ab") for name in self._committed}  # noqa: SIM115 - closed by close()
        self._start_pending()

    def _start_pending(self) -> None:
        self._digests = {name: hashlib.sha256() for name in self._committed}
        self.pending_rows = 0
        self.pending_deleted = 0

    def rollback(self) -> None:
        """Cut every file back to its committed length (drops what is pending)."""
        for handle in self._files.values():
            handle.flush()
        for name, size in self._committed.items():
            path = self.root / name
            if path.stat().st_size < size:
                raise CollectionError(
                    f"The descriptor store {self.root} is truncated ({name}). {self.fix}"
                )
            if path.stat().st_size > size:
                os.truncate(path, size)
        self._start_pending()

    @property
    def dirty(self) -> bool:
        return bool(self.pending_rows or self.pending_deleted)

    def _write(self, name: str, data: bytes) -> None:
        self._files[name].write(data)
        self._digests[name].update(data)

    def append(self, ids: object, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=ID_TYPE).reshape(-1)
        vectors = np.asarray(vectors).reshape(len(ids), -1)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must have {self.dim} columns, got {vectors.shape[1]}.")
        self._write(VECTORS_FILE, np.ascontiguousarray(vectors, dtype=self.row_type).tobytes())
        self._write(IDS_FILE, ids.tobytes())
        self.pending_rows += len(ids)

    def delete(self, ids: object) -> None:
        ids = np.asarray(ids, dtype=ID_TYPE).reshape(-1)
        if len(ids):
            self._write(DELETED_FILE, ids.tobytes())
            self.pending_deleted += len(ids)

    def flush(self, gen: int) -> Segment:
        """fsync what is pending and describe it as generation ``gen``'s segment (which the
        caller commits to the catalogue, then calls :meth:`committed`)."""
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
        return Segment(
            gen,
            self.rows,
            self.pending_rows,
            self.deleted,
            self.pending_deleted,
            segment_digest(self._digests),
        )

    def committed(self, segment: Segment) -> None:
        """The catalogue holds ``segment`` now: it becomes part of the committed files."""
        self.segments.append(segment)
        self.rows, self.deleted = segment.end_row, segment.end_deleted
        self._committed = self.file_sizes(self.rows, self.deleted)
        self._start_pending()

    def reader(self, include_pending: Segment | None = None):
        """A reader (``store.DescriptorStore``) of the committed rows (and of
        ``include_pending``, once flushed)."""
        from sciceapp.engine.store import DescriptorStore  # which imports this module

        segments = self.segments + ([include_pending] if include_pending else [])
        return DescriptorStore(
            self.root.parent, self.dim, self.dtype, segments, self.owner, self.name
        )

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}
        fsync_dir(self.root)
