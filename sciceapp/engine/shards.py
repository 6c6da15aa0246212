"""Shards: Parquet files of photos described elsewhere, one row per photo with its descriptor.

The format (version :data:`SCHEMA_VERSION`) is documented in ``docs/shards.md``; this module
is its one reader and writer (pyarrow). :class:`ShardWriter` writes one shard (the cluster's
per-partition writer and ``collection export-shards`` both use it), atomically: the file
appears complete or not at all. :func:`read_shard` streams one shard a row group at a time,
so memory stays bounded whatever the shard's size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sciceapp.atomic import atomic_write
from sciceapp.errors import CollectionError

SCHEMA_VERSION = "1"
SUFFIX = ".parquet"
ROW_GROUP_ROWS = 1024
"""Rows per row group written: 44 MB of base-size float32 descriptors, what a reader holds."""
META_KEYS = (
    "sciceapp.schema_version",
    "sciceapp.model_sha256",
    "sciceapp.descriptor_dim",
    "sciceapp.model_label",
)
STATES = ("indexed", "skipped")
DESCRIPTOR_TYPES = {"float32": pa.float32(), "float16": pa.float16()}
PLAIN_COLUMNS = ("descriptor",)
"""Written without dictionary encoding or compression: descriptor values hardly repeat or
compress (6% smaller with both), and pyarrow's default dictionary attempt made reading a
row group of 1024 base-size float16 descriptors 8.6x slower and writing it 3.4x slower
(measured: benchmarks/RESULTS.md, shard import)."""


@dataclass(frozen=True)
class ShardMeta:
    """The file key-value metadata of a shard: which model described its photos."""

    model_sha256: str
    descriptor_dim: int
    model_label: str
    schema_version: str = SCHEMA_VERSION

    def as_metadata(self) -> dict[bytes, bytes]:
        values = (
            self.schema_version,
            self.model_sha256,
            str(self.descriptor_dim),
            self.model_label,
        )
        return {k.encode(): v.encode() for k, v in zip(META_KEYS, values, strict=True)}


@dataclass
class ShardRow:
    """One photo. ``descriptor``: float ``[dim]`` when ``state == "indexed"``, else None."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    lat: float | None
    lon: float | None
    alt: float | None
    taken_at: str | None
    gps_reason: str | None
    state: str
    reason: str | None
    descriptor: np.ndarray | None


def schema(meta: ShardMeta, descriptor_type: str = "float32") -> pa.Schema:
    value = DESCRIPTOR_TYPES[descriptor_type]
    fields = [
        pa.field("path", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime_ns", pa.int64(), nullable=False),
        pa.field("sha256", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("alt", pa.float64()),
        pa.field("taken_at", pa.string()),
        pa.field("gps_reason", pa.string()),
        pa.field("state", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("descriptor", pa.list_(value, meta.descriptor_dim)),
    ]
    return pa.schema(fields, metadata=meta.as_metadata())


class ShardWriter:
    """Writes one shard at ``path`` (``with ShardWriter(...) as w: w.write(rows)``); the file
    replaces ``path`` only when the block ends without an error."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: ShardMeta,
        descriptor_type: str = "float32",
        row_group_rows: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.meta = meta
        self.schema = schema(meta, descriptor_type)
        self.value_type = np.dtype(descriptor_type)
        self.row_group_rows = row_group_rows or ROW_GROUP_ROWS
        self.rows = 0
        self._pending: list[ShardRow] = []

    def __enter__(self) -> ShardWriter:
        self._atomic = atomic_write(self.path, "wb")
        handle = self._atomic.__enter__()
        names = self.schema.names
        self._writer = pq.ParquetWriter(
            handle,
            self.schema,
            use_dictionary=[n for n in names if n not in PLAIN_COLUMNS],
            compression={n: "none" if n in PLAIN_COLUMNS else "snappy" for n in names},
        )
        return self

    def write(self, rows: Iterable[ShardRow]) -> None:
        for row in rows:
            self._pending.append(row)
            if len(self._pending) >= self.row_group_rows:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        dim = self.meta.descriptor_dim
        flat = np.zeros((len(rows), dim), self.value_type)
        valid = np.zeros(len(rows), bool)
        for i, row in enumerate(rows):
            if row.state not in STATES:
                raise ValueError(f"state must be one of {STATES}, not {row.state!r}")
            if row.descriptor is not None:
                flat[i] = np.asarray(row.descriptor).reshape(dim)
                valid[i] = True
        values = pa.array(flat.reshape(-1), type=self.schema.field("descriptor").type.value_type)
        descriptors = pa.FixedSizeListArray.from_arrays(values, dim, mask=pa.array(~valid))
        columns = {
            name: pa.array([getattr(r, name) for r in rows], type=self.schema.field(name).type)
            for name in self.schema.names
            if name != "descriptor"
        }
        columns["descriptor"] = descriptors
        self._writer.write_table(pa.table(columns, schema=self.schema))
        self.rows += len(rows)

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self._abandon(value)
            return
        try:  # the rows still pending and the footer: failing here fails the shard too
            self._flush()
            self._writer.close()
        except BaseException as exc:
            self._abandon(exc)
            raise
        self._atomic.__exit__(None, None, None)

    def _abandon(self, error: BaseException) -> None:
        """Delete the partial file: ``error`` ended the writing."""
        with contextlib.suppress(Exception):  # a writer that failed may fail to close too
            self._writer.close()
        self._atomic.__exit__(type(error), error, error.__traceback__)


def shard_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The shards named: files as given, folders replaced by their ``*.parquet`` (sorted)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{SUFFIX}")))
        elif path.is_file():
            found.append(path)
        else:
            raise CollectionError(f"{path} does not exist (give Parquet shards or folders).")
    return found


def read_meta(path: Path) -> tuple[ShardMeta, pq.ParquetFile]:
    """The shard's metadata (checked: version, keys, descriptor column), and the open file."""
    try:
        handle = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise CollectionError(f"{path} is not a readable Parquet shard: {exc}") from exc
    raw = handle.schema_arrow.metadata or {}
    values = {k.decode(): v.decode() for k, v in raw.items() if k.decode() in META_KEYS}
    missing = [k for k in META_KEYS if k not in values]
    if missing:
        raise CollectionError(
            f"{path} is not a sciceapp shard (its metadata lacks {', '.join(missing)})."
        )
    if values["sciceapp.schema_version"] != SCHEMA_VERSION:
        raise CollectionError(
            f"{path} has shard format version {values['sciceapp.schema_version']!r}; this "
            f"sciceapp reads version {SCHEMA_VERSION}. Update sciceapp."
        )
    try:
        meta = ShardMeta(
            values["sciceapp.model_sha256"],
            int(values["sciceapp.descriptor_dim"]),
            values["sciceapp.model_label"],
        )
    except ValueError as exc:
        raise CollectionError(f"{path} has a damaged descriptor size: {exc}") from exc
    _check_columns(path, handle.schema_arrow, meta)
    return meta, handle


def _check_columns(path: Path, found: pa.Schema, meta: ShardMeta) -> None:
    """``CollectionError`` unless every column of the format is there with its type (the
    descriptor: a fixed-size list of ``descriptor_dim`` float32 or float16)."""
    expected = schema(meta)
    wrong = []
    for field in expected:
        if field.name not in found.names:
            wrong.append(f"no {field.name!r} column")
            continue
        have = found.field(field.name).type
        if field.name == "descriptor":
            ok = (
                pa.types.is_fixed_size_list(have)
                and have.list_size == meta.descriptor_dim
                and have.value_type in DESCRIPTOR_TYPES.values()
            )
            if not ok:
                wrong.append(
                    f"the descriptor column is {have}, not a fixed-size list of "
                    f"{meta.descriptor_dim} floats as its metadata says"
                )
        elif have != field.type:
            wrong.append(f"column {field.name!r} is {have}, not {field.type}")
    if wrong:
        raise CollectionError(
            f"{path} does not follow shard format {SCHEMA_VERSION} (docs/shards.md): "
            f"{'; '.join(wrong)}."
        )


def read_shard(
    handle: pq.ParquetFile, dim: int
) -> Iterator[tuple[list[dict], np.ndarray, np.ndarray]]:
    """Per row group: ``(rows without their descriptor, descriptors float32 [n, dim],
    has_descriptor bool [n])`` (the rows of ``descriptors`` without one mean nothing)."""
    for group in range(handle.num_row_groups):
        try:
            table = handle.read_row_group(group)
        except (OSError, pa.ArrowException) as exc:
            raise CollectionError(
                f"Row group {group} of the shard cannot be read ({exc}): the file is damaged. "
                "Nothing already saved is lost; import an intact copy of the shard to finish "
                "(what is already there is not added twice)."
            ) from exc
        empty = [n for n in ("path", "size", "mtime_ns", "state") if table.column(n).null_count]
        if empty:
            raise CollectionError(
                f"Row group {group} of the shard has rows without {', '.join(empty)}, which "
                "every photo must have (docs/shards.md); nothing of it was imported."
            )
        column = table.column("descriptor").combine_chunks()
        valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        start = column.offset * dim  # ``values`` has a slot for null rows too
        values = column.values.slice(start, len(column) * dim).to_numpy(zero_copy_only=False)
        vectors = values.astype(np.float32, copy=False).reshape(len(column), dim)
        valid &= np.isfinite(vectors).all(axis=1)  # NaN or infinity: as if it had none
        rows = table.drop_columns(["descriptor"]).to_pylist()
        yield rows, vectors, valid
