"""One indexing run of a collection: triage, batches, checkpoints, conversion, rollback.

A run holds the collection's write lock and works in generation ``G = saved_gen + 1`` (the
write order that keeps the catalogue, the store and the index file in agreement is in
``collection.py``). It comes in two flavours that share everything after the input:
:meth:`IndexingRun.execute` embeds files found under the roots, :meth:`IndexingRun.import_shards`
takes rows described elsewhere.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.atomic import TEMP_SUFFIX, is_disk_full
from sciceapp.engine import catalogue, conversion, store
from sciceapp.engine.catalogue import IndexState, PhotoRecord
from sciceapp.engine.collection_features import RunFeatures
from sciceapp.engine.download import sha256_file
from sciceapp.engine.exif import GeoPoint, PhotoMeta
from sciceapp.engine.index import VectorIndex
from sciceapp.engine.pipeline import Prepared, embed_files, scan
from sciceapp.errors import CancelledError, CollectionError, SciceappError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection

log = logging.getLogger(__name__)

INDEX_FILE = re.compile(r"^index-(\d+)\.faiss$")
"""Checkpoints append to the store every ``checkpoint_s``; a trained kind's index file is
rewritten then too (it is small: ``pq_m + 8`` bytes per photo for ivfpq and twostage)."""


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False


def _shard_item(row: dict, has_vector: bool) -> Prepared:
    """A shard row as the pipeline's item (what ``_write_batch`` stores)."""
    gps = None
    if row["lat"] is not None and row["lon"] is not None:
        gps = GeoPoint(row["lat"], row["lon"], row["alt"])
    error = None
    if row["state"] != "indexed":
        error = row["reason"] or "skipped where the shard was made"
    elif not has_vector:
        error = "the shard has no descriptor for this photo"
    meta = PhotoMeta(gps, row["gps_reason"], row["taken_at"])
    return Prepared(
        Path(row["path"]), row["size"], row["mtime_ns"], row["sha256"], meta, error=error
    )


def _catalogue_error(exc: sqlite3.OperationalError) -> CollectionError:
    return CollectionError(
        f"The catalogue could not be written ({exc}); the disk may be full. Nothing "
        "stored was lost: free some space and run `sciceapp collection update`."
    )


class IndexingRun:
    """One add/update/import pass under the collection's lock (see ``collection.py``)."""

    def __init__(self, collection: Collection, conn: sqlite3.Connection) -> None:
        self.c = collection
        self.conn = conn
        saved = catalogue.saved_state(conn, collection.id)
        self.gen = saved.gen + 1
        self.kind_used = saved.kind_used
        self.writer = store.StoreWriter(
            collection.folder,
            collection.descriptor_dim,
            collection.store_dtype,
            catalogue.segments(conn, collection.id),
        )
        # The trained kinds keep their (small) index in memory while a run changes it.
        self.index: VectorIndex | None = None
        if saved.kind_used != "flat":
            self.index = VectorIndex.load(
                collection.folder / f"index-{saved.gen}.faiss",
                saved.kind_used,
                collection.index_params,
                sha256=saved.index_sha256,
            )
        self.dirty = False
        self.cancelled_conversion: CancelledError | None = None
        self.report = IndexReport()
        self.progress: ProgressFn | None = None
        self.cancel: CancelToken | None = None
        self.position: tuple[int, int | None] = (0, None)  # last progress reported
        self.features = (
            RunFeatures(collection.features(), conn, collection.id)
            if collection.local_features
            else None
        )

    def _report(self, done: int, total: int | None, message: str = "") -> None:
        self.position = (done, total)
        if self.progress is not None:
            self.progress(done, total, message)

    def execute(
        self,
        roots: list[str],
        remove_missing: bool,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> IndexReport:
        self.progress, self.cancel = progress, cancel
        embedder = self.c.embedder()
        info = embedder.info
        files = scan(roots) if roots else []
        existing = {p.path: p for p in catalogue.photos(self.conn, self.c.id)}
        todo, replaced = self._triage(files, existing)
        if remove_missing:
            seen = {str(f) for f in files}
            self._remove([p for path, p in existing.items() if path not in seen])
        batches = (
            (batch.items, batch.ok, batch.vectors, replaced)
            for batch in embed_files(
                todo,
                embedder,
                info.image_size,
                info.mean,
                info.std,
                progress=self._report,
                cancel=cancel,
                local_features=self.features is not None,
            )
        )

        def begin() -> None:
            if self.features is not None:
                self.features.start()

        def finish() -> None:  # rows first: features of photos indexed earlier come after
            if self.features is not None:
                model_input = (info.image_size, tuple(info.mean), tuple(info.std))
                self.features.complete(model_input, self._report, cancel)
                self.features.start()  # drop the records of photos this run removed

        resume = "run `sciceapp collection update` to finish"
        return self._consume(batches, "Indexing", resume, begin, finish)

    def import_shards(
        self, files: list[Path], progress: ProgressFn | None, cancel: CancelToken | None
    ) -> IndexReport:
        """Rows of shards (checked by the caller) into the collection, a row group at a time:
        a photo already there with the same content is left alone (a second import of a
        shard adds nothing), one whose content changed is replaced."""
        self.progress, self.cancel = progress, cancel
        existing = {p.path: p for p in catalogue.photos(self.conn, self.c.id)}
        from sciceapp.engine import shards  # pyarrow: only for imports and exports

        handles = [shards.read_meta(path)[1] for path in files]
        total = sum(h.metadata.num_rows for h in handles)
        seen: set[str] = set()

        def batches():
            done = 0
            for handle in handles:
                for rows, vectors, valid in shards.read_shard(handle, self.c.descriptor_dim):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    items, keep, replaced = [], [], {}
                    for row, has_vector in zip(rows, valid, strict=True):
                        old = existing.get(row["path"])
                        if row["path"] in seen or (
                            old is not None
                            and old.sha256 == row["sha256"]
                            and old.size == row["size"]
                        ):
                            self.report.unchanged += 1
                            keep.append(False)
                            continue
                        seen.add(row["path"])
                        item = _shard_item(row, bool(has_vector))
                        if old is not None:
                            replaced[row["path"]] = old
                        items.append(item)
                        keep.append(item.error is None)
                    done += len(rows)
                    self._report(done, total)
                    ok = [item for item in items if item.error is None]
                    yield items, ok, vectors[np.asarray(keep, bool)], replaced

        return self._consume(batches(), "Import", "run the same import again to finish")

    def _consume(self, batches, job: str, resume: str, begin=None, finish=None) -> IndexReport:
        """Write ``(items, ok, vectors, replaced)`` batches with checkpoints (module docstring),
        calling ``begin()`` first and ``finish()`` after the last save; on cancel keep what is
        finished, on any failure go back to the last save."""
        last_save = time.monotonic()
        try:
            if begin is not None:
                begin()
            for items, ok, vectors, replaced in batches:
                self._write_batch(items, ok, vectors, replaced)
                if time.monotonic() - last_save >= self.c.checkpoint_s:
                    self._save()
                    last_save = time.monotonic()
            self._save()
            if finish is not None:
                finish()
        except (CancelledError, KeyboardInterrupt) as exc:
            self._save(convert=False)  # keep every finished batch, quickly
            self.report.cancelled = True
            error = CancelledError(
                f"{job} of {self.c.name!r} cancelled: {self.report.added} added and "
                f"{self.report.updated} updated photos are kept; {resume}."
            )
            error.report = self.report  # type: ignore[attr-defined]
            raise error from exc
        except OSError as exc:
            self._rollback()
            raise self._write_error(exc) from exc
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise _catalogue_error(exc) from exc
        except BaseException:
            # Anything else: go back to the last consistent save, nothing more.
            self._rollback()
            raise
        return self.report

    def _triage(
        self, files: list[Path], existing: dict[str, PhotoRecord]
    ) -> tuple[list[Path], dict[str, PhotoRecord]]:
        todo: list[Path] = []
        replaced: dict[str, PhotoRecord] = {}
        touched: list[tuple[int, int]] = []
        for path in files:
            row = existing.get(str(path))
            if row is None:
                todo.append(path)
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished since the scan; update() removes it next time
            if row.size == stat.st_size and row.mtime_ns == stat.st_mtime_ns:
                self.report.unchanged += 1
            elif row.size == stat.st_size and row.sha256 == sha256_file(path):
                touched.append((stat.st_mtime_ns, row.id))  # touched, same bytes
                self.report.unchanged += 1
            else:
                todo.append(path)
                replaced[str(path)] = row
        catalogue.set_mtimes(self.conn, touched)
        return todo, replaced

    def _remove(self, gone: list[PhotoRecord]) -> None:
        if not gone:
            return
        with catalogue.transaction(self.conn):
            catalogue.mark_deleted(self.conn, self.gen, [p.id for p in gone])
        indexed = [p.id for p in gone if p.state == "indexed"]
        self.writer.delete(indexed)
        if self.index is not None:
            self.index.remove(indexed)
        self.report.removed += len(gone)
        self.dirty = True

    def _write_batch(
        self,
        items: list[Prepared],
        ok: list[Prepared],
        vectors: np.ndarray,
        replaced: dict[str, PhotoRecord],
    ) -> None:
        new_ids: dict[int, int] = {}  # id(item) -> row id
        old_ids: list[int] = []
        with catalogue.transaction(self.conn):
            for item in items:
                old = replaced.get(str(item.path))
                if old is not None:
                    catalogue.mark_deleted(self.conn, self.gen, [old.id])
                    if old.state == "indexed":
                        old_ids.append(old.id)
                new_ids[id(item)] = self._insert(item)
                if item.error is not None:
                    self.report.skipped.append((str(item.path), item.error))
                elif old is not None:
                    self.report.updated += 1
                else:
                    self.report.added += 1
        added = [new_ids[id(item)] for item in ok]
        try:
            self.writer.delete(old_ids)
            if ok:
                self.writer.append(added, vectors)
        except OSError as exc:
            self._rollback()
            raise self._write_error(exc) from exc
        if self.index is not None:
            self.index.remove(old_ids)
            if ok:
                self.index.add(added, vectors)
        if ok and self.features is not None:
            self.features.add(ok, added)
        self.dirty = True

    def _insert(self, item: Prepared) -> int:
        meta = item.meta
        gps = meta.gps if meta else None
        return catalogue.insert_photo(
            self.conn,
            catalogue.NewPhoto(
                collection_id=self.c.id,
                path=str(item.path),
                size=item.size,
                mtime_ns=item.mtime_ns,
                sha256=item.sha256,
                lat=gps.lat if gps else None,
                lon=gps.lon if gps else None,
                alt=gps.alt if gps else None,
                gps_reason=meta.gps_reason if meta else None,
                capture_time=meta.capture_time if meta else None,
                skip_reason=item.error,
                model_sha256=self.c.model_sha256,
                gen=self.gen,
            ),
        )

    def _convert_if_due(self, pending: store.Segment) -> IndexState | None:
        """Build the trained kind asked for from the store, once there are enough photos.

        Runs inside a checkpoint, after the store's new segment is fsynced and before the
        save: the trained index becomes this generation's file, so a crash at any point keeps
        the previous save. A failed conversion keeps exact search, says why, and is retried at
        the next save; a cancelled one (also while faiss trains) keeps exact search quietly.
        """
        c = self.c
        if c.index_kind == "flat" or self.kind_used == c.index_kind:
            return None
        reader = self.writer.reader(pending)
        if conversion.flat_reason(
            c.index_kind, c.descriptor_dim, c.index_params, reader.live_count
        ):
            return None
        if self.cancel is not None and self.cancel.cancelled:
            return None
        self._report(
            *self.position,
            f"converting the index to {c.index_kind} ({reader.live_count} photos, may take "
            "minutes; cancel keeps exact search)",
        )
        try:
            index, recall = conversion.convert(
                reader, c.index_kind, c.index_params, cancel=self.cancel
            )
        except CancelledError as exc:
            log.info("collection %r: conversion to %s cancelled", c.name, c.index_kind)
            self.cancelled_conversion = exc  # raised once this save is committed
            return None
        except Exception as exc:  # noqa: BLE001 - any failure: stay exact, lose nothing
            note = (
                f"converting to {c.index_kind} failed ({exc}); exact search is kept and the "
                "conversion is retried at the next add or update"
            )
            log.warning("collection %r: %s", c.name, note)
            self.dirty = True
            return IndexState("flat", None, note)
        self.index, self.kind_used, self.dirty = index, c.index_kind, True
        return IndexState(c.index_kind, recall, None)

    def _write_error(self, exc: OSError) -> CollectionError:
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

    def _save(self, convert: bool = True) -> None:
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
            self._rollback()
            raise self._write_error(exc) from exc
        committed = segment if (segment.rows or segment.deleted) else None
        try:
            catalogue.commit_saved(self.conn, self.c.id, self.gen, state, committed, index_sha)
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise _catalogue_error(exc) from exc
        if committed is not None:
            self.writer.committed(committed)
        for old in self.c.folder.iterdir():
            match = INDEX_FILE.match(old.name)
            # Older generations, and temp files of saves that a crash interrupted.
            temp = old.suffix == TEMP_SUFFIX and old.name.lstrip(".").startswith("index-")
            if temp or (match and (self.index is None or int(match[1]) != self.gen)):
                old.unlink(missing_ok=True)
        self.gen += 1
        self.dirty = False
        self._raise_cancelled_conversion()

    def _raise_cancelled_conversion(self) -> None:
        """A conversion cancelled in this save: the save kept exact search; now say so."""
        if self.cancelled_conversion is not None:
            cancelled, self.cancelled_conversion = self.cancelled_conversion, None
            raise cancelled

    def _rollback(self) -> None:
        try:
            self.writer.rollback()
        except (OSError, SciceappError):
            log.exception("could not cut the store back; the next run will")
        try:
            catalogue.rollback_unsaved(self.conn, self.c.id)
        except (sqlite3.Error, SciceappError):
            log.exception("could not roll the catalogue back; the next run will")
