"""A collection's index file: faiss' own format, written atomically and checksummed.

:func:`save` writes it with ``faiss.write_index`` through a callback that hashes the bytes as
they stream to the file (nothing is serialised into memory first) and returns the SHA-256;
:func:`read` checks that checksum by streaming the file, then hands the path to
``faiss.read_index``; with ``mmap=True`` (``IO_FLAG_MMAP_IFC``) the flat parts of the index
(the reduced vectors of ``pca``) stay in the file's pages instead of being copied into memory.
The kind and settings are recorded by the caller (the catalogue), not in the file; a
``twostage`` file tells its code by its structure (``index_faiss.structure_of``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import faiss

from sciceapp.atomic import atomic_write
from sciceapp.engine.index_faiss import STRUCTURES, kind_of_structure, structure_of
from sciceapp.errors import CollectionError
from sciceapp.reading import sha256_file


def save(index: faiss.Index, path: str | os.PathLike[str]) -> str:
    """Write faiss' format atomically (temp file, fsync, ``os.replace``), hashing the bytes
    as faiss streams them; returns their SHA-256 (for :func:`read`)."""
    digest = hashlib.sha256()
    with atomic_write(path, "wb") as handle:

        def write(chunk: bytes) -> int:
            digest.update(chunk)
            return handle.write(chunk)

        writer = faiss.PyCallbackIOWriter(write)
        faiss.write_index(index, writer)
        del writer  # flushes faiss' buffer into ``write``
    return digest.hexdigest()


def read(
    path: str | os.PathLike[str], kind: str | None, sha256: str | None, mmap: bool, fix: str
) -> tuple[faiss.Index, str]:
    """``(faiss index, kind)`` of a file written by :func:`save`, checking ``sha256`` first
    when given.

    ``kind``: the kind recorded for it (``None``: told from the file; ``twostage`` files of PQ
    codes read as ``ivfpq`` then). ``mmap``: keep flat parts in the file's pages (read-only
    use). ``CollectionError`` (ending with ``fix``) if the file is missing, damaged (its
    checksum is not ``sha256``: the catalogue's record of the file it saved, so a file copied
    from another collection or restored from an older save is refused too) or not a faiss
    index of that kind.
    """
    path = Path(path)
    if not path.is_file():
        raise CollectionError(f"Cannot read the index file {path}: it is missing. {fix}")
    if sha256 is not None:
        try:
            found = sha256_file(path)
        except OSError as exc:
            raise CollectionError(f"Cannot read the index file {path}: {exc}. {fix}") from exc
        if found != sha256:
            raise CollectionError(
                f"The index file {path} is truncated or corrupt (checksum mismatch). {fix}"
            )
    flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
    try:
        faiss_index = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise CollectionError(f"faiss cannot read the index file {path}: {exc}. {fix}") from exc
    structure = structure_of(faiss_index)
    if structure is None or (kind is not None and structure not in STRUCTURES[kind]):
        raise CollectionError(f"The index file {path} is not a {kind or 'sciceapp'} index. {fix}")
    return faiss_index, kind or kind_of_structure(structure)
