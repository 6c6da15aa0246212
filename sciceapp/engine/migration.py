"""Moving a collection written before the descriptor store into one, without re-embedding.

Before the store, a collection's descriptors lived only in its faiss file
``index-<saved_gen>.faiss``: a magic line, a JSON header line, then ``faiss.serialize_index``
bytes. Format 1's header holds the payload's SHA-256; format 2 (the hardened one) adds a
line with the SHA-256 of the header line and the payload, and its header names the owner
(the collection's uid and the generation), which must be this collection's.
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

import hashlib
import json
import sqlite3
from pathlib import Path

import faiss

from sciceapp.atomic import TEMP_SUFFIX, temp_prefix
from sciceapp.engine import catalogue
from sciceapp.engine.index import IndexParams, VectorIndex, params_from_dict
from sciceapp.engine.store import StoreWriter
from sciceapp.engine.store_files import HASH_BLOCK
from sciceapp.errors import CollectionError

CHUNK_ROWS = 4096
MAGIC_1 = b"SCICEAPP-FAISS 1\n"
MAGIC_2 = b"SCICEAPP-FAISS 2\n"
MAGIC_BYTES = len(MAGIC_1)
FIX = (
    "Restore the collection folder from a backup, or rebuild it with `sciceapp collection "
    "rebuild NAME` (the catalogue keeps every photo)."
)


def load_legacy(path: Path, work: Path, owner: dict | None = None) -> VectorIndex:
    """The index of a file of sciceapp before the store, memory-mapped: its faiss bytes are
    streamed to ``work`` while hashing them (the file's checksum is checked), and ``work`` is
    mapped (keep it until done with the index). ``CollectionError`` if it is damaged, or (format
    2) was saved for another owner than ``owner``."""
    payload_digest = hashlib.sha256()
    try:
        with open(path, "rb") as source:
            magic = source.read(MAGIC_BYTES)
            if magic not in (MAGIC_1, MAGIC_2):
                raise CollectionError(f"{path} is not a sciceapp index file. {FIX}")
            header_line = source.readline()
            expected = source.readline().strip() if magic == MAGIC_2 else None
            whole_digest = hashlib.sha256(header_line)  # format 2: header line, then payload
            with open(work, "wb") as target:
                while block := source.read(HASH_BLOCK):
                    payload_digest.update(block)
                    whole_digest.update(block)
                    target.write(block)
        header = json.loads(header_line)
    except (OSError, ValueError) as exc:
        raise CollectionError(f"Cannot read the index file {path}: {exc}. {FIX}") from exc
    if magic == MAGIC_1:
        intact = isinstance(header, dict) and payload_digest.hexdigest() == header.get(
            "payload_sha256"
        )
    else:
        intact = whole_digest.hexdigest().encode() == expected and isinstance(header, dict)
    if not intact:
        raise CollectionError(f"The index file {path} is truncated or corrupt. {FIX}")
    if magic == MAGIC_2 and owner is not None and header.get("owner") != owner:
        raise CollectionError(
            f"The index file {path} belongs to another collection or generation "
            f"({header.get('owner')}, expected {owner}). {FIX}"
        )
    try:
        params = params_from_dict(header.get("params", {}))
    except TypeError as exc:
        raise CollectionError(f"The index file {path} has a damaged header ({exc}). {FIX}") from exc
    return VectorIndex.load(work, header.get("kind"), params or IndexParams(), mmap=True, fix=FIX)


def _legacy_file(conn: sqlite3.Connection, collection_id: int, folder: Path) -> Path | None:
    saved = catalogue.saved_state(conn, collection_id)
    if saved.gen == 0 or catalogue.segments(conn, collection_id):
        return None
    path = folder / f"index-{saved.gen}.faiss"
    try:
        with open(path, "rb") as handle:
            return path if handle.read(MAGIC_BYTES) in (MAGIC_1, MAGIC_2) else None
    except OSError:
        return None


def needs_migration(conn: sqlite3.Connection, collection_id: int, folder: Path) -> bool:
    return _legacy_file(conn, collection_id, folder) is not None


def migrate_legacy(
    conn: sqlite3.Connection, collection_id: int, folder: Path, dim: int, dtype: str, uid: str
) -> bool:
    """Migrate if the collection still has an old-format file; True if it did."""
    legacy = _legacy_file(conn, collection_id, folder)
    if legacy is None:
        return False
    gen = catalogue.saved_state(conn, collection_id).gen
    work = folder / f"{temp_prefix(legacy)}migrating{TEMP_SUFFIX}"
    writer = StoreWriter(folder, dim, dtype, [], uid)  # cuts leftovers of an interrupted one
    try:
        old = load_legacy(legacy, work, owner={"collection": uid, "gen": gen})
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
