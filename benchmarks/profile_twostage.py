"""Where a two-stage query's time goes: the PCA projection, the inverted-file scan, the re-rank.

Usage:
  python benchmarks/profile_twostage.py --folder DIR/n100000 [--threads 1 2] [--nprobes ...]

On a snapshot with ``twostage_index.py``'s index: the collection's own search
(``OpenIndex.search``, as the GUI and CLI call it) and each of its steps timed alone, for
single queries and batches of 8, warm (each setting runs once untimed first), with faiss'
OpenMP threads set to each of ``--threads``. The steps: ``project`` (the PCA of the queries,
10752 x 1024), ``scan`` (the IVF-SQ8 search of the projections for ``shortlist`` ids),
``rerank`` (the store's exact re-rank of those ids), ``total`` (all three, in the app's call).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np
from bench_twostage import IVF_FILE, K, machine_line, uptime

from sciceapp.engine.index import IndexParams, VectorIndex, faiss_search
from sciceapp.engine.index_faiss import pre_transform
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.store import DescriptorStore, Segment


def timed(fn, items, n_queries: int) -> float:
    """ms per query of ``fn`` over ``items`` (after one untimed call)."""
    fn(items[0])
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - t0) * 1000 / n_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--nprobes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--shortlist", type=int, default=256)
    parser.add_argument("--singles", type=int, default=24)
    args = parser.parse_args()
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    queries = np.load(folder / "truth.npz")["queries"]
    params = IndexParams(**meta["params"])
    params.shortlist = args.shortlist
    store = DescriptorStore(
        folder.parent / "collection",
        meta["dim"],
        "float16",
        [Segment(**s) for s in meta["segments"]],
    )
    index = VectorIndex.load(folder / IVF_FILE, "twostage", params, None, mmap=True)
    opened = OpenIndex(1, "twostage", store, index, params)
    pca = faiss.downcast_VectorTransform(pre_transform(index._index).chain.at(0))
    ivf = index._ivf
    print(f"# profile_twostage {folder}: {meta['rows']:,} rows, {params}; {uptime()}")
    print(machine_line(), flush=True)
    print("\n| threads | nprobe | queries per call | project | scan | rerank | total (app) |")
    print("|---|---|---|---|---|---|---|")
    singles = [queries[i : i + 1] for i in range(args.singles)]
    batches = [queries[i : i + 8] for i in range(args.singles, len(queries) - 7, 8)]
    for threads in args.threads:
        faiss.omp_set_num_threads(threads)
        for nprobe in args.nprobes:
            ivf.nprobe = nprobe
            for name, calls in (("1", singles), ("8", batches)):
                projected = [pca.apply(np.ascontiguousarray(b)) for b in calls]
                shortlists = [faiss_search(ivf, p, args.shortlist)[1] for p in projected]
                pairs = list(zip(calls, shortlists, strict=True))
                n = sum(len(b) for b in calls)
                ms = {
                    "project": timed(lambda b: pca.apply(np.ascontiguousarray(b)), calls, n),
                    "scan": timed(lambda p: faiss_search(ivf, p, args.shortlist), projected, n),
                    "rerank": timed(lambda qs: store.rerank(qs[0], qs[1], K), pairs, n),
                    "total": timed(lambda b: opened.search(b, K), calls, n),
                }
                print(
                    f"| {threads} | {nprobe} | {name} | "
                    + " | ".join(f"{ms[k]:.1f}" for k in ("project", "scan", "rerank", "total"))
                    + " |",
                    flush=True,
                )
    print(f"\n# ms per query, warm; {uptime()}")


if __name__ == "__main__":
    main()
