"""A collection's write commands: add, update, remove a folder, rebuild, import and export
shards, switch local features. Each one is an indexing run (``indexing_run.py``) under the
collection's cross-process write lock, on a catalogue re-read under that lock.

``Collection`` (``collection.py``) takes these from ``CollectionWrites``; the write order
that keeps the catalogue, the store and the index file in agreement is in its docstring.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sciceapp.engine import catalogue, collection_shards
from sciceapp.engine.indexing_run import IndexingRun, IndexReport
from sciceapp.engine.locking import collection_lock
from sciceapp.engine.migration import migrate_legacy
from sciceapp.engine.pipeline import require_paths
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.feature_store import FeatureStore
    from sciceapp.engine.library import Library

log = logging.getLogger(__name__)


class CollectionWrites:
    """The write commands of ``Collection`` (module docstring), which gives them its
    attributes and ``features()``."""

    library: Library
    id: int
    name: str
    uid: str
    folder: Path
    descriptor_dim: int
    store_dtype: str
    local_features: bool
    features: Callable[[], FeatureStore]

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

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Move a collection written before the descriptor store into one (no re-embedding)."""
        if migrate_legacy(
            conn, self.id, self.folder, self.descriptor_dim, self.store_dtype, self.uid
        ):
            log.info("collection %r moved to the descriptor store", self.name)

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
