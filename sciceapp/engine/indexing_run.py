"""One indexing run of a collection: the commands, the batches and how a run ends.

A run holds the collection's write lock and works in generation ``G = saved_gen + 1`` (the
write order that keeps the catalogue, the store and the index file in agreement is in
``collection.py``). What each command looks at and which files are new or changed is
``indexing_triage.py``; saving, converting and rolling back is ``indexing_checkpoints.py``.
A run comes in two flavours that share everything after the input:
:meth:`IndexingRun.execute` embeds files found under the roots, :meth:`IndexingRun.import_shards`
takes rows described elsewhere (``collection_shards.py``).
"""

from __future__ import annotations

import shlex
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue, indexing_triage, model_kinds, model_start
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.classical_model import VOCABULARY_PREFIX, learn_vocabulary
from sciceapp.engine.collection_features import RunFeatures
from sciceapp.engine.indexing_checkpoints import Checkpoints, catalogue_error
from sciceapp.engine.pipeline import GlobalModel, Prepared, embed_files, scan
from sciceapp.errors import CancelledError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection


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


class IndexingRun:
    """One write pass under the collection's lock (see ``collection.py``).

    ``fresh`` (a rebuild): the store starts empty (``indexing_checkpoints.py``), and every
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
        self.report = IndexReport()
        self.progress = progress
        self.cancel = cancel
        self.position: tuple[int, int | None] = (0, None)  # last progress reported
        self.features = (
            RunFeatures(collection.features(), conn, collection.id)
            if collection.local_features
            else None
        )
        self.saves = Checkpoints(
            collection,
            conn,
            fresh=fresh,
            features=self.features,
            cancel=cancel,
            announce=lambda message: self._report(*self.position, message),
        )
        self.existing = {p.path: p for p in catalogue.photos(conn, collection.id)}
        self._model: GlobalModel | None = None

    def close(self) -> None:
        self.saves.close()

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
        self.model()
        scope = indexing_triage.update_scope(self.conn, self.c, self.existing, prune_missing)
        self.report.missing_roots = scope.missing_roots
        self.report.missing_photos = scope.missing_photos
        return self.execute(scope.files, scope.gone)

    def remove_folder(self, root: str) -> IndexReport:
        scope = indexing_triage.remove_folder_scope(self.conn, self.c, self.existing, root)
        return self.execute(scope.files, scope.gone)

    def rebuild(self) -> IndexReport:
        scope = indexing_triage.rebuild_scope(self.conn, self.c, self.existing)
        return self.execute(scope.files, scope.gone, force=True)

    # -- the shared pass ---------------------------------------------------------------------
    def execute(
        self,
        files: list[Path],
        gone: list[PhotoRecord],
        new_roots: list[str] | None = None,
        force: bool = False,
    ) -> IndexReport:
        embedder = self.model()  # opens while the photos are decoded
        triage = indexing_triage.triage(self.conn, files, self.existing, force)
        todo, replaced = triage.todo, triage.replaced
        self.report.unchanged += triage.unchanged
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
                    self.saves.save()
                    last_save = time.monotonic()
            self.saves.save()
            if finish is not None:
                finish()
        except (CancelledError, KeyboardInterrupt) as exc:
            self.saves.save(convert=False)  # keep every finished batch, quickly
            self.report.cancelled = True
            error = CancelledError(
                f"{job} of {self.c.name!r} cancelled: {self.report.added} added and "
                f"{self.report.updated} updated photos are kept; {resume}."
            )
            error.report = self.report  # type: ignore[attr-defined]
            raise error from exc
        except OSError as exc:
            self.saves.rollback()
            raise self.saves.write_error(exc) from exc
        except sqlite3.OperationalError as exc:
            self.saves.rollback()
            raise catalogue_error(exc) from exc
        except BaseException:
            # Anything else: go back to the last consistent save, nothing more.
            self.saves.rollback()
            raise
        return self.report

    def _remove(self, gone: list[PhotoRecord]) -> None:
        if not gone:
            return
        with catalogue.transaction(self.conn):
            catalogue.mark_deleted(self.conn, self.saves.gen, [p.id for p in gone])
        indexed = [p.id for p in gone if p.state == "indexed"]
        self.saves.writer.delete(indexed)
        if self.saves.index is not None:
            self.saves.index.remove(indexed)
        self.report.removed += len(gone)
        self.saves.dirty = True

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
                    catalogue.mark_deleted(self.conn, self.saves.gen, [old.id])
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
            self.saves.writer.delete(old_ids)
            if ok:
                self.saves.writer.append(added, vectors)
        except OSError as exc:
            self.saves.rollback()
            raise self.saves.write_error(exc) from exc
        if self.saves.index is not None:
            self.saves.index.remove(old_ids)
            if ok:
                self.saves.index.add(added, vectors)
        if ok and self.features is not None:
            self.features.add(ok, added)
        self.saves.dirty = True

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
                gen=self.saves.gen,
            ),
        )
