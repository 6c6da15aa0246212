"""Query latency, build time and recall@10 of each VectorIndex kind on synthetic descriptors.

Usage: python benchmarks/bench_search.py [--sizes 10000 100000] [--dim 10752] [--kinds ...]

Data: L2-normalised vectors shaped like a VPR database: places (a low-rank "scene" signal plus
place detail), each seen in PHOTOS_PER_PLACE photos (plus per-photo noise), generated in
chunks from fixed seeds so that sizes too large to hold as float32 (1M x 10752 = 43 GB) can
still be indexed by the compact kinds. Queries are new photos of database places. The exact top-10 is computed
by streaming over the chunks, so recall@10 against exact search is known at every size even
where a flat index would not fit in memory; at such sizes the flat row reports that instead.

Output: a Markdown table per size with, for each kind, build time (train + add), ms per query
for a batch of queries and for single queries, recall@10 against exact search, bytes per
vector, place@1 (share of queries whose first result shows their place), and ratios against the flat (exact) index measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import faiss
import numpy as np

from sciceapp.engine.index import IndexParams, VectorIndex, recall_at_k

RANK = 64  # dimensions of the shared "scene" signal
PHOTOS_PER_PLACE = 10  # database photos of each place (GSV-Cities has 4 to 20)
PLACE_NOISE = 0.15  # per-dimension detail a place has beyond the shared signal
VIEW_NOISE = 0.7  # per-dimension difference between two photos of one place
FLAT_LIMIT_BYTES = 8 * 2**30  # a flat index above this is not built on this machine


def _places(basis: np.ndarray, first_place: int, count: int, seed: int) -> np.ndarray:
    """Noise-free place vectors ``[count, D]`` (deterministic per chunk of places)."""
    rng = np.random.default_rng([seed, 1, first_place])
    dim = basis.shape[1]
    centres = rng.standard_normal((count, RANK), dtype=np.float32) @ basis
    centres += PLACE_NOISE * rng.standard_normal((count, dim), dtype=np.float32)
    return centres


def _views(places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = places + VIEW_NOISE * rng.standard_normal(places.shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_chunk(basis: np.ndarray, start: int, count: int, seed: int) -> np.ndarray:
    """Database vectors ``[count, D]`` for rows ``start..start+count``: row r shows place
    ``r // PHOTOS_PER_PLACE``. ``start`` and ``count`` are multiples of PHOTOS_PER_PLACE."""
    places = _places(basis, start // PHOTOS_PER_PLACE, count // PHOTOS_PER_PLACE, seed)
    rng = np.random.default_rng([seed, 2, start])
    return _views(np.repeat(places, PHOTOS_PER_PLACE, axis=0), rng)


def chunks(basis, n, chunk, seed):
    for start in range(0, n, chunk):
        yield start, make_chunk(basis, start, min(chunk, n - start), seed)


def make_queries(basis, n, n_queries, chunk, seed) -> tuple[np.ndarray, np.ndarray]:
    """New photos ``[Q, D]`` of places in the database, and the place of each ``[Q]``."""
    n_places = min(chunk, n) // PHOTOS_PER_PLACE
    rng = np.random.default_rng([seed, 3])
    picks = rng.choice(n_places, n_queries, replace=False)
    return _views(_places(basis, 0, n_places, seed)[picks], rng), picks


def exact_top_k(basis, n, queries, k, chunk, seed) -> tuple[np.ndarray, float]:
    """Exact inner-product top-k ids ``[Q, k]`` by streaming the chunks, and the seconds spent."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    search_s = 0.0
    for start, x in chunks(basis, n, chunk, seed):
        t0 = time.perf_counter()
        scores = queries @ x.T
        ids = np.broadcast_to(np.arange(start, start + len(x)), scores.shape)
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, ids], axis=1)
        top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
        search_s += time.perf_counter() - t0
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1), search_s


def bytes_per_vector(kind: str, dim: int, params: IndexParams) -> int:
    if kind == "flat":
        return 4 * dim + 8
    if kind == "pca":
        return 4 * params.effective_pca_dim(dim) + 8
    return params.pq_m + 8


def build(kind, basis, n, params, max_train, chunk, seed) -> tuple[VectorIndex, float, str]:
    t0 = time.perf_counter()
    index = VectorIndex(basis.shape[1], kind, params)
    if kind != "flat":
        index.train(make_chunk(basis, 0, max_train, seed + 1))  # held-out training data
    for start, x in chunks(basis, n, chunk, seed):
        index.add(np.arange(start, start + len(x)), x)
    return index, time.perf_counter() - t0, ""


def time_search(index, queries, k, singles) -> tuple[float, float, np.ndarray]:
    index.search(queries[:2], k)  # warm up
    t0 = time.perf_counter()
    _, ids = index.search(queries, k)
    batch_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    t0 = time.perf_counter()
    for q in queries[:singles]:
        index.search(q[None, :], k)
    single_ms = (time.perf_counter() - t0) * 1000 / singles
    return batch_ms, single_ms, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=10752, help="descriptor size (base: 10752)")
    parser.add_argument("--kinds", nargs="+", default=["flat", "pca", "ivfpq"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--singles", type=int, default=10, help="queries timed one by one")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--pca-dim", type=int, default=1024)
    parser.add_argument("--nlist", type=int, default=256)
    parser.add_argument("--pq-m", type=int, default=128)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="faiss threads (default 1: on a loaded 2-core machine, OpenMP threads that spin "
        "waiting for each other made faiss training 3x slower than one thread)",
    )
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)

    params = IndexParams(args.pca_dim, args.nlist, args.pq_m, 8, args.nprobe)
    basis = np.random.default_rng([args.seed, 4]).standard_normal((RANK, args.dim), np.float32)
    basis /= np.sqrt(RANK)
    print(
        f"# bench_search: D={args.dim}, {args.queries} queries, k={args.k}, {params}, "
        f"train on {args.max_train} held-out vectors"
    )
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} faiss thread(s), "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    for n in args.sizes:
        queries, places = make_queries(basis, n, args.queries, args.chunk, args.seed)
        truth, exact_s = exact_top_k(basis, n, queries, args.k, args.chunk, args.seed)
        print(f"\n## N = {n:,} (exact top-{args.k} by streaming: {exact_s:.1f} s)\n")
        print(
            "| kind | build s | ms/query (batch) | ms/query (single) | recall@10 | place@1 "
            "| bytes/vector | build vs flat | batch latency vs flat |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        flat = None
        for kind in args.kinds:
            size = n * bytes_per_vector(kind, args.dim, params)
            if size > FLAT_LIMIT_BYTES:
                print(
                    f"| {kind} | not built: {size / 2**30:.0f} GiB does not fit this machine's "
                    "memory | | | | | | | |"
                )
                continue
            index, build_s, _ = build(kind, basis, n, params, args.max_train, args.chunk, args.seed)
            batch_ms, single_ms, ids = time_search(index, queries, args.k, args.singles)
            recall = recall_at_k(ids, truth, args.k)
            place_at_1 = float(np.mean(ids[:, 0] // PHOTOS_PER_PLACE == places))
            if kind == "flat":
                flat = (build_s, batch_ms)
            ratios = f"{build_s / flat[0]:.2f}x | {batch_ms / flat[1]:.3f}x" if flat else "- | -"
            print(
                f"| {kind} | {build_s:.1f} | {batch_ms:.2f} | {single_ms:.2f} | {recall:.3f} "
                f"| {place_at_1:.2f} "
                f"| {bytes_per_vector(kind, args.dim, params)} | {ratios} |",
                flush=True,
            )
            del index


if __name__ == "__main__":
    main()
