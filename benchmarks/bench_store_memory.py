"""Peak memory of opening, searching and saving a collection's descriptors, per operation.

Usage: python benchmarks/bench_store_memory.py [--rows 100000] [--dim 10752]
       [--legacy-rows 10000] [--folder /tmp/sciceapp-bench-memory]

Every operation runs in a fresh process, which reports its peak resident memory (``VmHWM``,
which counts the pages of mapped files) and the peaks of its two parts, sampled every 20 ms:
anonymous pages (the process's own copies) and file-backed pages (mapped files: page cache
that the kernel may drop at will). The
baseline is the format before the descriptor store (``index-<gen>.faiss`` with a JSON header
and ``faiss.serialize_index`` bytes, read whole and written from one bytes object), measured
in the same run at ``--legacy-rows`` (at 100k rows it would need about 17 GB) and given as a
multiple of its raw size (peak anonymous memory / raw size), which is what the other rows
compare with.

Operations (``flat`` is the default kind: exact search over the store, no index file):

- store: open (row map), exact search of 1 and 8 queries streaming over the mapped rows, a
  checkpoint appending 1000 rows;
- faiss flat file: ``read_index`` with ``IO_FLAG_MMAP_IFC`` (mapped) and without (copied),
  and ``VectorIndex.save`` streaming it back out with its checksum;
- pca, ivfpq, twostage: open the kind's index file (mapped; ivfpq and twostage share one
  IVF-PQ file, twostage also opens the store), search 8 queries (twostage: shortlist + exact
  re-rank from the mapped store), and save the index;
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
import threading
import time
from pathlib import Path

import numpy as np
from pooled_data import PooledNormals

CHUNK = 2000
TRAIN_ROWS = 10_000  # what the twostage kind needs to train (39 x 256 lists)


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
    """Unit vectors of rows ``start .. start + count`` (windows of one pool of normal values:
    the setup's cost is writing the files, not drawing random numbers)."""
    global _NORMALS
    if _NORMALS is None or _NORMALS.windows.shape[1] != dim:
        _NORMALS = PooledNormals(dim, seed=7)
    x = _NORMALS.parts(np.arange(start, start + count), np.ones(dim, np.float32))
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return x


_NORMALS = None


def few_vectors(seed: int, count: int, dim: int) -> np.ndarray:
    """A few unit vectors drawn directly (the operations measured must not hold the setup's
    256 MiB pool)."""
    x = np.random.default_rng([7, seed]).standard_normal((count, dim), np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def queries(dim: int, n: int) -> np.ndarray:
    return few_vectors(10**7, n, dim)


# -- operations (each in its own process) ---------------------------------------------------
def _segments(folder: Path):
    return [
        __import__("sciceapp.engine.store", fromlist=["Segment"]).Segment(**s)
        for s in json.loads((folder / "segments.json").read_text())
    ]


def op_setup(folder: Path, rows: int, dim: int, legacy_rows: int, twostage_from: str) -> None:
    """Write the store (the one pass that makes vectors), then, reading its rows back, a faiss
    flat file, a legacy file and the pca and twostage (IVF-PQ) index files. A step whose file
    is there already (from an interrupted setup with ``--keep``) is skipped. ``twostage_from``:
    an IVF-PQ file of ``VectorIndex.save`` holding ids ``0 .. rows - 1`` (bench_twostage.py's
    snapshot at this size) to use instead of training one: memory does not depend on which
    vectors the codes came from, and training takes long on a loaded 2-core machine."""
    import hashlib

    import faiss

    from sciceapp.engine.download import sha256_file
    from sciceapp.engine.index import IndexParams, VectorIndex
    from sciceapp.engine.migration import MAGIC_1 as MAGIC
    from sciceapp.engine.store import DescriptorStore, StoreWriter

    faiss.omp_set_num_threads(1)  # OpenMP threads spinning under other load: several x slower
    if not (folder / "segments.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        writer = StoreWriter(folder, dim, "float32", [])
        for start in range(0, rows, CHUNK):
            count = min(CHUNK, rows - start)
            writer.append(np.arange(start, start + count), vectors(start, count, dim))
        segment = writer.flush(1)
        writer.committed(segment)
        writer.close()
        (folder / "segments.json").write_text(json.dumps([segment.__dict__]))
    store = DescriptorStore(folder, dim, "float32", _segments(folder))

    def fill(index: VectorIndex, limit: int = rows) -> VectorIndex:
        for start, block in store.chunks():
            if start >= limit:
                break
            block = block[: limit - start]
            index.add(np.arange(start, start + len(block)), block)
        return index

    if not (folder / "flat.sha").exists():
        flat = fill(VectorIndex(dim, "flat"))
        (folder / "flat.sha").write_text(flat.save(folder / "flat.faiss"))
        del flat
    if not (folder / "legacy.faiss").exists():
        payload = faiss.serialize_index(fill(VectorIndex(dim, "flat"), legacy_rows)._index)
        payload = payload.tobytes()
        header = {
            "kind": "flat",
            "dim": dim,
            "params": IndexParams().__dict__,
            "fallback_reason": None,
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        (folder / "legacy.faiss").write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + payload)
        del payload
    if twostage_from and not (folder / "twostage.sha").exists():
        shutil.copyfile(twostage_from, folder / "twostage.faiss")
        (folder / "twostage.sha").write_text(sha256_file(folder / "twostage.faiss"))
    for kind in ("pca", "twostage"):
        if not (folder / f"{kind}.sha").exists():
            index = VectorIndex(dim, kind, IndexParams())
            index.train(np.asarray(store.vectors[:TRAIN_ROWS], np.float32))
            (folder / f"{kind}.sha").write_text(fill(index).save(folder / f"{kind}.faiss"))
            del index


def op_store_open(folder, dim, q):
    from sciceapp.engine.store import DescriptorStore

    store = DescriptorStore(folder, dim, "float32", _segments(folder))
    if q:
        store.search(queries(dim, q), 10)


def op_store_append(folder, dim, q):
    from sciceapp.engine.store import StoreWriter

    writer = StoreWriter(folder, dim, "float32", _segments(folder))
    for start in range(0, 1000, 100):
        writer.append(np.arange(10**8 + start, 10**8 + start + 100), few_vectors(start, 100, dim))
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


def op_trained(folder, dim, q, kind="twostage", save=False):
    """Open a trained kind's index file (mapped) and, for twostage, the store; search 8
    queries; optionally save the index again."""
    from sciceapp.engine.index import IndexParams, VectorIndex
    from sciceapp.engine.open_index import OpenIndex
    from sciceapp.engine.store import DescriptorStore

    file = "pca" if kind == "pca" else "twostage"  # ivfpq is twostage's file without the store
    store = None
    if kind == "twostage":
        store = DescriptorStore(folder, dim, "float32", _segments(folder))
    index = VectorIndex.load(
        folder / f"{file}.faiss",
        kind,
        IndexParams(),
        sha256=(folder / f"{file}.sha").read_text(),
        mmap=True,
    )
    OpenIndex(1, kind, store, index, IndexParams()).search(queries(dim, 8), 10)
    if save:
        index.save(folder / f"{file}-copy.faiss")
        (folder / f"{file}-copy.faiss").unlink()


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
    "pca: open + search 8 queries (PCA-1024 flat, mapped)": (
        lambda f, d, q: op_trained(f, d, q, "pca"),
        0,
    ),
    "pca: open + search + save the index": (
        lambda f, d, q: op_trained(f, d, q, "pca", save=True),
        0,
    ),
    "ivfpq: open + search 8 queries (IVF-PQ alone)": (
        lambda f, d, q: op_trained(f, d, q, "ivfpq"),
        0,
    ),
    "ivfpq: open + search + save the index": (
        lambda f, d, q: op_trained(f, d, q, "ivfpq", save=True),
        0,
    ),
    "twostage: open + search 8 queries (IVF-PQ shortlist + re-rank from the store)": (
        lambda f, d, q: op_trained(f, d, q, "twostage"),
        0,
    ),
    "twostage: open + search + save the index": (
        lambda f, d, q: op_trained(f, d, q, "twostage", save=True),
        0,
    ),
    "legacy (before the store): load": (op_legacy, 0),
    "legacy (before the store): load + save": (lambda f, d, q: op_legacy(f, d, q, save=True), 0),
}


def child(name: str, folder: Path, dim: int) -> None:
    """Run one operation; ``VmHWM`` counts mapped file pages too, so a thread samples the
    anonymous part (the process's own copies, what cannot be dropped) every 20 ms."""
    function, q = OPS[name]
    peak = {"anon": 0.0, "file": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            now = memory()
            peak["anon"] = max(peak["anon"], now["RssAnon"])
            peak["file"] = max(peak["file"], now["RssFile"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    function(folder, dim, q)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    now = memory()
    peak = {
        "PeakAnon": max(peak["anon"], now["RssAnon"]),
        "PeakFile": max(peak["file"], now["RssFile"]),
    }
    print(json.dumps({"seconds": seconds, **now, **peak}))


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
    parser.add_argument(
        "--twostage-from",
        default="",
        help="an IVF-PQ index file holding ids 0 .. rows-1 to use instead of training one",
    )
    args = parser.parse_args()
    if args.setup:
        op_setup(args.folder, args.rows, args.dim, args.legacy_rows, args.twostage_from)
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
        args,
        "--setup",
        "--rows",
        str(args.rows),
        "--legacy-rows",
        str(args.legacy_rows),
        "--twostage-from",
        args.twostage_from,
    )
    print(f"# setup {time.perf_counter() - t0:.0f} s, its peak {setup.get('VmHWM', 0):.0f} MiB\n")
    print(
        "| operation | rows | seconds | peak RSS MiB | peak anon MiB | peak file-backed MiB "
        "| peak anon / raw size |"
    )
    print("|---|---|---|---|---|---|---|")
    try:
        for name in OPS:
            rows = args.legacy_rows if name.startswith("legacy") else args.rows
            raw = rows * args.dim * 4 / 2**20
            m = run_child(args, "--op", name)
            print(
                f"| {name} | {rows:,} | {m['seconds']:.2f} | {m['VmHWM']:.0f} | "
                f"{m['PeakAnon']:.0f} | {m['PeakFile']:.0f} | {m['PeakAnon'] / raw:.2f}x |",
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
