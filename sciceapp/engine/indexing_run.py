"""One indexing run of a collection: triage, batches, checkpoints, conversion, rollback.

A run holds the collection's write lock and works in generation ``G = saved_gen + 1`` (the
write order that keeps the catalogue, the store and the index file in agreement is in
``collection.py``). It comes in two flavours that share everything after the input:
:meth:`IndexingRun.execute` embeds files found under the roots, :meth:`IndexingRun.import_shards`
takes rows described elsewhere (``collection_shards.py``).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.atomic import TEMP_SUFFIX, is_disk_full
from sciceapp.engine import catalogue, conversion, model_kinds, model_start, store
from sciceapp.engine.catalogue import IndexState, PhotoRecord
from sciceapp.engine.classical_model import VOCABULARY_PREFIX, learn_vocabulary
from sciceapp.engine.collection_features import RunFeatures
from sciceapp.engine.images import MAX_FILE_BYTES
from sciceapp.engine.index import VectorIndex
from sciceapp.engine.pipeline import GlobalModel, Prepared, embed_files, scan
from sciceapp.errors import CancelledError, CollectionError, SciceappError
from sciceapp.progress import CancelToken, ProgressFn
from sciceapp.reading import sha256_file

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
    missing_roots: list[str] = field(default_factory=list)  # not found: photos kept
    missing_photos: int = 0  # photos kept under missing_roots


def _sha256_or_none(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read (embedding then says why)."""
    try:
        return sha256_file(path, MAX_FILE_BYTES)
    except OSError:
        return None


def _under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


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


def _catalogue_error(exc: sqlite3.OperationalError) -> CollectionError:
    return CollectionError(
        f"The catalogue could not be written ({exc}); the disk may be full. Nothing "
        "stored was lost: free some space and run `sciceapp collection update`."
    )


class IndexingRun:
    """One write pass under the collection's lock (see ``collection.py``).

    ``fresh`` (a rebuild): the store starts empty (the catalogue forgot its segments before
    this run, so a crash leaves a collection that the next rebuild starts again), and every
    photo is embedded again.
    """

    def __init__(
        self,
        collection: Collection,
        conn: sqlite3.Connection,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        fresh: bool = False,
    ) -> None:
        self.c = collection
        self.conn = conn
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
        self.dirty = fresh
        self.cancelled_conversion: CancelledError | None = None
        self.report = IndexReport()
        self.progress = progress
        self.cancel = cancel
        self.position: tuple[int, int | None] = (0, None)  # last progress reported
        self.features = (
            RunFeatures(collection.features(), conn, collection.id)
            if collection.local_features
            else None
        )
        self.existing = {p.path: p for p in catalogue.photos(conn, collection.id)}
        self._model: GlobalModel | None = None

    def _report(self, done: int, total: int | None, message: str = "") -> None:
        self.position = (done, total)
        if self.progress is not None:
            self.progress(done, total, message)

    # -- the commands ------------------------------------------------------------------------
    def model(self) -> GlobalModel:
        """The collection's model, starting (in a thread) at the first call: commands call
        it before scanning, so the session opens while the folders are walked too."""
        if self._model is None:
            self._model = self.c.starting_embedder()
        return self._model

    def add(self, roots: list[str]) -> IndexReport:
        self.model()
        return self.execute(scan(roots), gone=[], new_roots=roots)

    def update(self, prune_missing: bool) -> IndexReport:
        roots = catalogue.roots(self.conn, self.c.id)
        present = [root for root in roots if os.path.exists(root)]
        self.model()
        files = scan(present)
        found = {str(f) for f in files}
        missing = [root for root in roots if root not in present]
        # A folder that had photos and now shows none is most likely an unmounted share's
        # mount point: deleting every photo because of it would be the costly mistake.
        missing += [
            root
            for root in present
            if not any(_under(path, root) for path in found)
            and any(_under(path, root) for path in self.existing)
        ]
        kept = [] if prune_missing else missing
        gone = [
            p
            for path, p in self.existing.items()
            if path not in found and not any(_under(path, root) for root in kept)
        ]
        with catalogue.transaction(self.conn):
            if prune_missing:
                catalogue.remove_roots(
                    self.conn, self.c.id, [r for r in missing if r not in present]
                )
            catalogue.mark_missing_roots(self.conn, self.c.id, kept)
        for root in kept:
            log.warning("%s was not found; its photos in %r are kept", root, self.c.name)
        self.report.missing_roots = kept
        self.report.missing_photos = sum(
            1 for path in self.existing if any(_under(path, root) for root in kept)
        )
        return self.execute(files, gone)

    def remove_folder(self, root: str) -> IndexReport:
        roots = catalogue.roots(self.conn, self.c.id)
        if root not in roots:
            raise CollectionError(
                f"{root} is not a folder of collection {self.c.name!r}; its folders are: "
                f"{', '.join(roots) or 'none'}."
            )
        others = [r for r in roots if r != root]
        gone = [
            p
            for path, p in self.existing.items()
            if _under(path, root) and not any(_under(path, other) for other in others)
        ]
        with catalogue.transaction(self.conn):
            catalogue.remove_roots(self.conn, self.c.id, [root])
        return self.execute([], gone)

    def rebuild(self) -> IndexReport:
        roots = catalogue.roots(self.conn, self.c.id)
        missing = [root for root in roots if not os.path.exists(root)]
        if missing:
            raise CollectionError(
                f"Cannot rebuild {self.c.name!r}: {', '.join(missing)} not found. Plug the drive "
                f"in (or mount the share), or drop the folder with `sciceapp collection "
                f"remove-folder {self.c.name} FOLDER`, then rebuild."
            )
        files = scan(roots)
        found = {str(f) for f in files}
        gone = [p for path, p in self.existing.items() if path not in found]
        return self.execute(files, gone, force=True)

    # -- the shared pass ---------------------------------------------------------------------
    def execute(
        self,
        files: list[Path],
        gone: list[PhotoRecord],
        new_roots: list[str] | None = None,
        force: bool = False,
    ) -> IndexReport:
        embedder = self.model()  # opens while the photos are decoded
        todo, replaced = self._triage(files, self.existing, force)
        # Recorded only now that the command runs: a refused or failed start records nothing.
        if new_roots:
            with catalogue.transaction(self.conn):
                catalogue.add_roots(self.conn, self.c.id, new_roots)
        self._remove(gone)
        cancel = self.cancel
        model: list[GlobalModel] = [embedder]

        def batches():
            if not embedder.info.trained and todo:
                model[0] = self._learn_model(todo)
            for batch in embed_files(
                todo,
                model[0],
                progress=self._report,
                cancel=cancel,
                local_features=self.features is not None,
            ):
                yield batch.items, batch.ok, batch.vectors, replaced

        def begin() -> None:
            if self.features is not None:
                self.features.start()

        def finish() -> None:  # rows first: features of photos indexed earlier come after
            model[0] = model_start.ready(model[0])  # a model that cannot start fails the job
            if self.features is not None:
                self.features.complete(model[0], self._report, cancel)
                self.features.start()  # drop the records of photos this run removed

        resume = f"run `sciceapp collection update {shlex.quote(self.c.name)}` to finish"
        return self._consume(batches(), "Indexing", resume, begin, finish)

    def _learn_model(self, todo: list[Path]) -> GlobalModel:
        """A model that learns from its collection (the classical vocabulary,
        ``classical_model.py``): learn it from this run's photos, then switch the collection
        to it in one transaction, before any photo row of this run exists."""
        c = self.c
        path = learn_vocabulary(todo, c.folder, progress=self._report, cancel=self.cancel)
        sha256 = model_kinds.fingerprint(path)
        catalogue.set_model(self.conn, c.id, str(path), sha256)
        for old in c.folder.glob(f"{VOCABULARY_PREFIX}*.npz"):
            if old != path:
                old.unlink(missing_ok=True)  # left by an attempt that died before the switch
        c.model_switched(path, sha256)
        return c.embedder()

    def import_shards(self, files: list[Path]) -> IndexReport:
        """Rows of shards (checked by the caller) into the collection, a row group at a time
        (``collection_shards.import_batches``)."""
        from sciceapp.engine.collection_shards import import_batches  # pyarrow: only here

        batches = import_batches(self, files)
        return self._consume(batches, "Import", "run the same import again to finish")

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
        self, files: list[Path], existing: dict[str, PhotoRecord], force: bool = False
    ) -> tuple[list[Path], dict[str, PhotoRecord]]:
        todo: list[Path] = []
        replaced: dict[str, PhotoRecord] = {}
        touched: list[tuple[int, int]] = []
        for path in files:
            row = existing.get(str(path))
            if row is None:
                todo.append(path)
                continue
            if force:
                todo.append(path)
                replaced[str(path)] = row
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished since the scan; update() removes it next time
            if row.size == stat.st_size and row.mtime_ns == stat.st_mtime_ns:
                self.report.unchanged += 1
            elif row.size == stat.st_size and row.sha256 == _sha256_or_none(path):
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
        self._report(
            *self.position,
            f"converting the index to {target} ({reader.live_count} photos, may take "
            "minutes; cancel keeps exact search)",
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
        _remove_stale_files(self.c.folder, self.gen if self.index is not None else None)
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
        except (sqlite3.Error, SciceappError) as exc:
            # Expected when the disk is full; harmless: the next run starts with this rollback.
            log.warning("the catalogue is rolled back at the next run (not now: %s)", exc)
