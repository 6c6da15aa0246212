"""The data of ``bench_twostage.py`` at up to a million photos, as a store alone: stage one.

Usage:
  python benchmarks/twostage_store.py --rows 1000000 --folder DIR [--snapshots 100000 300000]

One streamed pass of ``--chunk`` rows of ``pooled_data.PooledHardData`` (the hard data of
``bench_search.py``): each chunk is appended to a float16 descriptor store
(``sciceapp.engine.store.StoreWriter``, a checkpoint every ``--checkpoint`` rows) and updates
the exact top-11 of every query (float32 inner products: the ground truth). At each snapshot
size ``n`` (and at the end) ``DIR/n<n>/`` gets the ground truth and the store's committed
segments so far (``truth.npz``, ``meta.json``): a snapshot is a prefix of the one store.

No index is trained or filled here: ``bench_twostage.py shortlist`` builds the shortlist
codes of a snapshot from its store afterwards, as a collection's conversion does. So the
hour-long part (writing 21.5 GB at 1M) runs once, and the codes can be chosen after it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bench_search as bs
import numpy as np
from bench_twostage import K, Truth, machine_line, report, uptime
from pooled_data import PooledHardData

from sciceapp.engine.store import StoreWriter


def build(args) -> None:
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = args.rows
    snapshots = sorted({*(s for s in args.snapshots if s < n), n})
    print(
        f"# twostage_store: {n:,} rows, D={args.dim}, {args.queries} queries of places in the "
        f"first {args.query_rows:,} rows, snapshots at {snapshots}; {uptime()}"
    )
    print(machine_line(), flush=True)
    data = PooledHardData(args.dim, args.seed)
    queries, places = data.queries(args.queries, args.query_rows, args.seed)
    times = {"generate": 0.0, "store": 0.0, "truth": 0.0}
    truth = Truth(queries, K + 1)
    writer = StoreWriter(folder / "collection", args.dim, "float16", [])
    started = time.perf_counter()

    def timed(name, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        times[name] += time.perf_counter() - t0
        return out

    for start in range(0, n, args.chunk):
        count = min(args.chunk, n - start)
        x = timed("generate", data.chunk, start, count)
        timed("store", writer.append, np.arange(start, start + count), x)
        done = start + count
        if done % args.checkpoint == 0 or done in snapshots:
            timed("store", lambda: writer.committed(writer.flush(len(writer.segments) + 1)))
        timed("truth", truth.update, start, x)
        del x
        if done % args.report == 0 or done == n:
            report(done, n, started, times)
        if done in snapshots:
            save(args, folder / f"n{done}", data, truth, queries, places, writer, times, done)
    writer.close()
    print(f"# build done; {uptime()}", flush=True)


def save(args, folder: Path, data, truth, queries, places, writer, times, n) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    scores, exact = truth.sorted()
    per = data.photos_per_place
    print(f"## N = {n:,}: " + bs.describe_neighbourhoods(data, scores, exact, places, K))
    np.savez(folder / "truth.npz", queries=queries, places=places, ids=exact)
    meta = {
        "rows": n,
        "dim": args.dim,
        "seed": args.seed,
        "segments": [s.__dict__ for s in writer.segments],
        "times": dict(times),
        "exact_place1": float(np.mean(exact[:, 0] // per == places)),
        "photos_per_place": per,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    print(f"## snapshot {folder} saved: {json.dumps(times)}; {uptime()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/sciceapp-bench-twostage")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=10752)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--query-rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--checkpoint", type=int, default=100_000)
    parser.add_argument("--report", type=int, default=50_000)
    parser.add_argument("--snapshots", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--seed", type=int, default=0)
    build(parser.parse_args())


if __name__ == "__main__":
    main()
