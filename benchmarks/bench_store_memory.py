"""Peak memory of opening, searching and saving a collection's descriptors, per operation.

Usage: python benchmarks/bench_store_memory.py [--rows 100000] [--dim 10752]
       [--legacy-rows 10000] [--folder /tmp/sciceapp-bench-memory]

Every operation runs in a fresh process, which reports its peak resident memory (``VmHWM``)
and, at its end, the resident memory split into anonymous pages (the process's own copies)
and file-backed pages (mapped files: page cache that the kernel may drop at will). The
baseline is the format before the descriptor store (``index-<gen>.faiss`` with a JSON header
and ``faiss.serialize_index`` bytes, read whole and written from one bytes object), measured
in the same run at ``--legacy-rows`` (at 100k rows it would need about 17 GB) and given as a
multiple of its raw size, which is what the other rows compare with.

Operations (``flat`` is the default kind: exact search over the store, no index file):

- store: open (row map), exact search of 1 and 8 queries streaming over the mapped rows, a
  checkpoint appending 1000 rows;
- faiss flat file: ``read_index`` with ``IO_FLAG_MMAP_IFC`` (mapped) and without (copied),
  and ``VectorIndex.save`` streaming it back out with its checksum;
- twostage: open its IVF-PQ file and the store, search 8 queries (shortlist + exact re-rank
  from the mapped store), and save the index;
- legacy: the old load (whole file read, header split, deserialise) and save.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNK = 2000


def memory() -> dict[str, float]:
    """MiB: peak resident, and resident now split into anonymous and file-backed pages."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def vectors(start: int, count: int, dim: int) -> np.ndarray:
    x = np.random.default_rng([7, start]).standard_normal((count, dim), np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def queries(dim: int, n: int) -> np.ndarray:
    return vectors(10**9, n, dim)


# -- operations (each in its own process) ---------------------------------------------------
def _segments(folder: Path):
    return [
        __import__("sciceapp.engine.store", fromlist=["Segment"]).Segment(**s)
        for s in json.loads((folder / "segments.json").read_text())
    ]


def op_setup(folder: Path, rows: int, dim: int, legacy_rows: int) -> None:
    """Write the store, a faiss flat file, a twostage index file and a legacy file."""
    import faiss

    from sciceapp.engine.index import IndexParams, VectorIndex
    from sciceapp.engine.migration import MAGIC_1 as MAGIC
    from sciceapp.engine.store import StoreWriter

    shutil.rmtree(folder, ignore_errors=True)
    writer = StoreWriter(folder, dim, "float32", [])
    for start in range(0, rows, CHUNK):
        writer.append(
            np.arange(start, start + min(CHUNK, rows - start)),
            vectors(start, min(CHUNK, rows - start), dim),
        )
    segment = writer.flush(1)
    writer.committed(segment)
    writer.close()
    (folder / "segments.json").write_text(json.dumps([segment.__dict__]))
    flat = VectorIndex(dim, "flat")
    for start in range(0, rows, CHUNK):
        flat.add(
            np.arange(start, start + min(CHUNK, rows - start)),
            vectors(start, min(CHUNK, rows - start), dim),
        )
    (folder / "flat.sha").write_text(flat.save(folder / "flat.faiss"))
    legacy_payload = faiss.serialize_index(
        VectorIndex.build(dim, np.arange(legacy_rows), vectors(0, legacy_rows, dim))._index
    ).tobytes()
    del flat
    import hashlib

    header = {
        "kind": "flat",
        "dim": dim,
        "params": IndexParams().__dict__,
        "fallback_reason": None,
        "payload_bytes": len(legacy_payload),
        "payload_sha256": hashlib.sha256(legacy_payload).hexdigest(),
    }
    (folder / "legacy.faiss").write_bytes(
        MAGIC + json.dumps(header).encode() + b"\n" + legacy_payload
    )
    del legacy_payload
    ivf = VectorIndex(dim, "twostage", IndexParams())
    ivf.train(vectors(0, 10_000, dim))
    for start in range(0, rows, CHUNK):
        ivf.add(
            np.arange(start, start + min(CHUNK, rows - start)),
            vectors(start, min(CHUNK, rows - start), dim),
        )
    (folder / "twostage.sha").write_text(ivf.save(folder / "twostage.faiss"))


def op_store_open(folder, dim, q):
    from sciceapp.engine.store import DescriptorStore

    store = DescriptorStore(folder, dim, "float32", _segments(folder))
    if q:
        store.search(queries(dim, q), 10)


def op_store_append(folder, dim, q):
    from sciceapp.engine.store import StoreWriter

    writer = StoreWriter(folder, dim, "float32", _segments(folder))
    for start in range(0, 1000, 100):
        writer.append(np.arange(10**8 + start, 10**8 + start + 100), vectors(start, 100, dim))
    writer.flush(2)  # not committed: the next writer cuts it off again
    writer.close()
    StoreWriter(folder, dim, "float32", _segments(folder)).close()


def op_flat_load(folder, dim, q, mmap=True):
    from sciceapp.engine.index import VectorIndex

    index = VectorIndex.load(
        folder / "flat.faiss", "flat", sha256=(folder / "flat.sha").read_text(), mmap=mmap
    )
    index.search(queries(dim, 1), 10)
    return index


def op_flat_save(folder, dim, q):
    index = op_flat_load(folder, dim, q, mmap=True)
    index.save(folder / "flat-copy.faiss")
    (folder / "flat-copy.faiss").unlink()


def op_twostage(folder, dim, q, save=False):
    from sciceapp.engine.index import IndexParams, VectorIndex
    from sciceapp.engine.open_index import OpenIndex
    from sciceapp.engine.store import DescriptorStore

    store = DescriptorStore(folder, dim, "float32", _segments(folder))
    index = VectorIndex.load(
        folder / "twostage.faiss",
        "twostage",
        IndexParams(),
        sha256=(folder / "twostage.sha").read_text(),
        mmap=True,
    )
    OpenIndex(1, "twostage", store, index, IndexParams()).search(queries(dim, 8), 10)
    if save:
        index.save(folder / "twostage-copy.faiss")
        (folder / "twostage-copy.faiss").unlink()


def op_legacy(folder, dim, q, save=False):
    """The format before the store, exactly as it was read and written."""
    import hashlib

    import faiss

    from sciceapp.engine.migration import MAGIC_1 as MAGIC

    data = (folder / "legacy.faiss").read_bytes()
    end = data.find(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end])
    payload = data[end + 1 :]
    assert hashlib.sha256(payload).hexdigest() == header["payload_sha256"]
    index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
    del data, payload
    if save:
        payload = faiss.serialize_index(index).tobytes()
        blob = MAGIC + json.dumps(header).encode() + b"\n" + payload
        (folder / "legacy-copy.faiss").write_bytes(blob)
        (folder / "legacy-copy.faiss").unlink()


OPS = {
    "store: open": (op_store_open, 0),
    "store: open + exact search, 1 query": (op_store_open, 1),
    "store: open + exact search, 8 queries": (op_store_open, 8),
    "store: checkpoint appending 1000 rows": (op_store_append, 0),
    "faiss flat file: read_index IO_FLAG_MMAP_IFC + 1 query": (op_flat_load, 0),
    "faiss flat file: read_index copied + 1 query": (
        lambda f, d, q: op_flat_load(f, d, q, mmap=False),
        0,
    ),
    "faiss flat file: mapped, then saved (streamed, checksum)": (op_flat_save, 0),
    "twostage: open + search 8 queries (re-rank from the store)": (op_twostage, 0),
    "twostage: open + search + save the index": (
        lambda f, d, q: op_twostage(f, d, q, save=True),
        0,
    ),
    "legacy (before the store): load": (op_legacy, 0),
    "legacy (before the store): load + save": (lambda f, d, q: op_legacy(f, d, q, save=True), 0),
}


def child(name: str, folder: Path, dim: int) -> None:
    function, q = OPS[name]
    t0 = time.perf_counter()
    function(folder, dim, q)
    print(json.dumps({"seconds": time.perf_counter() - t0, **memory()}))


def run_child(args, *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--folder", str(args.folder), "--dim", str(args.dim), *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=10752)
    parser.add_argument("--legacy-rows", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/sciceapp-bench-memory"))
    parser.add_argument("--op", help=argparse.SUPPRESS)
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="leave the files on disk")
    args = parser.parse_args()
    if args.setup:
        op_setup(args.folder, args.rows, args.dim, args.legacy_rows)
        print(json.dumps(memory()))
        return
    if args.op:
        child(args.op, args.folder, args.dim)
        return
    print(
        f"# bench_store_memory: {args.rows:,} rows of D={args.dim} float32 "
        f"(raw {args.rows * args.dim * 4 / 2**30:.2f} GiB), legacy at {args.legacy_rows:,} rows"
    )
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    t0 = time.perf_counter()
    setup = run_child(
        args, "--setup", "--rows", str(args.rows), "--legacy-rows", str(args.legacy_rows)
    )
    print(f"# setup {time.perf_counter() - t0:.0f} s, its peak {setup.get('VmHWM', 0):.0f} MiB\n")
    print(
        "| operation | rows | seconds | peak RSS MiB | anon MiB at end | file-backed MiB at end "
        "| peak / raw size |"
    )
    print("|---|---|---|---|---|---|---|")
    try:
        for name in OPS:
            rows = args.legacy_rows if name.startswith("legacy") else args.rows
            raw = rows * args.dim * 4 / 2**20
            m = run_child(args, "--op", name)
            print(
                f"| {name} | {rows:,} | {m['seconds']:.2f} | {m['VmHWM']:.0f} | "
                f"{m['RssAnon']:.0f} | {m['RssFile']:.0f} | {m['VmHWM'] / raw:.2f}x |",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(args.folder, ignore_errors=True)
    print(
        f"\n# total {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f} "
        "at the end"
    )


if __name__ == "__main__":
    main()
