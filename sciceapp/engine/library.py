"""Reference collections: photos embedded with one model into one faiss index, catalogued.

Files of a collection live in ``<data>/collections/<id>/``: ``index-<gen>.faiss`` (the faiss
index saved at generation ``gen``) and the write lock. Every photo has one row in the shared
``catalogue.sqlite`` (see ``catalogue.py``).

Why the catalogue and the faiss file always agree, even after kill -9 or a full disk: a run
works in generation ``G = saved_gen + 1``. Each batch commits its catalogue rows (tagged
``gen = G``; deletions only marked with ``deleted_gen = G``) and then changes the in-memory
index. A checkpoint saves the index as ``index-G.faiss`` (atomic: temp file, fsync, rename)
and only then commits ``saved_gen = G`` and purges the marked deletions, then removes the
older file. Whatever dies in between, the catalogue names a complete file, and
``rollback_unsaved`` turns the catalogue back into exactly what that file holds (rows newer
than the file are dropped and re-embedded on the next run; undone deletions come back).
We chose this over keeping descriptors in a second, append-only file because descriptors of
the base model are 43 KB per photo: storing them twice would double the disk a collection
needs, while redoing at most one checkpoint interval of work after a crash is cheap.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sciceapp import paths as app_paths
from sciceapp.atomic import TEMP_SUFFIX, is_disk_full
from sciceapp.engine import catalogue, conversion, model_kinds
from sciceapp.engine.catalogue import IndexState, PhotoRecord
from sciceapp.engine.classical_model import VOCABULARY_PREFIX, learn_vocabulary
from sciceapp.engine.collection_features import RunFeatures, live_indexed
from sciceapp.engine.feature_store import FeatureStore
from sciceapp.engine.images import MAX_FILE_BYTES
from sciceapp.engine.index import KINDS, IndexParams, VectorIndex, check_params, params_from_dict
from sciceapp.engine.locking import collection_lock
from sciceapp.engine.onnx_model import ModelInfo
from sciceapp.engine.pipeline import GlobalModel, Prepared, embed_files, require_paths, scan
from sciceapp.errors import CancelledError, CollectionError, ModelError, SciceappError
from sciceapp.progress import CancelToken, ProgressFn
from sciceapp.reading import sha256_file

log = logging.getLogger(__name__)

__all__ = ["Collection", "CollectionSummary", "IndexReport", "Library", "PhotoRecord"]

COLLECTIONS_DIR = "collections"
CHECKPOINT_S = 60.0
"""Seconds between index saves during a run: at most this much work is redone after a crash."""
MAX_NAME_CHARS = 100
INDEX_FILE = re.compile(r"^index-(\d+)\.faiss$")
MAX_SESSIONS = 2
"""ONNX Runtime sessions kept per process: the GUI opens a collection per job, and loading
the base model takes seconds, so the last few sessions are reused."""
_SESSIONS: dict[tuple, GlobalModel] = {}
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
    missing_folders: list[str] = field(default_factory=list)  # not found by the last update
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
    missing_roots: list[str] = field(default_factory=list)  # not found: photos kept
    missing_photos: int = 0  # photos kept under missing_roots


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
        local_features: bool = False,
    ) -> Collection:
        """A new, empty collection bound to the model file's fingerprint.

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
        info = model_kinds.read_info(model_path)
        params = index_params or IndexParams()
        try:
            check_params(index_kind, info.descriptor_dim, params)  # refuse what cannot be built
        except ValueError as exc:
            raise CollectionError(
                f"A {index_kind} index cannot be built for {info.display_name} "
                f"(descriptor size {info.descriptor_dim}): {exc} Choose other index settings "
                "or the flat kind."
            ) from exc
        stored_params = json.dumps(asdict(params)) if index_kind != "flat" else None
        with closing(self.connect()) as conn:
            catalogue.check_integrity(conn, self.data_dir)
            try:
                with catalogue.transaction(conn):
                    conn.execute(
                        "INSERT INTO collections (name, model_path, model_sha256, model_label, "
                        "model_random_init, descriptor_dim, index_kind, created, index_params, "
                        "local_features, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                            int(local_features),
                            secrets.token_hex(16),
                        ),
                    )
            except sqlite3.IntegrityError as exc:
                raise CollectionError(
                    f"A collection named {name!r} already exists; pick another name or remove it "
                    "first."
                ) from exc
        log.info("created collection %r with %s", name, info.display_name)
        return self.open_collection(name)

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
        with collection._locked() as conn:
            with catalogue.transaction(conn):
                catalogue.remove_collection(conn, collection.id)
            for path in collection.folder.glob("index-*"):
                path.unlink(missing_ok=True)
            shutil.rmtree(collection.folder, ignore_errors=True)  # under the lock: see _locked
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
        self.uid: str = row["uid"]
        self.index_params = self._stored_params(row["index_params"])
        self.folder = library.data_dir / COLLECTIONS_DIR / str(self.id)
        self.local_features = bool(row["local_features"])
        self._features: FeatureStore | None = None
        self.checkpoint_s = CHECKPOINT_S
        self.provider = "auto"
        self.batch_size: int | None = None
        self._embedder: GlobalModel | None = None
        self._index: VectorIndex | None = None
        self._index_gen = -1

    def _stored_params(self, stored: str | None) -> IndexParams:
        """The index settings as the catalogue has them, checked like those given to create."""
        try:
            params = params_from_dict(json.loads(stored)) if stored else IndexParams()
            return check_params(self.index_kind, self.descriptor_dim, params)
        except (ValueError, TypeError) as exc:
            raise catalogue.damaged(
                self.library.data_dir,
                f"collection {self.name!r} has index settings that cannot be used "
                f"(kind {self.index_kind!r}, settings {stored}: {exc})",
            ) from exc

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
            key = (str(self.model_path), self.model_sha256, self.provider, self.batch_size)
            with _SESSIONS_LOCK:
                embedder = _SESSIONS.pop(key, None)
                if embedder is None:
                    embedder = model_kinds.open_model(
                        self.model_path,
                        self.provider,
                        batch_size=self.batch_size,
                        tuning_dir=self.library.data_dir,
                    )
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
        with self._locked() as conn:
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
            indexed, without_gps, skipped, total = catalogue.counts(conn, self.id)
            missing = catalogue.missing_roots(conn, self.id)
            state = conn.execute(
                "SELECT index_kind_used, index_recall_at_10, index_note FROM collections "
                "WHERE id = ?",
                (self.id,),
            ).fetchone()
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
            missing_folders=missing,
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

    def _owner(self, gen: int) -> dict:
        """What an index file of this collection records as its owner (see ``index.py``)."""
        return {"collection": self.uid, "gen": gen}

    def _load_index(self, conn: sqlite3.Connection, gen: int) -> VectorIndex:
        """The index file of generation ``gen``, checked to be this collection's own and to
        hold exactly the catalogue's indexed rows (else: `rebuild`)."""
        if gen == 0:
            return VectorIndex(self.descriptor_dim, "flat")  # every kind starts exact
        fix = (
            f"Rebuild it with `sciceapp collection rebuild {self.name}` (the catalogue keeps "
            "every photo)."
        )
        path = self.folder / f"index-{gen}.faiss"
        index = VectorIndex.load(path, owner=self._owner(gen), fix=fix)
        if index.dim != self.descriptor_dim or index.kind not in ("flat", self.index_kind):
            raise CollectionError(
                f"The index file {path} is a {index.kind} index of {index.dim}-d vectors; "
                f"collection {self.name!r} needs {self.index_kind} of {self.descriptor_dim}. {fix}"
            )
        expected = catalogue.indexed_ids(conn, self.id)
        found = index.ids()
        if len(found) != len(expected) or set(found.tolist()) != expected:
            raise CollectionError(
                f"The index file {path} does not match the catalogue ({len(found)} photos in "
                f"the file, {len(expected)} indexed in the catalogue). {fix}"
            )
        return index

    def index(self) -> VectorIndex:
        """The faiss index as last saved (reloaded when another run saved a newer one)."""
        with closing(self.library.connect()) as conn:
            gen = self._saved_gen(conn)
            if self._index is None or gen != self._index_gen:
                self._index, self._index_gen = self._load_index(conn, gen), gen
        return self._index

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
        """A new index from the catalogue's photo list: every photo is embedded again (the way
        out of a damaged, lost or foreign index file)."""
        return self._run(lambda run: run.rebuild(), progress, cancel, fresh_index=True)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
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
        job: Callable[[_Run], IndexReport],
        progress: ProgressFn | None,
        cancel: CancelToken | None,
        fresh_index: bool = False,
    ) -> IndexReport:
        with self._locked() as conn:
            catalogue.rollback_unsaved(conn, self.id)
            saved = self._saved_gen(conn)
            _remove_stale_files(self.folder, keep_gen=saved)
            run = _Run(self, conn, saved, fresh_index, progress, cancel)
            try:
                return job(run)
            finally:
                self._index, self._index_gen = None, -1
                self.features().close()


def _sha256_or_none(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read (embedding then says why)."""
    try:
        return sha256_file(path, MAX_FILE_BYTES)
    except OSError:
        return None


def _under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _remove_stale_files(folder: Path, keep_gen: int) -> None:
    """Index files of other generations and temp files that interrupted saves left behind."""
    if not folder.is_dir():
        return
    for old in folder.iterdir():
        match = INDEX_FILE.match(old.name)
        temp = old.suffix == TEMP_SUFFIX and old.name.lstrip(".").startswith("index-")
        if temp or (match and int(match[1]) != keep_gen):
            old.unlink(missing_ok=True)


class _Run:
    """One write pass under the collection's lock (see the module docstring)."""

    def __init__(
        self,
        collection: Collection,
        conn: sqlite3.Connection,
        saved_gen: int,
        fresh_index: bool,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> None:
        self.c = collection
        self.conn = conn
        self.gen = saved_gen + 1
        if fresh_index:
            self.index = VectorIndex(collection.descriptor_dim, "flat")
        else:
            self.index = collection._load_index(conn, saved_gen)
        self.dirty = fresh_index
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

    def _report(self, done: int, total: int | None, message: str = "") -> None:
        self.position = (done, total)
        if self.progress is not None:
            self.progress(done, total, message)

    # -- the commands ------------------------------------------------------------------------
    def add(self, roots: list[str]) -> IndexReport:
        return self.execute(scan(roots), gone=[], new_roots=roots)

    def update(self, prune_missing: bool) -> IndexReport:
        roots = catalogue.roots(self.conn, self.c.id)
        present = [root for root in roots if os.path.exists(root)]
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
        embedder = self.c.embedder()
        info = embedder.info
        todo, replaced = self._triage(files, self.existing, force)
        # Recorded only now that the command runs: a refused or failed start records nothing.
        if new_roots:
            with catalogue.transaction(self.conn):
                catalogue.add_roots(self.conn, self.c.id, new_roots)
        self._remove(gone)
        last_save = time.monotonic()
        cancel = self.cancel
        try:
            if not info.trained and todo:
                embedder = self._learn_model(todo)
            if self.features is not None:
                self.features.start()
            for batch in embed_files(
                todo,
                embedder,
                progress=self._report,
                cancel=cancel,
                local_features=self.features is not None,
            ):
                self._write_batch(batch.items, batch.ok, batch.vectors, replaced)
                if time.monotonic() - last_save >= self.c.checkpoint_s:
                    self._save()
                    last_save = time.monotonic()
            self._save()  # rows first: features of photos indexed earlier come after
            if self.features is not None:
                self.features.complete(embedder, self._report, cancel)
                self.features.start()  # drop the records of photos this run removed
        except (CancelledError, KeyboardInterrupt) as exc:
            self._save(convert=False)  # keep every finished batch, quickly
            self.report.cancelled = True
            error = CancelledError(
                f"Indexing of {self.c.name!r} cancelled: {self.report.added} added and "
                f"{self.report.updated} updated photos are kept; run `sciceapp collection "
                f"update {shlex.quote(self.c.name)}` to finish."
            )
            error.report = self.report  # type: ignore[attr-defined]
            raise error from exc
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise CollectionError(
                f"The catalogue could not be written ({exc}); the disk may be full. Nothing "
                "stored was lost: free some space and run `sciceapp collection update`."
            ) from exc
        except BaseException:
            # Anything else: go back to the last consistent save, nothing more.
            self._rollback()
            raise
        self._save()
        return self.report

    def _learn_model(self, todo: list[Path]) -> GlobalModel:
        """A model that learns from its collection (the classical vocabulary,
        ``classical_model.py``): learn it from this run's photos, then switch the collection
        to it in one transaction, before any photo row of this run exists."""
        c = self.c
        path = learn_vocabulary(todo, c.folder, progress=self._report, cancel=self.cancel)
        sha256 = model_kinds.fingerprint(path)
        with catalogue.transaction(self.conn):
            self.conn.execute(
                "UPDATE collections SET model_path = ?, model_sha256 = ? WHERE id = ?",
                (str(path), sha256, c.id),
            )
        for old in c.folder.glob(f"{VOCABULARY_PREFIX}*.npz"):
            if old != path:
                old.unlink(missing_ok=True)  # left by an attempt that died before the switch
        c.model_path, c.model_sha256, c._embedder = path, sha256, None
        return c.embedder()

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
        self.index.remove([p.id for p in gone if p.state == "indexed"])
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
        self.index.remove(old_ids)
        if ok:
            self.index.add([new_ids[id(item)] for item in ok], vectors)
            if self.features is not None:
                self.features.add(ok, [new_ids[id(item)] for item in ok])
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

    def _convert_if_due(self) -> IndexState | None:
        """Swap the flat index for the compressed kind asked for, once there are enough photos.

        Runs inside a checkpoint, before the save: the converted index becomes this
        generation's file, so a crash at any point keeps the previous (flat) save. A failed
        conversion keeps exact search, says why, and is retried at the next save.
        """
        c = self.c
        if c.index_kind == "flat" or self.index.kind == c.index_kind:
            return None
        if conversion.flat_reason(
            c.index_kind, c.descriptor_dim, c.index_params, self.index.ntotal
        ):
            return None
        if self.cancel is not None and self.cancel.cancelled:
            return None  # training takes minutes and cannot be interrupted: not now
        self._report(
            *self.position,
            f"converting the index to {c.index_kind} ({self.index.ntotal} photos, may take "
            "minutes)",
        )
        self.dirty = True
        try:
            self.index, recall = conversion.convert(self.index, c.index_kind, c.index_params)
        except Exception as exc:  # noqa: BLE001 - any failure: stay exact, lose nothing
            note = (
                f"converting to {c.index_kind} failed ({exc}); exact search is kept and the "
                "conversion is retried at the next add or update"
            )
            log.warning("collection %r: %s", c.name, note)
            return IndexState("flat", None, note)
        return IndexState(c.index_kind, recall, None)

    def _save(self, convert: bool = True) -> None:
        """Checkpoint: index file first, then the catalogue's pointer to it (module docstring)."""
        state = self._convert_if_due() if convert else None
        if not self.dirty:
            return
        target = self.c.folder / f"index-{self.gen}.faiss"
        try:
            if self.features is not None:
                self.features.sync()  # every saved row has its features on disk
            self.index.save(target, owner=self.c._owner(self.gen))
        except OSError as exc:
            self._rollback()
            if is_disk_full(exc):
                raise CollectionError(
                    f"The disk is full: the index of {self.c.name!r} could not be saved to "
                    f"{target.parent}. Nothing stored was lost (the collection is as it was at its "
                    "last save); free some space and run `sciceapp collection update`."
                ) from exc
            raise CollectionError(
                f"Cannot save the index of {self.c.name!r} to {target}: "
                f"{exc.strerror or exc}. The collection is as it was at its last save."
            ) from exc
        catalogue.commit_saved(self.conn, self.c.id, self.gen, state)
        _remove_stale_files(self.c.folder, keep_gen=self.gen)
        self.gen += 1
        self.dirty = False

    def _rollback(self) -> None:
        try:
            catalogue.rollback_unsaved(self.conn, self.c.id)
        except (sqlite3.Error, SciceappError) as exc:
            # Expected when the disk is full; harmless: the next run starts with this rollback.
            log.warning("the catalogue is rolled back at the next run (not now: %s)", exc)
