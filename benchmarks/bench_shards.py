"""Rows per second of `collection import` (and of a second, idempotent import, and of
`export-shards`) for synthetic shards of base-size descriptors.

Usage: python benchmarks/bench_shards.py [--rows 100000] [--dim 10752] [--shard-rows 25000]
       [--dtype float16] [--folder /tmp/sciceapp-bench-shards]

The shards are written first with ``sciceapp.engine.shards.ShardWriter`` (random unit
descriptors, every tenth photo without GPS, one in a hundred skipped); the collection is bound
to a model file that only carries the metadata (the import never runs the model). The
baseline is reading the same shards with pyarrow alone (every row group, descriptors turned
into a numpy array): what an import costs beyond reading its input. Peak RSS is the process's
(``ru_maxrss``), so it includes the writing step before.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from sciceapp.engine import shards
from sciceapp.engine.library import Library


def fake_model(path: Path, dim: int) -> Path:
    """An ONNX file whose metadata says it outputs ``dim`` values (enough for a collection)."""
    import json

    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["images"], ["descriptors"])
    graph = helper.make_graph(
        [node],
        "metadata-only",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["B", dim])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["B", dim])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    meta = {
        "sciceapp.format": "1",
        "sciceapp.variant": "bench",
        "sciceapp.label": "Benchmark metadata-only model",
        "sciceapp.config": "{}",
        "sciceapp.descriptor_dim": str(dim),
        "sciceapp.image_size": "224",
        "sciceapp.mean": json.dumps([0.485, 0.456, 0.406]),
        "sciceapp.std": json.dumps([0.229, 0.224, 0.225]),
        "sciceapp.random_init": "true",
        "sciceapp.precision": "fp32",
        "sciceapp.weights_sha256": "{}",
        "sciceapp.exporter": "benchmarks/bench_shards.py",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def write_shards(folder: Path, meta, rows: int, shard_rows: int, dtype: str) -> float:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for first in range(0, rows, shard_rows):
        count = min(shard_rows, rows - first)
        with shards.ShardWriter(folder / f"s{first:09d}.parquet", meta, dtype) as writer:
            for start in range(first, first + count, shards.ROW_GROUP_ROWS):
                n = min(shards.ROW_GROUP_ROWS, first + count - start)
                x = rng.standard_normal((n, meta.descriptor_dim), np.float32)
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                writer.write(
                    shards.ShardRow(
                        f"/photos/{start + i:09d}.jpg",
                        4_000_000,
                        1_700_000_000_000_000_000,
                        f"{start + i:064x}",
                        None if (start + i) % 10 == 0 else 43.0 + i * 1e-6,
                        None if (start + i) % 10 == 0 else 11.0,
                        None,
                        "2024-05-01T10:00:00",
                        "no GPS position in EXIF" if (start + i) % 10 == 0 else None,
                        "skipped" if (start + i) % 100 == 7 else "indexed",
                        "corrupt image data" if (start + i) % 100 == 7 else None,
                        None if (start + i) % 100 == 7 else x[i],
                    )
                    for i in range(n)
                )
    return time.perf_counter() - t0


def read_only(folder: Path, dim: int) -> float:
    t0 = time.perf_counter()
    for path in shards.shard_files([folder]):
        _, handle = shards.read_meta(path)
        for _rows, vectors, _valid in shards.read_shard(handle, dim):
            vectors.sum()  # touch the values
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=10752)
    parser.add_argument("--shard-rows", type=int, default=25_000)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/sciceapp-bench-shards"))
    args = parser.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    (args.folder / "in").mkdir(parents=True)
    print(
        f"# bench_shards: {args.rows:,} rows, D={args.dim} {args.dtype}, "
        f"{args.shard_rows:,} rows per shard, {shards.ROW_GROUP_ROWS} per row group"
    )
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    try:
        model = fake_model(args.folder / "model.onnx", args.dim)
        library = Library(args.folder / "data")
        collection = library.create_collection("bench", model, store_dtype=args.dtype)
        meta = shards.ShardMeta(collection.model_sha256, args.dim, collection.model_label)
        write_s = write_shards(args.folder / "in", meta, args.rows, args.shard_rows, args.dtype)
        size = sum(p.stat().st_size for p in (args.folder / "in").iterdir())
        read_s = read_only(args.folder / "in", args.dim)
        t0 = time.perf_counter()
        report = collection.import_shards([args.folder / "in"])
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = collection.import_shards([args.folder / "in"])
        again_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        collection.export_shards(args.folder / "out", rows_per_shard=args.shard_rows)
        export_s = time.perf_counter() - t0
        assert again.added == 0 and report.added + len(report.skipped) == args.rows
        mb = size / 2**20
        print(f"\nshards: {mb:.0f} MiB on disk ({size / args.rows:.0f} bytes per row)\n")
        print("| step | seconds | rows/s | MiB/s | vs pyarrow read |")
        print("|---|---|---|---|---|")
        for name, seconds in (
            ("write shards (ShardWriter)", write_s),
            ("pyarrow read alone (baseline)", read_s),
            ("collection import", import_s),
            ("second import (adds nothing)", again_s),
            ("export-shards", export_s),
        ):
            print(
                f"| {name} | {seconds:.1f} | {args.rows / seconds:,.0f} | {mb / seconds:.0f} "
                f"| {seconds / read_s:.2f}x |"
            )
        print(
            f"\n# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
            f"load average {os.getloadavg()[0]:.1f} at the end"
        )
    finally:
        shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
