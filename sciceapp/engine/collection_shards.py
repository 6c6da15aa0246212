"""A collection's side of Parquet shards (``shards.py``, ``docs/shards.md``): checking shards
before an import stores anything, the import's batches, and exporting the collection as last
saved.

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
from sciceapp.engine.exif import GeoPoint, PhotoMeta
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.pipeline import Prepared
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sciceapp.engine.collection import Collection
    from sciceapp.engine.indexing_run import IndexingRun


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


def _shard_item(row: dict, has_vector: bool) -> Prepared:
    """A shard row as the pipeline's item (what ``_write_batch`` stores)."""
    gps = None
    if row["lat"] is not None and row["lon"] is not None:
        gps = GeoPoint(row["lat"], row["lon"], row["alt"])
    error = None
    if row["state"] != "indexed":
        error = row["reason"] or "skipped where the shard was made"
    elif not has_vector:
        error = "the shard has no usable descriptor for this photo (none, NaN or infinite)"
    meta = PhotoMeta(gps, row["gps_reason"], row["taken_at"])
    return Prepared(
        Path(row["path"]), row["size"], row["mtime_ns"], row["sha256"], meta, error=error
    )


def import_batches(run: IndexingRun, files: list[Path]) -> Iterator[tuple]:
    """The run's ``(items, ok, vectors, replaced)`` batches from ``files``, a row group at a
    time: a photo already there with the same content is left alone (a second import of a
    shard adds nothing), one whose content changed is replaced."""
    from sciceapp.engine import shards

    handles = [shards.read_meta(path)[1] for path in files]
    total = sum(h.metadata.num_rows for h in handles)
    seen: set[str] = set()
    done = 0
    for handle in handles:
        for rows, vectors, valid in shards.read_shard(handle, run.c.descriptor_dim):
            if run.cancel is not None:
                run.cancel.raise_if_cancelled()
            items, keep, replaced = [], [], {}
            for row, has_vector in zip(rows, valid, strict=True):
                old = run.existing.get(row["path"])
                if row["path"] in seen or (
                    old is not None and old.sha256 == row["sha256"] and old.size == row["size"]
                ):
                    run.report.unchanged += 1
                    keep.append(False)
                    continue
                seen.add(row["path"])
                item = _shard_item(row, bool(has_vector))
                if old is not None:
                    replaced[row["path"]] = old
                items.append(item)
                keep.append(item.error is None)
            done += len(rows)
            run._report(done, total)
            ok = [item for item in items if item.error is None]
            yield items, ok, vectors[np.asarray(keep, bool)], replaced


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
