"""Moving a collection written before the descriptor store into one, without re-embedding.

Before the store, a collection's descriptors lived only in its faiss file
``index-<saved_gen>.faiss`` (a magic line, a JSON header, ``faiss.serialize_index`` bytes).
:func:`migrate_legacy` streams that file's faiss part to a work file while checking its
checksum, maps it (``IO_FLAG_MMAP_IFC``), and:

- flat: appends its vectors to the store chunk by chunk (never two copies in memory);
- pca / ivfpq: those files do not keep the full vectors, so the store starts empty for the
  photos already indexed, and the index itself is rewritten in faiss' own format.

It then commits generation ``saved_gen + 1`` (the store segment, the new index file's
checksum) and deletes the old file. Run under the collection's lock; a crash before the
commit leaves the old file in force and the next open migrates again from the start.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss

from sciceapp.atomic import TEMP_SUFFIX, temp_prefix
from sciceapp.engine import catalogue
from sciceapp.engine.index import MAGIC, load_legacy
from sciceapp.engine.store import StoreWriter

CHUNK_ROWS = 4096


def _legacy_file(conn: sqlite3.Connection, collection_id: int, folder: Path) -> Path | None:
    saved = catalogue.saved_state(conn, collection_id)
    if saved.gen == 0 or catalogue.segments(conn, collection_id):
        return None
    path = folder / f"index-{saved.gen}.faiss"
    try:
        with open(path, "rb") as handle:
            return path if handle.read(len(MAGIC)) == MAGIC else None
    except OSError:
        return None


def needs_migration(conn: sqlite3.Connection, collection_id: int, folder: Path) -> bool:
    return _legacy_file(conn, collection_id, folder) is not None


def migrate_legacy(
    conn: sqlite3.Connection, collection_id: int, folder: Path, dim: int, dtype: str
) -> bool:
    """Migrate if the collection still has an old-format file; True if it did."""
    legacy = _legacy_file(conn, collection_id, folder)
    if legacy is None:
        return False
    gen = catalogue.saved_state(conn, collection_id).gen
    work = folder / f"{temp_prefix(legacy)}migrating{TEMP_SUFFIX}"
    writer = StoreWriter(folder, dim, dtype, [])  # cuts leftovers of an interrupted migration
    try:
        old = load_legacy(legacy, work)
        index_sha = None
        if old.kind == "flat":
            ids = faiss.vector_to_array(old._index.id_map)
            flat = faiss.downcast_index(old._index.index)
            for start in range(0, len(ids), CHUNK_ROWS):
                count = min(CHUNK_ROWS, len(ids) - start)
                writer.append(ids[start : start + count], flat.reconstruct_n(start, count))
        else:
            index_sha = old.save(folder / f"index-{gen + 1}.faiss")
        segment = writer.flush(gen + 1)
        # The kind in use and its recall stay as the catalogue recorded them.
        catalogue.commit_saved(
            conn, collection_id, gen + 1, None, segment if segment.rows else None, index_sha
        )
    finally:
        writer.close()
        work.unlink(missing_ok=True)
    legacy.unlink(missing_ok=True)
    return True
