"""Exact search per query batch size: the app's choice of faiss path against faiss' own rule.

faiss compares queries with the stored vectors either with its own per-query kernels or with
one BLAS matrix product, and recent releases pick BLAS only once queries x dim >= 128000.
``sciceapp.engine.index.faiss_search`` picks BLAS for every batch of two or more. This times
both on the same flat inner-product index for several batch sizes and two descriptor sizes
(the pca kind's 1024 and the base model's 10752); the baseline is faiss' rule, in the same run.

    python benchmarks/bench_blas_switch.py [--stored 100000 40000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import faiss
import numpy as np

from sciceapp.engine.index import faiss_search


def best_ms_per_query(search, index, queries: np.ndarray, k: int, repeats: int) -> float:
    search(index, queries, k)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        search(index, queries, k)
        best = min(best, time.perf_counter() - start)
    return best * 1e3 / len(queries)


def stock_search(index, queries: np.ndarray, k: int):
    return index.search(queries, k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[1024, 10752])
    parser.add_argument(
        "--stored", type=int, nargs="+", default=[100_000, 40_000], help="vectors, per dim"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    stock = faiss.cvar.distance_compute_blas_threshold
    rng = np.random.default_rng(0)
    print(
        f"faiss {faiss.__version__} (its threshold {stock}), {args.threads} faiss threads, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; best of {args.repeats}, k = {args.k}"
    )
    print()
    print("| dim | stored | batch | faiss' rule ms/query | app ms/query | app speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for dim, stored in zip(args.dims, args.stored, strict=True):
        index = faiss.IndexFlatIP(dim)
        index.add(rng.standard_normal((stored, dim), dtype=np.float32))
        for batch in args.batches:
            queries = rng.standard_normal((batch, dim), dtype=np.float32)
            faiss_rule = best_ms_per_query(stock_search, index, queries, args.k, args.repeats)
            app = best_ms_per_query(faiss_search, index, queries, args.k, args.repeats)
            print(
                f"| {dim} | {stored} | {batch} | {faiss_rule:.2f} | {app:.2f} | "
                f"{faiss_rule / app:.2f} |"
            )
        del index
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
