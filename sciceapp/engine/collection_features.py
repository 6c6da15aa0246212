"""Local features during a collection's indexing run (the hooks ``library.py`` calls).

A run with local features on (``collections.local_features``):

1. ``start``: under the lock, after ``rollback_unsaved``, the store is pruned to the live
   indexed photos (records of rolled-back or removed rows go, a torn tail is cut);
2. ``add``: after each batch's rows are committed, their features (extracted in the same
   decode as the global descriptor) are appended;
3. ``sync``: at every checkpoint, before the index file is saved and ``saved_gen`` committed,
   the appended records are fsynced (``feature_store.py`` says why this keeps them in
   agreement with the catalogue after a kill -9);
4. ``complete``: photos indexed without features (the collection was made with them off,
   or a run was killed after a checkpoint but before their records) get them, decoded
   again but not re-embedded.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sciceapp.atomic import is_disk_full
from sciceapp.engine import catalogue
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.pipeline import GlobalModel, Prepared, extract_files
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

SYNC_EVERY_S = 30.0
"""Seconds between fsyncs while completing features: at most this much is redone after a crash."""


@contextmanager
def _writing(store: FeatureStore) -> Iterator[None]:
    """``OSError`` while writing the features file -> ``CollectionError`` that says what to do
    (the run then rolls back to its last save, which has every feature it needs)."""
    try:
        yield
    except OSError as exc:
        reason = "the disk is full" if is_disk_full(exc) else (exc.strerror or str(exc))
        raise CollectionError(
            f"The local features could not be written to {store.path} ({reason}). Nothing "
            "stored was lost (the collection is as it was at its last save); free some space "
            "and run `sciceapp collection update`."
        ) from exc


class RunFeatures:
    """The local-features side of one indexing run (module docstring)."""

    def __init__(self, store: FeatureStore, conn: sqlite3.Connection, collection_id: int) -> None:
        self.store = store
        self.conn = conn
        self.collection_id = collection_id

    def start(self) -> None:
        """Prune the store to the live indexed photos (also run at the end of a run)."""
        with _writing(self.store):
            self.store.prune(catalogue.live_indexed(self.conn, self.collection_id))

    def add(self, ok: Sequence[Prepared], ids: Sequence[int]) -> None:
        """Append the features of a committed batch (``ids``: the rows of ``ok``, in order)."""
        with _writing(self.store):
            for item, photo_id in zip(ok, ids, strict=True):
                if item.features is not None:
                    self.store.append(photo_id, item.features, item.features_ms)
                    item.features = None  # stored; free the memory

    def sync(self) -> None:
        with _writing(self.store):
            self.store.sync()

    def complete(
        self,
        model: GlobalModel,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> int:
        """Extract and store the features of live indexed photos that have none; returns how
        many were added. ``model``: the collection's, to read photos as indexing does.
        Raises ``CancelledError`` (keeping what was stored) when cancelled."""
        live = catalogue.live_indexed(self.conn, self.collection_id)
        missing = sorted(set(live) - self.store.ids())
        if not missing:
            return 0
        paths = [Path(live[i]) for i in missing]
        added = 0
        last_sync = time.monotonic()
        try:
            for done, (photo_id, item) in enumerate(
                zip(missing, extract_files(paths, model, cancel=cancel), strict=True), 1
            ):
                if item.features is not None:
                    with _writing(self.store):
                        self.store.append(photo_id, item.features, item.features_ms)
                    added += 1
                else:
                    # Changed or gone since it was indexed: `update` re-indexes or removes it.
                    log.warning("no local features for %s: %s", item.path, item.error)
                if time.monotonic() - last_sync >= SYNC_EVERY_S:
                    self.sync()
                    last_sync = time.monotonic()
                if progress is not None:
                    progress(done, len(missing), "local features")
        finally:
            self.sync()
        return added
