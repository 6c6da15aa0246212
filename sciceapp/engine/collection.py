"""One reference collection: photos embedded with one model, catalogued, their descriptors in an
append-only store, searched exactly or through a trained faiss index.

Files of a collection live in ``<data>/collections/<id>/``: the descriptor store
(``store/``, see ``store.py``), for the trained kinds ``index-<gen>.faiss`` (the faiss index
saved at generation ``gen``, faiss' own format), and the write lock. Every photo has one row
in the shared ``catalogue.sqlite`` (see ``catalogue.py``).

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
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue, conversion, open_index, store
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.embedder_cache import shared_embedder
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.index import IndexParams
from sciceapp.engine.indexing_run import IndexingRun, IndexReport
from sciceapp.engine.locking import collection_lock
from sciceapp.engine.migration import migrate_legacy, needs_migration
from sciceapp.engine.onnx_model import Embedder, ModelInfo, model_fingerprint, read_model_info
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.pipeline import require_paths
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


@dataclass
class CollectionSummary:
    name: str
    model_label: str
    model_random_init: bool
    indexed: int
    without_gps: int  # indexed photos that match but cannot vote for a location
    skipped: int
    total: int
    model_path: str = ""
    model_sha256: str = ""
    index_kind: str = "flat"  # the kind asked for
    created: str = ""
    index_kind_used: str = "flat"  # the kind of the saved index (flat until it can train)
    index_recall_at_10: float | None = None  # of a compressed index vs exact, at conversion
    index_flat_reason: str | None = None  # why flat is in use when another kind was asked for
    local_features: bool = False  # the collection's setting
    features_photos: int = 0  # indexed photos that have local features stored
    features_bytes_per_photo: float = 0.0
    features_ms_per_photo: float = 0.0  # extra indexing time per photo (extraction)


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
        stored_params = row["index_params"]
        self.index_params = (
            IndexParams(**json.loads(stored_params)) if stored_params else IndexParams()
        )
        self.folder = library.data_dir / COLLECTIONS_DIR / str(self.id)
        self.store_dtype: str = row["store_dtype"]
        self.local_features = bool(row["local_features"])
        self._features: FeatureStore | None = None
        self._embedder: Embedder | None = None

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
        return read_model_info(self.model_path)

    def _check_model(self) -> None:
        if not self.model_path.is_file():
            raise ModelError(
                f"The model file of collection {self.name!r} is missing: {self.model_path}. Put it "
                "back, or re-create the collection with another model."
            )
        found = model_fingerprint(self.model_path)
        if found != self.model_sha256:
            raise ModelError(
                f"The model file {self.model_path} is not the one collection {self.name!r} was "
                f"built with (fingerprint {found[:12]}, expected {self.model_sha256[:12]}). "
                "Descriptors of different models cannot be mixed: restore the original file, or "
                "re-create the collection (`sciceapp collection remove`, then `create` and `add`) "
                "to re-embed its photos with the new model."
            )

    def embedder(self) -> Embedder:
        """The collection's embedding session (created once per process and model, reused)."""
        if self._embedder is None:
            self._check_model()
            self._embedder = shared_embedder(
                self.model_path, self.model_sha256, self.provider, self.batch_size
            )
        return self._embedder

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
        with collection_lock(self.folder, self.name), closing(self.library.connect()) as conn:
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
        with closing(self.library.connect()) as conn:
            counts = catalogue.photo_counts(conn, self.id)
            state = catalogue.index_note(conn, self.id)
        indexed, without_gps, skipped, total = counts
        kind_used = state["index_kind_used"] if state else "flat"
        flat_reason = None
        if kind_used != self.index_kind:
            flat_reason = (
                conversion.flat_reason(
                    self.index_kind, self.descriptor_dim, self.index_params, indexed
                )
                or (state["index_note"] if state else None)
                or f"it has enough photos and converts to {self.index_kind} at the next add or "
                "update"
            )
        return CollectionSummary(
            name=self.name,
            model_label=self.model_label,
            model_random_init=self.model_random_init,
            indexed=indexed,
            without_gps=without_gps,
            skipped=skipped,
            total=total,
            model_path=str(self.model_path),
            model_sha256=self.model_sha256,
            index_kind=self.index_kind,
            created=self.created,
            index_kind_used=kind_used,
            index_recall_at_10=state["index_recall_at_10"] if state else None,
            index_flat_reason=flat_reason,
            local_features=self.local_features,
            **self._features_summary(),
        )

    def _features_summary(self) -> dict[str, float]:
        with closing(self.library.connect()) as conn:
            live = catalogue.live_indexed(conn, self.id)
        stats = self.features().stats(live)
        return {
            "features_photos": stats.photos,
            "features_bytes_per_photo": stats.bytes_per_photo,
            "features_ms_per_photo": stats.extract_ms_per_photo,
        }

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Move a collection written before the descriptor store into one (no re-embedding)."""
        if migrate_legacy(conn, self.id, self.folder, self.descriptor_dim, self.store_dtype):
            log.info("collection %r moved to the descriptor store", self.name)

    def index(self) -> OpenIndex:
        """What searches run on, as last saved: kept open across calls (and across
        ``Collection`` objects of this process) until another run saves a newer generation."""
        with closing(self.library.connect()) as conn:
            if needs_migration(conn, self.id, self.folder):
                with collection_lock(self.folder, self.name):
                    self._migrate(conn)
            saved = catalogue.saved_state(conn, self.id)
            segments = catalogue.segments(conn, self.id)

        def load() -> OpenIndex:
            store.create(self.folder, self.descriptor_dim, self.store_dtype)  # made before 0.x
            reader = store.DescriptorStore(
                self.folder, self.descriptor_dim, self.store_dtype, segments
            )
            return open_index.load(
                self.folder,
                saved.gen,
                saved.kind_used,
                self.index_params,
                reader,
                saved.index_sha256,
            )

        return open_index.opened(self.folder, saved.gen, load)

    def search(self, descriptors: np.ndarray, k: int) -> list[list[tuple[PhotoRecord, float]]]:
        """Top-``k`` indexed photos per query: ``descriptors [Q, D]`` -> Q lists of (photo, score)."""
        scores, ids = self.index().search(np.atleast_2d(descriptors), k)
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
        with closing(self.library.connect()) as conn:
            catalogue.add_roots(conn, self.id, roots)
        return self._run(roots, remove_missing=False, progress=progress, cancel=cancel)

    def update(
        self, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> IndexReport:
        """Re-scan every added path: embed new and changed files, drop deleted ones."""
        with closing(self.library.connect()) as conn:
            roots = catalogue.roots(conn, self.id)
        present = [root for root in roots if os.path.exists(root)]
        for root in set(roots) - set(present):
            log.warning("%s is gone; its photos are removed from %r", root, self.name)
        return self._run(present, remove_missing=True, progress=progress, cancel=cancel)

    def import_shards(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Add the photos of Parquet shards (files or folders of them; ``docs/shards.md``)
        described elsewhere with this collection's model. Every shard is checked before
        anything is stored; a shard of another model is refused, naming both."""
        from sciceapp.engine import shards

        files = shards.shard_files(paths)
        if not files:
            raise CollectionError("No shards found: give .parquet files or folders of them.")
        for path in files:
            meta, _ = shards.read_meta(path)
            if meta.model_sha256 != self.model_sha256:
                raise CollectionError(
                    f"The shard {path} was described by {meta.model_label} (fingerprint "
                    f"{meta.model_sha256[:12]}), but collection {self.name!r} uses "
                    f"{self.model_label} (fingerprint {self.model_sha256[:12]}). Descriptors "
                    "of different models cannot be mixed: import it into a collection of that "
                    "model."
                )
            if meta.descriptor_dim != self.descriptor_dim:
                raise CollectionError(
                    f"The shard {path} has descriptors of {meta.descriptor_dim} values; "
                    f"collection {self.name!r} has {self.descriptor_dim}."
                )
        with collection_lock(self.folder, self.name), closing(self.library.connect()) as conn:
            catalogue.rollback_unsaved(conn, self.id)
            self._migrate(conn)
            run = IndexingRun(self, conn)
            try:
                return run.import_shards(files, progress, cancel)
            finally:
                run.writer.close()
                self.features().close()

    def export_shards(
        self,
        folder: str | os.PathLike[str],
        rows_per_shard: int = 100_000,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Path]:
        """Write every photo of the collection as it was last saved into shards
        ``shard-00000.parquet``, ... in ``folder``; returns their paths."""
        from sciceapp.engine import shards

        target = Path(folder).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        opened = self.index()
        meta = shards.ShardMeta(self.model_sha256, self.descriptor_dim, self.model_label)
        written: list[Path] = []
        done = 0
        with closing(self.library.connect()) as conn:
            total = self.summary().total
            for page in catalogue.photo_pages(conn, self.id, rows_per_shard):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                path = target / f"shard-{len(written):05d}{shards.SUFFIX}"
                with shards.ShardWriter(path, meta, self.store_dtype) as writer:
                    for start in range(0, len(page), shards.ROW_GROUP_ROWS):
                        part = page[start : start + shards.ROW_GROUP_ROWS]
                        writer.write(_shard_rows(part, opened))
                        done += len(part)
                        if progress is not None:
                            progress(done, total, str(path.name))
                written.append(path)
        return written

    def _run(
        self,
        roots: list[str],
        remove_missing: bool,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> IndexReport:
        with collection_lock(self.folder, self.name), closing(self.library.connect()) as conn:
            catalogue.rollback_unsaved(conn, self.id)
            self._migrate(conn)
            run = IndexingRun(self, conn)
            try:
                return run.execute(roots, remove_missing, progress, cancel)
            finally:
                run.writer.close()
                self.features().close()


def _shard_rows(records: list[PhotoRecord], opened: OpenIndex) -> list:
    from sciceapp.engine.shards import ShardRow

    indexed = [r.id for r in records if r.state == "indexed"]
    try:
        vectors = dict(
            zip(indexed, opened.store.vectors_of(np.array(indexed, np.int64)), strict=True)
        )
    except KeyError as exc:
        raise CollectionError(
            "Some photos of this collection were indexed before the descriptor store and only "
            "their compressed codes were kept; run `sciceapp collection update` after "
            "re-creating it to export full descriptors."
        ) from exc
    return [
        ShardRow(
            r.path,
            r.size,
            r.mtime_ns,
            r.sha256,
            r.lat,
            r.lon,
            r.alt,
            r.capture_time,
            r.gps_reason,
            r.state,
            r.skip_reason,
            vectors.get(r.id),
        )
        for r in records
    ]


def _shard_rows(records: list[PhotoRecord], opened: OpenIndex) -> list:
    from sciceapp.engine.shards import ShardRow

    indexed = [r.id for r in records if r.state == "indexed"]
    try:
        vectors = dict(
            zip(indexed, opened.store.vectors_of(np.array(indexed, np.int64)), strict=True)
        )
    except KeyError as exc:
        raise CollectionError(
            "Some photos of this collection were indexed before the descriptor store and only "
            "their compressed codes were kept; run `sciceapp collection update` after "
            "re-creating it to export full descriptors."
        ) from exc
    return [
        ShardRow(
            r.path,
            r.size,
            r.mtime_ns,
            r.sha256,
            r.lat,
            r.lon,
            r.alt,
            r.capture_time,
            r.gps_reason,
            r.state,
            r.skip_reason,
            vectors.get(r.id),
        )
        for r in records
    ]
