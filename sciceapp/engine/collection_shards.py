"""A collection's side of Parquet shards (``shards.py``, ``docs/shards.md``): checking shards
before an import stores anything, and exporting the collection as last saved.

The import itself is an indexing run (``IndexingRun.import_shards``), so it checkpoints, rolls
back and is cancelled like any other. pyarrow is imported only here and in ``shards.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue
from sciceapp.engine.catalogue import PhotoRecord
from sciceapp.engine.open_index import OpenIndex
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection


def checked_shards(collection: Collection, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The shard files under ``paths``, each checked to hold this collection's model and
    descriptor size (``CollectionError`` naming both models otherwise)."""
    from sciceapp.engine import shards

    files = shards.shard_files(paths)
    if not files:
        raise CollectionError("No shards found: give .parquet files or folders of them.")
    c = collection
    for path in files:
        meta, _ = shards.read_meta(path)
        if meta.model_sha256 != c.model_sha256:
            raise CollectionError(
                f"The shard {path} was described by {meta.model_label} (fingerprint "
                f"{meta.model_sha256[:12]}), but collection {c.name!r} uses "
                f"{c.model_label} (fingerprint {c.model_sha256[:12]}). Descriptors "
                "of different models cannot be mixed: import it into a collection of that "
                "model."
            )
        if meta.descriptor_dim != c.descriptor_dim:
            raise CollectionError(
                f"The shard {path} has descriptors of {meta.descriptor_dim} values; "
                f"collection {c.name!r} has {c.descriptor_dim}."
            )
    return files


def export(
    collection: Collection,
    folder: str | os.PathLike[str],
    rows_per_shard: int,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
) -> list[Path]:
    """Every photo of ``collection`` as last saved, into ``shard-00000.parquet``, ... in
    ``folder``, a row group at a time; returns the shards' paths."""
    from sciceapp.engine import shards

    c = collection
    target = Path(folder).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    opened = c.index()
    meta = shards.ShardMeta(c.model_sha256, c.descriptor_dim, c.model_label)
    written: list[Path] = []
    done = 0
    with closing(c.library.connect()) as conn:
        total = catalogue.counts(conn, c.id)[3]
        for page in catalogue.photo_pages(conn, c.id, rows_per_shard):
            if cancel is not None:
                cancel.raise_if_cancelled()
            path = target / f"shard-{len(written):05d}{shards.SUFFIX}"
            with shards.ShardWriter(path, meta, c.store_dtype) as writer:
                for start in range(0, len(page), shards.ROW_GROUP_ROWS):
                    part = page[start : start + shards.ROW_GROUP_ROWS]
                    writer.write(_shard_rows(part, opened))
                    done += len(part)
                    if progress is not None:
                        progress(done, total, str(path.name))
            written.append(path)
    return written


def _shard_rows(records: list[PhotoRecord], opened: OpenIndex) -> list:
    from sciceapp.engine.shards import ShardRow

    indexed = [r.id for r in records if r.state == "indexed"]
    try:
        vectors = dict(
            zip(indexed, opened.store.vectors_of(np.array(indexed, np.int64)), strict=True)
        )
    except KeyError as exc:
        raise CollectionError(
            "Some photos of this collection were indexed before the descriptor store and only "
            "their compressed codes were kept; rebuild it (`sciceapp collection rebuild`) to "
            "export full descriptors."
        ) from exc
    return [
        ShardRow(
            r.path,
            r.size,
            r.mtime_ns,
            r.sha256,
            r.lat,
            r.lon,
            r.alt,
            r.capture_time,
            r.gps_reason,
            r.state,
            r.skip_reason,
            vectors.get(r.id),
        )
        for r in records
    ]
