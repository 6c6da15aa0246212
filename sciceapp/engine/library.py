"""Reference collections: photos embedded with one model, catalogued, their descriptors in an
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
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sciceapp import paths as app_paths
from sciceapp.atomic import TEMP_SUFFIX, is_disk_full
from sciceapp.engine import catalogue, conversion, open_index, store
from sciceapp.engine.catalogue import IndexState, PhotoRecord
from sciceapp.engine.collection_features import RunFeatures, live_indexed
from sciceapp.engine.download import sha256_file
from sciceapp.engine.exif import GeoPoint, PhotoMeta
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.index import KINDS, IndexParams, VectorIndex
from sciceapp.engine.locking import collection_lock
from sciceapp.engine.migration import migrate_legacy, needs_migration
from sciceapp.engine.onnx_model import Embedder, ModelInfo, model_fingerprint, read_model_info
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.pipeline import Prepared, embed_files, require_paths, scan
from sciceapp.errors import CancelledError, CollectionError, ModelError, SciceappError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

__all__ = ["Collection", "CollectionSummary", "IndexReport", "Library", "PhotoRecord"]

COLLECTIONS_DIR = "collections"
CHECKPOINT_S = 60.0
"""Seconds between index saves during a run: at most this much work is redone after a crash."""
MAX_NAME_CHARS = 100
INDEX_FILE = re.compile(r"^index-(\d+)\.faiss$")
"""Checkpoints append to the store every ``checkpoint_s``; a trained kind's index file is
rewritten then too (it is small: ``pq_m + 8`` bytes per photo for ivfpq and twostage)."""
MAX_SESSIONS = 2
"""ONNX Runtime sessions kept per process: the GUI opens a collection per job, and loading
the base model takes seconds, so the last few sessions are reused."""
_SESSIONS: dict[tuple, Embedder] = {}
_SESSIONS_LOCK = threading.Lock()


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


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME_CHARS or any(ord(c) < 32 for c in clean):
        raise CollectionError(
            f"Invalid collection name {name!r}: use 1 to {MAX_NAME_CHARS} printable characters."
        )
    return clean


class Library:
    """All collections of one data folder."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = app_paths.data_dir(data_dir)
        with closing(self.connect()):
            pass  # create or migrate the catalogue now, so errors surface here

    def connect(self) -> sqlite3.Connection:
        """A new catalogue connection (one per job: they are not shared across threads)."""
        return catalogue.connect(self.data_dir)

    def create_collection(
        self,
        name: str,
        model_path: str | os.PathLike[str],
        index_kind: str = "flat",
        index_params: IndexParams | None = None,
        store_dtype: str = "float32",
        local_features: bool = False,
    ) -> Collection:
        """A new, empty collection bound to the model file's fingerprint.

        ``store_dtype``: the type of its stored descriptor rows, ``float32`` (exact search at
        full speed) or ``float16`` (half the disk; exact search converts rows as it reads).

        ``index_kind`` ``pca`` or ``ivfpq`` (with ``index_params``, defaults otherwise) starts
        exact and converts itself once it has enough photos to train (``conversion.py``).
        ``local_features``: store SIFT features of every photo for match verification (the
        command line and the window turn it on unless asked not to). With them, photos are
        decoded once at the size the features need and the model's input is made from that.
        """
        name = _check_name(name)
        if index_kind not in KINDS:
            raise CollectionError(
                f"Index kind {index_kind!r} is not available for collections; choose one of "
                f"{', '.join(KINDS)}."
            )
        info = read_model_info(model_path)
        params = index_params or IndexParams()
        try:
            VectorIndex(info.descriptor_dim, index_kind, params)  # refuse what cannot be built
        except ValueError as exc:
            raise CollectionError(
                f"A {index_kind} index cannot be built for {info.display_name} "
                f"(descriptor size {info.descriptor_dim}): {exc} Choose other index settings "
                "or the flat kind."
            ) from exc
        if store_dtype not in store.DTYPES:
            raise CollectionError(
                f"Descriptor rows can be {' or '.join(store.DTYPES)}, not {store_dtype!r}."
            )
        stored_params = json.dumps(asdict(params)) if index_kind != "flat" else None
        with closing(self.connect()) as conn:
            try:
                with catalogue.transaction(conn):
                    conn.execute(
                        "INSERT INTO collections (name, model_path, model_sha256, model_label, "
                        "model_random_init, descriptor_dim, index_kind, created, index_params, "
                        "store_dtype, local_features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            name,
                            str(info.path),
                            info.sha256,
                            info.display_name,
                            int(info.random_init),
                            info.descriptor_dim,
                            index_kind,
                            catalogue.now_iso(),
                            stored_params,
                            store_dtype,
                            int(local_features),
                        ),
                    )
            except sqlite3.IntegrityError as exc:
                raise CollectionError(
                    f"A collection named {name!r} already exists; pick another name or remove it "
                    "first."
                ) from exc
        log.info("created collection %r with %s", name, info.display_name)
        collection = self.open_collection(name)
        store.create(collection.folder, collection.descriptor_dim, store_dtype)
        return collection

    def open_collection(self, name: str) -> Collection:
        with closing(self.connect()) as conn:
            row = conn.execute("SELECT * FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                known = [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY name")]
                raise CollectionError(
                    f"No collection named {name!r}. Existing: {', '.join(known) or 'none'} "
                    "(create one with `sciceapp collection create`)."
                )
        return Collection(self, row)

    def list_collections(self) -> list[CollectionSummary]:
        with closing(self.connect()) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY name")]
        return [self.open_collection(name).summary() for name in names]

    def remove_collection(self, name: str) -> None:
        """Delete a collection's catalogue rows and files (the photos themselves stay)."""
        collection = self.open_collection(name)
        with collection_lock(collection.folder, name), closing(self.connect()) as conn:
            with catalogue.transaction(conn):
                conn.execute("DELETE FROM collections WHERE id = ?", (collection.id,))
            for path in collection.folder.glob("index-*"):
                path.unlink(missing_ok=True)
        open_index.forget(collection.folder)
        shutil.rmtree(collection.folder, ignore_errors=True)
        log.info("removed collection %r", name)


class Collection:
    """One reference collection. Writes (``add``, ``update``) hold its cross-process lock."""

    def __init__(self, library: Library, row: sqlite3.Row) -> None:
        self.library = library
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
        self.local_features = bool(row["local_features"])
        self._features: FeatureStore | None = None
        self.checkpoint_s = CHECKPOINT_S
        self.provider = "auto"
        self.batch_size: int | None = None
        self.store_dtype: str = row["store_dtype"]
        self._embedder: Embedder | None = None

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
            key = (str(self.model_path), self.model_sha256, self.provider, self.batch_size)
            with _SESSIONS_LOCK:
                embedder = _SESSIONS.pop(key, None)
                if embedder is None:
                    embedder = Embedder(self.model_path, self.provider, batch_size=self.batch_size)
                _SESSIONS[key] = embedder  # most recently used last
                while len(_SESSIONS) > MAX_SESSIONS:
                    _SESSIONS.pop(next(iter(_SESSIONS)))
            self._embedder = embedder
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
            with catalogue.transaction(conn):
                conn.execute(
                    "UPDATE collections SET local_features = ? WHERE id = ?", (int(on), self.id)
                )
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
            counts = conn.execute(
                "SELECT SUM(state = 'indexed'), SUM(state = 'indexed' AND lat IS NULL), "
                "SUM(state = 'skipped'), COUNT(*) FROM photos "
                "WHERE collection_id = ? AND deleted_gen IS NULL",
                (self.id,),
            ).fetchone()
            state = conn.execute(
                "SELECT index_kind_used, index_recall_at_10, index_note FROM collections "
                "WHERE id = ?",
                (self.id,),
            ).fetchone()
        indexed, without_gps, skipped, total = (int(v or 0) for v in counts)
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
            live = live_indexed(conn, self.id)
        stats = self.features().stats(live)
        return {
            "features_photos": stats.photos,
            "features_bytes_per_photo": stats.bytes_per_photo,
            "features_ms_per_photo": stats.extract_ms_per_photo,
        }

    def _saved_gen(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT saved_gen FROM collections WHERE id = ?", (self.id,)).fetchone()
        if row is None:
            raise CollectionError(f"Collection {self.name!r} was removed.")
        return int(row[0])

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
        with closing(self.library.connect()) as conn, catalogue.transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO roots (collection_id, path) VALUES (?, ?)",
                [(self.id, root) for root in roots],
            )
        return self._run(roots, remove_missing=False, progress=progress, cancel=cancel)

    def update(
        self, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> IndexReport:
        """Re-scan every added path: embed new and changed files, drop deleted ones."""
        with closing(self.library.connect()) as conn:
            roots = [
                r[0]
                for r in conn.execute("SELECT path FROM roots WHERE collection_id = ?", (self.id,))
            ]
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
            run = _Run(self, conn)
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
            run = _Run(self, conn)
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


class _Run:
    """One add/update pass under the collection's lock (see the module docstring)."""

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
        if touched:
            with catalogue.transaction(self.conn):
                self.conn.executemany("UPDATE photos SET mtime_ns = ? WHERE id = ?", touched)
        return todo, replaced

    def _remove(self, gone: list[PhotoRecord]) -> None:
        if not gone:
            return
        with catalogue.transaction(self.conn):
            self.conn.executemany(
                "UPDATE photos SET deleted_gen = ? WHERE id = ?", [(self.gen, p.id) for p in gone]
            )
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
                    self.conn.execute(
                        "UPDATE photos SET deleted_gen = ? WHERE id = ?", (self.gen, old.id)
                    )
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
        cursor = self.conn.execute(
            "INSERT INTO photos (collection_id, path, size, mtime_ns, sha256, lat, lon, alt, "
            "gps_reason, capture_time, state, skip_reason, model_sha256, gen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.c.id,
                str(item.path),
                item.size,
                item.mtime_ns,
                item.sha256,
                gps.lat if gps else None,
                gps.lon if gps else None,
                gps.alt if gps else None,
                meta.gps_reason if meta else None,
                meta.capture_time if meta else None,
                "indexed" if item.error is None else "skipped",
                item.error,
                self.c.model_sha256 if item.error is None else None,
                self.gen,
            ),
        )
        row_id = int(cursor.lastrowid)
        if item.error is None:
            self.conn.execute("UPDATE photos SET index_id = id WHERE id = ?", (row_id,))
        return row_id

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
