"""What an indexing run has to do: which files each command looks at, which catalogued photos
are gone, and (``triage``) which files are new, changed or unchanged.

A folder that is not found keeps its photos (an unplugged drive, an unmounted share); a file
whose size and mtime are unchanged is not read again, one that was only touched (same size,
same SHA-256) gets its new mtime recorded and is not embedded again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sciceapp.engine import catalogue
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.images import MAX_FILE_BYTES
from sciceapp.engine.pipeline import scan
from sciceapp.errors import CollectionError
from sciceapp.reading import sha256_file

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection

log = logging.getLogger(__name__)


@dataclass
class Scope:
    """The files a command looks at and the photos it drops; ``missing_roots``: folders not
    found whose ``missing_photos`` are kept."""

    files: list[Path]
    gone: list[PhotoRecord]
    missing_roots: list[str] = field(default_factory=list)
    missing_photos: int = 0


@dataclass
class Triage:
    """``todo``: files to embed; ``replaced``: their old rows by path; ``unchanged``: count."""

    todo: list[Path]
    replaced: dict[str, PhotoRecord]
    unchanged: int


def _sha256_or_none(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read (embedding then says why)."""
    try:
        return sha256_file(path, MAX_FILE_BYTES)
    except OSError:
        return None


def _under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def update_scope(
    conn: sqlite3.Connection,
    c: Collection,
    existing: dict[str, PhotoRecord],
    prune_missing: bool,
) -> Scope:
    """Every root scanned again; records (in the catalogue) which roots were not found, and
    drops them with ``prune_missing``."""
    roots = catalogue.roots(conn, c.id)
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
        and any(_under(path, root) for path in existing)
    ]
    kept = [] if prune_missing else missing
    gone = [
        p
        for path, p in existing.items()
        if path not in found and not any(_under(path, root) for root in kept)
    ]
    with catalogue.transaction(conn):
        if prune_missing:
            catalogue.remove_roots(conn, c.id, [r for r in missing if r not in present])
        catalogue.mark_missing_roots(conn, c.id, kept)
    for root in kept:
        log.warning("%s was not found; its photos in %r are kept", root, c.name)
    missing_photos = sum(1 for path in existing if any(_under(path, root) for root in kept))
    return Scope(files, gone, kept, missing_photos)


def remove_folder_scope(
    conn: sqlite3.Connection, c: Collection, existing: dict[str, PhotoRecord], root: str
) -> Scope:
    """The photos under ``root`` that no other root holds; ``root`` is no longer a root."""
    roots = catalogue.roots(conn, c.id)
    if root not in roots:
        raise CollectionError(
            f"{root} is not a folder of collection {c.name!r}; its folders are: "
            f"{', '.join(roots) or 'none'}."
        )
    others = [r for r in roots if r != root]
    gone = [
        p
        for path, p in existing.items()
        if _under(path, root) and not any(_under(path, other) for other in others)
    ]
    with catalogue.transaction(conn):
        catalogue.remove_roots(conn, c.id, [root])
    return Scope([], gone)


def rebuild_scope(
    conn: sqlite3.Connection, c: Collection, existing: dict[str, PhotoRecord]
) -> Scope:
    """Every root scanned again; refused while one is missing (its photos would be lost)."""
    roots = catalogue.roots(conn, c.id)
    missing = [root for root in roots if not os.path.exists(root)]
    if missing:
        raise CollectionError(
            f"Cannot rebuild {c.name!r}: {', '.join(missing)} not found. Plug the drive "
            f"in (or mount the share), or drop the folder with `sciceapp collection "
            f"remove-folder {c.name} FOLDER`, then rebuild."
        )
    files = scan(roots)
    found = {str(f) for f in files}
    return Scope(files, [p for path, p in existing.items() if path not in found])


def triage(
    conn: sqlite3.Connection,
    files: list[Path],
    existing: dict[str, PhotoRecord],
    force: bool = False,
) -> Triage:
    """Which of ``files`` to embed (all of them with ``force``); the mtimes of touched files
    are recorded here."""
    todo: list[Path] = []
    replaced: dict[str, PhotoRecord] = {}
    touched: list[tuple[int, int]] = []
    unchanged = 0
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
            unchanged += 1
        elif row.size == stat.st_size and row.sha256 == _sha256_or_none(path):
            touched.append((stat.st_mtime_ns, row.id))  # touched, same bytes
            unchanged += 1
        else:
            todo.append(path)
            replaced[str(path)] = row
    catalogue.set_mtimes(conn, touched)
    return Triage(todo, replaced, unchanged)
