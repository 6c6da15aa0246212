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
import sqlite3
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue, conversion, model_kinds, open_index, store
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.collection_summary import CollectionSummary, summarize
from sciceapp.engine.collection_writes import CollectionWrites
from sciceapp.engine.embedder_cache import shared_embedder
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.index import IndexParams, check_params, params_from_dict
from sciceapp.engine.migration import needs_migration
from sciceapp.engine.model_start import StartingModel
from sciceapp.engine.onnx_model import ModelInfo
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.pipeline import GlobalModel
from sciceapp.engine.providers import CPU, batch_size_for
from sciceapp.errors import ModelError

if TYPE_CHECKING:
    from sciceapp.engine.library import Library

COLLECTIONS_DIR = "collections"
CHECKPOINT_S = 60.0
"""Seconds between saves during a run: at most this much work is redone after a crash."""


@dataclass(frozen=True)
class CollectionOptions:
    """How an opened collection runs its jobs (given when it is opened, never changed)."""

    provider: str = "auto"  # ONNX Runtime execution provider
    batch_size: int | None = None  # images per model call (None: the provider's choice)
    checkpoint_s: float = CHECKPOINT_S


class Collection(CollectionWrites):
    """One reference collection: its settings, model, stored features, summary and search.
    Writes (``add``, ``update``, ``import_shards``, ...: ``collection_writes.py``) hold its
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

    def starting_embedder(self) -> GlobalModel:
        """The collection's model for an indexing run: an ONNX session not yet open in this
        process is opened in a thread, so that the run scans and decodes photos meanwhile
        (``model_start.py``). The model file is checked here, before anything is recorded."""
        if self._embedder is not None or not model_kinds.is_onnx(self.model_path):
            return self.embedder()
        self._check_model()
        info = model_kinds.read_info(self.model_path)
        provisional = self.batch_size or batch_size_for(CPU, info.image_size)
        return StartingModel(info, self.embedder, provisional)

    def model_switched(self, path: Path, sha256: str) -> None:
        """The collection now uses the model file ``path`` (one that learns from its photos,
        ``IndexingRun._learn_model``, after the catalogue recorded it)."""
        self.model_path, self.model_sha256, self._embedder = path, sha256, None

    def features(self) -> FeatureStore:
        """The collection's stored local features (``feature_store.py``)."""
        if self._features is None:
            self._features = FeatureStore(self.folder)
        return self._features

    # -- reading ---------------------------------------------------------------------------
    def photos(self, state: str | None = None) -> list[PhotoRecord]:
        with closing(self.library.connect()) as conn:
            return catalogue.photos(conn, self.id, state)

    def summary(self) -> CollectionSummary:
        """Counts, model, index kind in use and why, local features (``collection_summary``)."""
        return summarize(self)

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
