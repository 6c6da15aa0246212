"""The library: every reference collection of one data folder (create, open, list, remove).

A collection itself (model check, embedder, summary, search, indexing entry points) is in
``collection.py``; one indexing run (commands, batches) in ``indexing_run.py``, what it has
to do (triage) in ``indexing_triage.py``, its checkpoints, conversion and rollback in
``indexing_checkpoints.py``; the descriptor store in ``store.py``; shared ONNX Runtime
sessions in ``embedder_cache.py``; every SQL statement in the ``catalogue/`` package.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict

from sciceapp import paths as app_paths
from sciceapp.engine import catalogue, conversion, model_kinds, open_index, store
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.collection import (
    CHECKPOINT_S,
    COLLECTIONS_DIR,
    Collection,
    CollectionOptions,
    CollectionSummary,
)
from sciceapp.engine.index import IndexParams, check_params
from sciceapp.engine.indexing_run import IndexReport
from sciceapp.errors import CollectionError

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_S",
    "COLLECTIONS_DIR",
    "Collection",
    "CollectionOptions",
    "CollectionSummary",
    "IndexReport",
    "Library",
    "PhotoRecord",
]

MAX_NAME_CHARS = 100


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
        index_kind: str = conversion.AUTO,
        index_params: IndexParams | None = None,
        store_dtype: str = "float32",
        local_features: bool = False,
        options: CollectionOptions | None = None,
    ) -> Collection:
        """A new, empty collection bound to the model file's fingerprint, opened with
        ``options``.

        ``store_dtype``: the type of its stored descriptor rows, ``float32`` (exact search at
        full speed) or ``float16`` (half the disk; exact search converts rows as it reads).

        ``index_kind``: ``auto`` (exact search while it is the faster, then the two-stage
        kind), ``flat`` (always exact) or a trained kind; every kind but ``flat`` (with
        ``index_params``, defaults otherwise) starts exact and converts itself once it has
        enough photos (``conversion.py``).
        ``local_features``: store SIFT features of every photo for match verification (the
        command line and the window turn it on unless asked not to). With them, photos are
        decoded once at the size the features need and the model's input is made from that.
        """
        name = _check_name(name)
        if index_kind not in conversion.COLLECTION_KINDS:
            raise CollectionError(
                f"Index kind {index_kind!r} is not available for collections; choose one of "
                f"{', '.join(conversion.COLLECTION_KINDS)}."
            )
        info = model_kinds.read_info(model_path)
        params = index_params or IndexParams()
        try:
            # Refuse what cannot be built (auto with settings given: the two-stage kind).
            asked = index_kind if index_params is None else conversion.trained_kind(index_kind)
            check_params(conversion.checked_kind(asked), info.descriptor_dim, params)
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
        new = catalogue.NewCollection(
            name=name,
            model_path=str(info.path),
            model_sha256=info.sha256,
            model_label=info.display_name,
            model_random_init=info.random_init,
            descriptor_dim=info.descriptor_dim,
            index_kind=index_kind,
            index_params=json.dumps(asdict(params)) if index_kind != "flat" else None,
            store_dtype=store_dtype,
            local_features=local_features,
        )
        with closing(self.connect()) as conn:
            catalogue.check_integrity(conn, self.data_dir)
            try:
                catalogue.insert_collection(conn, new)
            except sqlite3.IntegrityError as exc:
                raise CollectionError(
                    f"A collection named {name!r} already exists; pick another name or remove it "
                    "first."
                ) from exc
        log.info("created collection %r with %s", name, info.display_name)
        collection = self.open_collection(name, options)
        store.create(collection.folder, collection.descriptor_dim, store_dtype, collection.uid)
        return collection

    def open_collection(self, name: str, options: CollectionOptions | None = None) -> Collection:
        """The collection called ``name``, set up with ``options`` (defaults otherwise)."""
        with closing(self.connect()) as conn:
            row = catalogue.collection_row(conn, name)
            if row is None:
                known = catalogue.collection_names(conn)
                raise CollectionError(
                    f"No collection named {name!r}. Existing: {', '.join(known) or 'none'} "
                    "(create one with `sciceapp collection create`)."
                )
        return Collection(self, row, options)

    def list_collections(self) -> list[CollectionSummary]:
        with closing(self.connect()) as conn:
            names = catalogue.collection_names(conn)
        return [self.open_collection(name).summary() for name in names]

    def remove_collection(self, name: str) -> None:
        """Delete a collection's catalogue rows and files (the photos themselves stay)."""
        collection = self.open_collection(name)
        with collection.locked() as conn:
            with catalogue.transaction(conn):
                catalogue.remove_collection(conn, collection.id)
            for path in collection.folder.glob("index-*"):
                path.unlink(missing_ok=True)
            open_index.forget(collection.folder)
            shutil.rmtree(collection.folder, ignore_errors=True)  # under the lock: see locked
        log.info("removed collection %r", name)
