"""One reference collection: photos embedded with one model, catalogued, their descriptors in an
append-only store, searched exactly or through a trained faiss index.

Files of a collection live in ``<data>/collections/<id>/``: the descriptor store
(``store/``, see ``store.py``), for the trained kinds ``index-<gen>.faiss`` (the faiss index
saved at generation ``gen``, faiss' own format), and the write lock. Every photo has one row
in the shared ``catalogue.sqlite`` (see ``catalogue/``).

Why the catalogue, the store and the index file always agree, even after kill -9 or a full
disk: a run works in generation ``G = saved_gen + 1``. Each batch commits its catalogue rows
(tagged ``gen = G``; deletions only marked with ``deleted_gen = G``) and appends their vectors
(and deleted ids) to the store's files. A checkpoint fsyncs the store, saves a trained
kind's index as ``index-G.faiss`` (atomic: temp file, fsync, rename), and only then commits,
in one transaction, ``saved_gen = G``, the store segment that G appended, and the purge of the
marked deletions; then it removes the older index file. Whatever dies in between, the
catalogue names committed store segments and a complete index file, and a new run turns
everything back into exactly that (``rollback_unsaved``; the store writer cuts its files back
to the committed segments): rows newer than the save are dropped and re-embedded on the next
run, undone deletions come back. Checkpoints append; nothing stored is rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue, collection_shards, conversion, model_kinds, open_index, store
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.collection_summary import CollectionSummary, summarize
from sciceapp.engine.embedder_cache import shared_embedder
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.index import IndexParams, check_params, params_from_dict
from sciceapp.engine.indexing_run import IndexingRun, IndexReport
from sciceapp.engine.locking import collection_lock
from sciceapp.engine.migration import migrate_legacy, needs_migration
from sciceapp.engine.onnx_model import ModelInfo
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.pipeline import GlobalModel, require_paths
from sciceapp.errors import CollectionError, ModelError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.library import Library

log = logging.getLogger(__name__)

COLLECTIONS_DIR = "collections"
CHECKPOINT_S = 60.0
"""Seconds between saves during a run: at most this much work is redone after a crash."""


@dataclass(frozen=True)
class CollectionOptions:
    """How an opened collection runs its jobs (given when it is opened, never changed)."""

    provider: str = "auto"  # ONNX Runtime execution provider
    batch_size: int | None = None  # images per model call (None: the provider's choice)
    checkpoint_s: float = CHECKPOINT_S


class Collection:
    """One reference collection. Writes (``add``, ``update``, ``import_shards``) hold its
    cross-process lock. Opened by ``Library.open_collection`` with its options."""

    def __init__(
        self, library: Library, row: sqlite3.Row, options: CollectionOptions | None = None
    ) -> None:
        self.library = library
        self.options = options or CollectionOptions()
        self._row = row
        self.id: int = row["id"]
        self.name: str = row["name"]
        self.model_path = Path(row["model_path"])
        self.model_sha256: str = row["model_sha256"]
        self.model_label: str = row["model_label"]
        self.model_random_init = bool(row["model_random_init"])
        self.descriptor_dim: int = row["descriptor_dim"]
        self.index_kind: str = row["index_kind"]
        self.created: str = row["created"]
        self.uid: str = row["uid"]
        self.index_params = self._stored_params(row["index_params"])
        self.folder = library.data_dir / COLLECTIONS_DIR / str(self.id)
        self.store_dtype: str = row["store_dtype"]
        self.local_features = bool(row["local_features"])
        self._features: FeatureStore | None = None
        self._embedder: GlobalModel | None = None

    def _stored_params(self, stored: str | None) -> IndexParams:
        """The index settings as the catalogue has them, checked like those given to create."""
        try:
            params = params_from_dict(json.loads(stored)) if stored else IndexParams()
            return check_params(
                conversion.checked_kind(self.index_kind), self.descriptor_dim, params
            )
        except (ValueError, TypeError) as exc:
            raise catalogue.damaged(
                self.library.data_dir,
                f"collection {self.name!r} has index settings that cannot be used "
                f"(kind {self.index_kind!r}, settings {stored}: {exc})",
            ) from exc

    @property
    def provider(self) -> str:
        return self.options.provider

    @property
    def batch_size(self) -> int | None:
        return self.options.batch_size

    @property
    def checkpoint_s(self) -> float:
        return self.options.checkpoint_s

    def with_options(self, **changes: object) -> Collection:
        """The same collection opened with other options (``CollectionOptions`` fields)."""
        return Collection(self.library, self._row, replace(self.options, **changes))

    # -- the model -----------------------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo:
        """The model file's metadata, after checking it is still the file this collection uses."""
        self._check_model()
        return model_kinds.read_info(self.model_path)

    def _check_model(self) -> None:
        if not model_kinds.exists(self.model_path):
            raise ModelError(
                f"The model file of collection {self.name!r} is missing: {self.model_path}. Put it "
                "back, or re-create the collection with another model."
            )
        found = model_kinds.fingerprint(self.model_path)
        if found != self.model_sha256:
            raise ModelError(
                f"The model file {self.model_path} is not the one collection {self.name!r} was "
                f"built with (fingerprint {found[:12]}, expected {self.model_sha256[:12]}). "
                "Descriptors of different models cannot be mixed: restore the original file, or "
                "re-create the collection (`sciceapp collection remove`, then `create` and `add`) "
                "to re-embed its photos with the new model."
            )

    def embedder(self) -> GlobalModel:
        """The collection's model, ready to describe photos (an ONNX Runtime session is
        created once per process and model, and reused)."""
        if self._embedder is None:
            self._check_model()
            self._embedder = shared_embedder(
                self.model_path,
                self.model_sha256,
                self.provider,
                self.batch_size,
                tuning_dir=self.library.data_dir,
            )
        return self._embedder

    def model_switched(self, path: Path, sha256: str) -> None:
        """The collection now uses the model file ``path`` (one that learns from its photos,
        ``IndexingRun._learn_model``, after the catalogue recorded it)."""
        self.model_path, self.model_sha256, self._embedder = path, sha256, None

    def features(self) -> FeatureStore:
        """The collection's stored local features (``feature_store.py``)."""
        if self._features is None:
            self._features = FeatureStore(self.folder)
        return self._features

    def set_local_features(
        self, on: bool, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> IndexReport:
        """Switch local features on (extracting them for every indexed photo, without
        re-embedding: the run is an ``update``) or off (their file is deleted)."""
        with self.locked() as conn:
            catalogue.set_local_features(conn, self.id, on)
            self.local_features = on
            if not on:
                self.features().remove()
        return self.update(progress, cancel) if on else IndexReport()

    # -- reading ---------------------------------------------------------------------------
    def photos(self, state: str | None = None) -> list[PhotoRecord]:
        with closing(self.library.connect()) as conn:
            return catalogue.photos(conn, self.id, state)

    def summary(self) -> CollectionSummary:
        """Counts, model, index kind in use and why, local features (``collection_summary``)."""
        return summarize(self)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Move a collection written before the descriptor store into one (no re-embedding)."""
        if migrate_legacy(
            conn, self.id, self.folder, self.descriptor_dim, self.store_dtype, self.uid
        ):
            log.info("collection %r moved to the descriptor store", self.name)

    def store_reader(self, segments: list[store.Segment]) -> store.DescriptorStore:
        """The committed rows of the collection's store (checked to be its own)."""
        return store.DescriptorStore(
            self.folder, self.descriptor_dim, self.store_dtype, segments, self.uid, self.name
        )

    def index(self) -> OpenIndex:
        """What searches run on, as last saved: kept open across calls (and across
        ``Collection`` objects of this process) until another run saves a newer generation.
        Checked when opened to be this collection's and to hold exactly the catalogue's
        indexed rows (else: `rebuild`)."""
        with closing(self.library.connect()) as conn:
            if needs_migration(conn, self.id, self.folder):
                with self.locked() as locked_conn:
                    self._migrate(locked_conn)
            saved = catalogue.saved_state(conn, self.id)
            segments = catalogue.segments(conn, self.id)

            def load() -> OpenIndex:
                fix = store.FIX.format(name=self.name)
                opened = open_index.load(
                    self.folder,
                    saved.gen,
                    saved.kind_used,
                    self.index_params,
                    self.store_reader(segments),
                    saved.index_sha256,
                    fix,
                )
                open_index.check_rows(opened, catalogue.indexed_ids(conn, self.id), fix)
                return opened

            return open_index.opened(self.folder, saved.gen, load)

    def search(self, descriptors: np.ndarray, k: int) -> list[list[tuple[PhotoRecord, float]]]:
        """Top-``k`` indexed photos per query: ``descriptors [Q, D]`` -> Q lists of (photo, score)."""
        index = self.index()
        k = max(1, min(k, index.ntotal))  # never allocate results for photos that do not exist
        scores, ids = index.search(np.atleast_2d(descriptors), k)
        with closing(self.library.connect()) as conn:
            records = catalogue.photos_by_id(conn, ids.ravel().tolist())
        return [
            [
                (records[int(i)], float(s))
                for s, i in zip(row_scores, row_ids, strict=True)
                if int(i) in records
            ]
            for row_scores, row_ids in zip(scores, ids, strict=True)
        ]

    # -- writing ---------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Add files and folders (recursively); new and changed files are embedded."""
        roots = [str(Path(p).expanduser().absolute()) for p in paths]
        if not roots:
            raise CollectionError("Nothing to add: give at least one file or folder.")
        require_paths(roots)  # refuse a missing path before recording anything
        return self._run(lambda run: run.add(roots), progress, cancel)

    def update(
        self,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        *,
        prune_missing: bool = False,
    ) -> IndexReport:
        """Re-scan every added path: embed new and changed files, drop deleted ones.

        A folder that is not found (an unplugged drive, an unmounted share: also a folder that
        had photos and now shows none) keeps its photos and is reported in
        ``IndexReport.missing_roots``; ``prune_missing`` drops them instead.
        """
        return self._run(lambda run: run.update(prune_missing), progress, cancel)

    def remove_folder(
        self,
        path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Stop tracking a file or folder given to ``add``, and drop its photos."""
        root = str(Path(path).expanduser().absolute())
        return self._run(lambda run: run.remove_folder(root), progress, cancel)

    def rebuild(
        self, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> IndexReport:
        """A new store and index from the catalogue's photo list: every photo is embedded
        again (the way out of a damaged, lost or foreign store or index file)."""
        return self._run(lambda run: run.rebuild(), progress, cancel, fresh=True)

    def import_shards(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Add the photos of Parquet shards (files or folders of them; ``docs/shards.md``)
        described elsewhere with this collection's model. Every shard is checked before
        anything is stored; a shard of another model is refused, naming both."""
        files = collection_shards.checked_shards(self, paths)
        return self._run(lambda run: run.import_shards(files), progress, cancel)

    def export_shards(
        self,
        folder: str | os.PathLike[str],
        rows_per_shard: int = 100_000,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Path]:
        """Write every photo of the collection as it was last saved into shards
        ``shard-00000.parquet``, ... in ``folder``; returns their paths."""
        return collection_shards.export(self, folder, rows_per_shard, progress, cancel)

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The write lock and a catalogue connection for a whole write command.

        What the command opened before is re-read under the lock: a collection removed in
        between is reported as removed (and the folder the lock file needs is not left
        behind), and a damaged catalogue is found before anything is written to it.
        """
        with collection_lock(self.folder, self.name), closing(self.library.connect()) as conn:
            if catalogue.collection_uid(conn, self.id) != self.uid:
                shutil.rmtree(self.folder, ignore_errors=True)
                raise CollectionError(
                    f"Collection {self.name!r} was removed while this command was starting; "
                    "nothing was changed."
                )
            catalogue.check_integrity(conn, self.library.data_dir)
            yield conn

    def _run(
        self,
        job: Callable[[IndexingRun], IndexReport],
        progress: ProgressFn | None,
        cancel: CancelToken | None,
        fresh: bool = False,
    ) -> IndexReport:
        with self.locked() as conn:
            catalogue.rollback_unsaved(conn, self.id)
            if fresh:
                catalogue.forget_store(conn, self.id)  # committed first: see Checkpoints
            else:
                self._migrate(conn)
            run = IndexingRun(self, conn, progress, cancel, fresh)
            try:
                return job(run)
            finally:
                run.close()
                self.features().close()
