"""The catalogue: one SQLite file (``catalogue.sqlite`` in the data folder) for every collection.

It records the collections (name, model file and fingerprint, index kind), the folders and
files added to each (``roots``), and one row per photo: file identity (path, size, mtime,
SHA-256), position from EXIF (or why there is none), capture time, state (``indexed`` or
``skipped`` with a reason) and the model that embedded it. A photo's row id is its id in the
collection's faiss index.

Every SQL statement on it is in this package, one module per concern, all re-exported here
(callers write ``catalogue.photos(conn, ...)``):

| module | what |
|---|---|
| ``db.py`` | opening the file (created and migrated, copied aside first), the connection class that turns SQLite's errors into ours, transactions, the integrity check |
| ``schema.py`` | the ordered migrations, each a tuple of single statements |
| ``collection_rows.py`` | the ``collections`` and ``roots`` tables |
| ``photo_rows.py`` | the ``photos`` table, as readers see it and as a run writes it |
| ``saves.py`` | generations, the store segments each save committed, rollback to the last save |
| ``geotag_journal.py`` | the geotag journal's changes and writes (imported by ``geotag/writer.py``, not re-exported) |

How it stays in agreement with the descriptor store and the index file (see
``collection.py`` for the write order): every row carries the *generation* that added it,
pending deletions carry the generation that deleted them, and the collection records
``saved_gen``, the generation of its last save, with the store segments each save committed.
``rollback_unsaved`` throws away whatever came after that save.
"""

from __future__ import annotations

from sciceapp.engine.catalogue.collection_rows import (
    NewCollection,
    add_roots,
    collection_names,
    collection_row,
    collection_uid,
    index_note,
    insert_collection,
    mark_missing_roots,
    missing_roots,
    model_fingerprints,
    remove_collection,
    remove_roots,
    roots,
    set_local_features,
    set_model,
)
from sciceapp.engine.catalogue.db import (
    BUSY_TIMEOUT_S,
    FILE_NAME,
    SQLITE_FULL,
    Connection,
    check_integrity,
    connect,
    damaged,
    explain,
    migrate,
    now_iso,
    restore_advice,
    schema_version,
    transaction,
)
from sciceapp.engine.catalogue.photo_rows import (
    COMMITTED,
    PHOTO_COLUMNS,
    NewPhoto,
    PhotoRecord,
    counts,
    indexed_ids,
    insert_photo,
    live_indexed,
    live_indexed_path,
    mark_deleted,
    photo_pages,
    photos,
    photos_by_id,
    set_mtimes,
)
from sciceapp.engine.catalogue.saves import (
    IndexState,
    SavedState,
    commit_saved,
    forget_store,
    rollback_unsaved,
    saved_state,
    segments,
)
from sciceapp.engine.catalogue.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "BUSY_TIMEOUT_S",
    "COMMITTED",
    "FILE_NAME",
    "MIGRATIONS",
    "PHOTO_COLUMNS",
    "SCHEMA_VERSION",
    "SQLITE_FULL",
    "Connection",
    "IndexState",
    "NewCollection",
    "NewPhoto",
    "PhotoRecord",
    "SavedState",
    "add_roots",
    "check_integrity",
    "collection_names",
    "collection_row",
    "collection_uid",
    "commit_saved",
    "connect",
    "counts",
    "damaged",
    "explain",
    "forget_store",
    "index_note",
    "indexed_ids",
    "insert_collection",
    "insert_photo",
    "live_indexed",
    "live_indexed_path",
    "mark_deleted",
    "mark_missing_roots",
    "migrate",
    "missing_roots",
    "model_fingerprints",
    "now_iso",
    "photo_pages",
    "photos",
    "photos_by_id",
    "remove_collection",
    "remove_roots",
    "restore_advice",
    "roots",
    "rollback_unsaved",
    "saved_state",
    "schema_version",
    "segments",
    "set_local_features",
    "set_model",
    "set_mtimes",
    "transaction",
]
