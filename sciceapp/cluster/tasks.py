"""The two stages of a cluster run, as Ray Data runs them: CPU tasks that describe photos
(:func:`describe_batch`) and an actor pool that embeds them (:class:`EmbedWorker`).

Batches between the stages are pyarrow tables with an explicit schema (:func:`decoded_schema`):
no pandas, no guessed types, and a column that is null in one batch is typed the same as in
the next. Each decode task calls the engine's one per-photo function,
``pipeline.describe_photo``, exactly as ``collection add`` does (same reader, EXIF parser,
orientation, draft decode, resize, normalisation and skip reasons); the actor runs the
desktop's ``Embedder`` (its provider choice and CPU fallback) once per worker.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sciceapp.cluster import CPU_DECODE, GPU_DECODE
from sciceapp.engine.onnx_model import ModelInfo, ModelInput
from sciceapp.engine.photo_source import source_for
from sciceapp.engine.pipeline import INVALID_DESCRIPTOR, Prepared, describe_photo

log = logging.getLogger(__name__)

ROW_FIELDS = (
    ("name", pa.string()),
    ("shard", pa.string()),
    ("size", pa.int64()),
    ("mtime_ns", pa.int64()),
    ("sha256", pa.string()),
    ("lat", pa.float64()),
    ("lon", pa.float64()),
    ("alt", pa.float64()),
    ("taken_at", pa.string()),
    ("gps_reason", pa.string()),
    ("reason", pa.string()),  # why the photo is skipped; null when it is described
)
"""What each photo carries from the decode tasks to the shards (besides pixels/descriptor)."""


def decoded_schema(info: ModelInfo, decode: str) -> pa.Schema:
    """Rows out of the decode tasks: ``pixels`` float32 ``[3*S*S]`` (zeros when skipped), or
    with GPU decoding the file's ``data`` (bytes) for the worker to decode."""
    size = info.image_size
    last = (
        pa.field("pixels", pa.list_(pa.float32(), 3 * size * size))
        if decode == CPU_DECODE
        else pa.field("data", pa.large_binary())
    )
    return pa.schema([pa.field(n, t) for n, t in ROW_FIELDS] + [last])


def embedded_schema(info: ModelInfo) -> pa.Schema:
    """Rows out of the workers: ``descriptor`` float32 ``[D]`` (zeros when skipped), and
    ``worker``: how the worker ran (provider, where it decoded and why), for the summary."""
    field = pa.field("descriptor", pa.list_(pa.float32(), info.descriptor_dim))
    rows = [pa.field(n, t) for n, t in ROW_FIELDS]
    return pa.schema([*rows, field, pa.field("worker", pa.string())])


def _row_values(item: Prepared) -> dict[str, Any]:
    meta, gps = item.meta, item.meta.gps if item.meta else None
    return {
        "size": item.size,
        "mtime_ns": item.mtime_ns,
        "sha256": item.sha256,
        "lat": gps.lat if gps else None,
        "lon": gps.lon if gps else None,
        "alt": gps.alt if gps else None,
        "taken_at": meta.capture_time if meta else None,
        "gps_reason": meta.gps_reason if meta else None,
        "reason": item.error,
    }


def fixed_rows(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A fixed-size-list column -> float32 ``[n, width]`` (one copy at most)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    start = column.offset * width
    values = column.values.slice(start, len(column) * width).to_numpy(zero_copy_only=False)
    return values.reshape(len(column), width)


def _fixed_column(rows: np.ndarray, field: pa.Field) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(rows, np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, field.type.list_size)


def describe_batch(batch: pa.Table, *, info: ModelInfo, decode: str = CPU_DECODE) -> pa.Table:
    """A decode task: listing rows (``name, shard, size, mtime_ns``) -> described photos."""
    model = ModelInput(info)
    schema = decoded_schema(info, decode)
    size = info.image_size
    columns: dict[str, list[Any]] = {name: [] for name, _ in ROW_FIELDS}
    pixels = np.zeros((batch.num_rows, 3 * size * size), np.float32)
    data: list[bytes | None] = []
    for i, row in enumerate(batch.select(["name", "shard", "size", "mtime_ns"]).to_pylist()):
        source = source_for(row["name"], row["size"], row["mtime_ns"])
        if decode == CPU_DECODE:
            item = describe_photo(source, model)
            if item.error is None:
                pixels[i] = item.model_input.reshape(-1)
        else:
            item, raw = describe_photo(source, model, decode=False), None
            if item.error is None:
                raw, item.model_input = item.model_input, None
            data.append(raw)
        values = {"name": row["name"], "shard": row["shard"], **_row_values(item)}
        for name, value in values.items():
            columns[name].append(value)
    arrays = [pa.array(columns[name], type) for name, type in ROW_FIELDS]
    if decode == CPU_DECODE:
        arrays.append(_fixed_column(pixels, schema.field("pixels")))
    else:
        arrays.append(pa.array(data, pa.large_binary()))
    return pa.Table.from_arrays(arrays, schema=schema)


def local_model(path: str, sha256: str, model_bytes: Any) -> Path:
    """The model file on this worker: ``path`` when it holds the model (a shared folder, or
    a local run), else a copy of the bytes the driver put in the object store, kept in the
    worker's data folder (where the TensorRT engine cache then lives too)."""
    from sciceapp.atomic import atomic_write
    from sciceapp.engine.onnx_model import model_fingerprint
    from sciceapp.paths import data_dir

    given = Path(path)
    if given.is_file() and model_fingerprint(given) == sha256:
        return given
    copy = data_dir() / "cluster-models" / f"{sha256}.onnx"
    if not (copy.is_file() and model_fingerprint(copy) == sha256):
        import ray

        data = ray.get(model_bytes) if isinstance(model_bytes, ray.ObjectRef) else model_bytes
        with atomic_write(copy, "wb") as handle:
            handle.write(data)
    return copy


class EmbedWorker:
    """One actor of the pool: one ONNX Runtime session (the desktop's ``Embedder``: TensorRT
    or CUDA where the worker has a GPU, the CPU otherwise, with the reason logged), reused
    for every batch the pool hands it."""

    def __init__(
        self,
        *,
        model_path: str,
        model_sha256: str,
        model_bytes: Any,
        provider: str = "auto",
        decode: str = CPU_DECODE,
    ) -> None:
        from sciceapp.engine.onnx_model import Embedder

        path = local_model(model_path, model_sha256, model_bytes)
        self.embedder = Embedder(path, provider)
        self.info = self.embedder.info
        self.schema = embedded_schema(self.info)
        self.decoder = None
        self.note = f"model on {self.embedder.runtime or self.embedder.provider}"
        if decode == GPU_DECODE:
            from sciceapp.cluster.gpu_decode import GpuDecoder

            self.decoder = GpuDecoder(ModelInput(self.info))
            where = f"on the CPU: {self.decoder.reason}" if self.decoder.reason else "on the GPU"
            self.note += f", decoding {where}"
        log.info("worker %s: %s", os.getpid(), self.embedder.provider_report)

    def __call__(self, batch: pa.Table) -> pa.Table:
        info, n = self.info, batch.num_rows
        reasons = batch.column("reason").to_pylist()
        if self.decoder is not None:
            inputs, reasons = self.decoder.model_inputs(batch.column("data").to_pylist(), reasons)
        else:
            size = info.image_size
            inputs = fixed_rows(batch.column("pixels"), 3 * size * size).reshape(n, 3, size, size)
        ok = [i for i in range(n) if reasons[i] is None]
        descriptors = np.zeros((n, info.descriptor_dim), np.float32)
        if ok:
            vectors = self.embedder.embed(np.stack([inputs[i] for i in ok]))
            finite = np.isfinite(vectors).all(axis=1)  # never let NaN into a shard
            descriptors[np.asarray(ok)[finite]] = vectors[finite]
            for i in np.asarray(ok)[~finite]:
                reasons[i] = INVALID_DESCRIPTOR
        table = batch.select([name for name, _ in ROW_FIELDS])
        table = table.set_column(
            table.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string())
        )
        column = _fixed_column(descriptors, self.schema.field("descriptor"))
        table = table.append_column(self.schema.field("descriptor"), column)
        notes = pa.array([self.note] * n, pa.string())
        return table.append_column(self.schema.field("worker"), notes)
