"""What an indexing run has written since its last save, and saving it: checkpoints (with the
conversion to a trained index kind they may do), rollback to the last save, and the errors a
failed write turns into.

The write order that keeps the catalogue, the store and the index file in agreement is in
``collection.py``: a checkpoint appends and fsyncs a store segment, saves a trained kind's
index file, and only then commits both in the catalogue; a rollback cuts the store back to
its committed segments and drops the catalogue's rows newer than the save.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sciceapp.atomic import TEMP_SUFFIX, is_disk_full
from sciceapp.engine import catalogue, conversion, store
from sciceapp.engine.catalogue import IndexState
from sciceapp.engine.index import VectorIndex
from sciceapp.errors import CancelledError, CollectionError, SciceappError
from sciceapp.progress import CancelToken

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection
    from sciceapp.engine.collection_features import RunFeatures

log = logging.getLogger(__name__)

INDEX_FILE = re.compile(r"^index-(\d+)\.faiss$")
"""Checkpoints append to the store every ``checkpoint_s``; a trained kind's index file is
rewritten then too (it is small: ``pq_m + 8`` bytes per photo for ivfpq and twostage)."""


def _remove_stale_files(folder: Path, keep_gen: int | None) -> None:
    """Index files of generations other than ``keep_gen`` (all of them for None: exact search
    has none), and temp files that interrupted saves left behind."""
    if not folder.is_dir():
        return
    for old in folder.iterdir():
        match = INDEX_FILE.match(old.name)
        temp = old.suffix == TEMP_SUFFIX and old.name.lstrip(".").startswith("index-")
        if temp or (match and int(match[1]) != keep_gen):
            old.unlink(missing_ok=True)


def catalogue_error(exc: sqlite3.OperationalError) -> CollectionError:
    return CollectionError(
        f"The catalogue could not be written ({exc}); the disk may be full. Nothing "
        "stored was lost: free some space and run `sciceapp collection update`."
    )


class Checkpoints:
    """The store writer and (trained kinds) the index of one run in generation ``gen``.

    ``fresh`` (a rebuild): the store starts empty (the catalogue forgot its segments before
    this run, so a crash leaves a collection that the next rebuild starts again).
    ``announce(message)`` reports a long step (a conversion) at the run's progress position.
    """

    def __init__(
        self,
        collection: Collection,
        conn: sqlite3.Connection,
        *,
        fresh: bool,
        features: RunFeatures | None,
        cancel: CancelToken | None,
        announce: Callable[[str], None],
    ) -> None:
        self.c = collection
        self.conn = conn
        self.features = features
        self.cancel = cancel
        self.announce = announce
        saved = catalogue.saved_state(conn, collection.id)
        self.gen = saved.gen + 1
        self.kind_used = saved.kind_used
        if fresh:
            shutil.rmtree(collection.folder / store.STORE_DIR, ignore_errors=True)
        _remove_stale_files(collection.folder, saved.gen if saved.kind_used != "flat" else None)
        self.writer = store.StoreWriter(
            collection.folder,
            collection.descriptor_dim,
            collection.store_dtype,
            catalogue.segments(conn, collection.id),
            collection.uid,
            collection.name,
        )
        # The trained kinds keep their (small) index in memory while a run changes it.
        self.index: VectorIndex | None = None
        if saved.kind_used != "flat":
            self.index = VectorIndex.load(
                collection.folder / f"index-{saved.gen}.faiss",
                saved.kind_used,
                collection.index_params,
                sha256=saved.index_sha256,
                fix=self.writer.fix,
            )
        self.dirty = fresh  # something changed since the last save
        self.cancelled_conversion: CancelledError | None = None

    def save(self, convert: bool = True) -> None:
        """Checkpoint: store segment and index file first, then the catalogue's commit of
        both (module docstring)."""
        try:
            if self.features is not None:
                self.features.sync()  # every saved row has its features on disk
            segment = self.writer.flush(self.gen)
            state = self._convert_if_due(segment) if convert else None
            if not self.dirty and not self.writer.dirty:
                self._raise_cancelled_conversion()
                return
            index_sha = None
            if self.index is not None:
                index_sha = self.index.save(self.c.folder / f"index-{self.gen}.faiss")
        except OSError as exc:
            self.rollback()
            raise self.write_error(exc) from exc
        committed = segment if (segment.rows or segment.deleted) else None
        try:
            catalogue.commit_saved(self.conn, self.c.id, self.gen, state, committed, index_sha)
        except sqlite3.OperationalError as exc:
            self.rollback()
            raise catalogue_error(exc) from exc
        if committed is not None:
            self.writer.committed(committed)
        _remove_stale_files(self.c.folder, self.gen if self.index is not None else None)
        self.gen += 1
        self.dirty = False
        self._raise_cancelled_conversion()

    def _convert_if_due(self, pending: store.Segment) -> IndexState | None:
        """Build the trained kind asked for from the store, once there are enough photos.

        Runs inside a checkpoint, after the store's new segment is fsynced and before the
        save: the trained index becomes this generation's file, so a crash at any point keeps
        the previous save. A failed conversion keeps exact search, says why, and is retried at
        the next save; a cancelled one (also while faiss trains) keeps exact search quietly.
        """
        c = self.c
        target = conversion.trained_kind(c.index_kind)
        if target == "flat" or self.kind_used == target:
            return None
        # Every row ever stored is more than the live ones: when even that is too few, the
        # store need not be opened to know (every save of an auto collection below its size).
        at_most = pending.end_row
        if conversion.flat_reason(c.index_kind, c.descriptor_dim, c.index_params, at_most):
            return None
        reader = self.writer.reader(pending)
        if conversion.flat_reason(
            c.index_kind, c.descriptor_dim, c.index_params, reader.live_count
        ):
            return None
        if self.cancel is not None and self.cancel.cancelled:
            return None
        self.announce(
            f"converting the index to {target} ({reader.live_count} photos, may take "
            "minutes; cancel keeps exact search)"
        )
        try:
            index, recall = conversion.convert(reader, target, c.index_params, cancel=self.cancel)
        except CancelledError as exc:
            log.info("collection %r: conversion to %s cancelled", c.name, target)
            self.cancelled_conversion = exc  # raised once this save is committed
            return None
        except Exception as exc:  # noqa: BLE001 - any failure: stay exact, lose nothing
            note = (
                f"converting to {target} failed ({exc}); exact search is kept and the "
                "conversion is retried at the next add or update"
            )
            log.warning("collection %r: %s", c.name, note)
            self.dirty = True
            return IndexState("flat", None, note)
        self.index, self.kind_used, self.dirty = index, target, True
        return IndexState(target, recall, None)

    def _raise_cancelled_conversion(self) -> None:
        """A conversion cancelled in this save: the save kept exact search; now say so."""
        if self.cancelled_conversion is not None:
            cancelled, self.cancelled_conversion = self.cancelled_conversion, None
            raise cancelled

    def write_error(self, exc: OSError) -> CollectionError:
        if is_disk_full(exc):
            return CollectionError(
                f"The disk is full: {self.c.name!r} could not be saved to {self.c.folder}. "
                "Nothing stored was lost (the collection is as it was at its last save); free "
                "some space and run `sciceapp collection update`."
            )
        return CollectionError(
            f"Cannot save {self.c.name!r} to {self.c.folder}: {exc.strerror or exc}. The "
            "collection is as it was at its last save."
        )

    def rollback(self) -> None:
        """Back to the last save: the store cut to its committed segments, the catalogue's
        newer rows dropped (whatever cannot be done now, the next run does first)."""
        try:
            self.writer.rollback()
        except (OSError, SciceappError):
            log.exception("could not cut the store back; the next run will")
        try:
            catalogue.rollback_unsaved(self.conn, self.c.id)
        except (sqlite3.Error, SciceappError) as exc:
            # Expected when the disk is full; harmless: the next run starts with this rollback.
            log.warning("the catalogue is rolled back at the next run (not now: %s)", exc)

    def close(self) -> None:
        self.writer.close()
