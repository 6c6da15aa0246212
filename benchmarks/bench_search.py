"""Query latency, build time and recall against exact search of each VectorIndex kind on
synthetic descriptors.

Usage: python benchmarks/bench_search.py [--sizes 10000 100000] [--dim 10752] [--kinds ...]
       [--data hard|easy]

Data (``--data``), L2-normalised vectors generated in chunks from fixed seeds, so that sizes
too large to hold as float32 (1M x 10752 = 43 GB) can still be indexed by the compact kinds:

- ``hard`` (default): built so that the exact top-10 is a close race, as with real
  descriptors. Every vector is the sum of three independent parts: its *street* (shared by
  PLACES_PER_STREET neighbouring places), its *place* (shared by the HARD_PHOTOS_PER_PLACE
  photos of one place) and its *view* (one photo's lighting, viewpoint, clutter), with energy
  shares STREET_SHARE, PLACE_SHARE and VIEW_SHARE. Each part has the same anisotropic
  spectrum: the variance along the j-th direction falls as 1 / j (a power-law eigenspectrum
  with exponent about 1, the shape reported for learned image representations), so the top
  256 of 10752 directions hold 62% of the variance and the top 1024 hold 76%. Two photos of
  one place then have a cosine near PLACE_SHARE + STREET_SHARE, two places of one street near
  STREET_SHARE, and unrelated photos scatter around 0 with a standard deviation of about 0.12
  (the few strong directions make chance look-alikes common, more so the bigger the
  database). The spectrum lies along the coordinate axes: every index kind here (exact inner
  product, PCA, k-means, PQ after PCA) gives the same results on a rotated copy, so a random
  rotation would only cost time.
- ``easy`` (the first version of this benchmark): places made of a rank-64 random "scene"
  signal plus small isotropic place detail, 10 photos per place, isotropic view noise. The
  exact top-10 of a query is always its own place, far from everything else, so every kind
  reaches recall 1.000 and the numbers say nothing about what compression loses.

In both modes the queries are new photos of database places, and the exact top-k (and its
scores) is computed by streaming over the chunks, so recall against exact search is known at
every size even where a flat index would not fit in memory. Before each table the script
prints what the exact neighbourhoods look like: the median gap between the 10th and 11th exact
scores (what an approximate index must not blur to keep recall@10), and the share of each
exact top-10 that shows the query's own place, its street, or elsewhere.

Kinds: the app's ``VectorIndex`` kinds (``flat``, ``pca``, ``ivfpq``) held in memory, and the
two that read the collection's descriptor store (``sciceapp.engine.store``), written for this
run under ``--store-dir`` (float16 rows unless ``--store-dtype float32``): ``store`` (exact
search streaming over the memory-mapped store, what a flat collection does) and
``twostage`` (an ivfpq shortlist of ``--shortlist`` photos re-ranked exactly from the store).
For those, bytes/vector counts what stays in memory; the store's rows are on disk and in the
page cache. Each table row also gives the process's peak resident memory so far.

Output: a Markdown table per size with, for each kind, build time (train + add), ms per query
for a batch of queries and for single queries, recall@1 and recall@10 against exact search,
place@1 (share of queries whose first result shows their place), bytes per vector, and ratios
against the flat (exact) index measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import time
from pathlib import Path

import faiss
import numpy as np

from sciceapp.engine import index as index_module
from sciceapp.engine import store as store_module
from sciceapp.engine.index import IndexParams, VectorIndex, recall_at_k
from sciceapp.engine.open_index import OpenIndex

FLAT_LIMIT_BYTES = 8 * 2**30  # a flat index above this is not built on this machine

# -- easy data ---------------------------------------------------------------------------------
RANK = 64  # dimensions of the shared "scene" signal
EASY_PHOTOS_PER_PLACE = 10  # database photos of each place (GSV-Cities has 4 to 20)
PLACE_NOISE = 0.15  # per-dimension detail a place has beyond the shared signal
VIEW_NOISE = 0.7  # per-dimension difference between two photos of one place

# -- hard data ---------------------------------------------------------------------------------
HARD_PHOTOS_PER_PLACE = 5
PLACES_PER_STREET = 10
STREET_SHARE = 0.3  # energy shares of the three parts of a vector (they sum to 1)
PLACE_SHARE = 0.3
VIEW_SHARE = 0.4
SPECTRUM_EXPONENT = 1.0  # variance along the j-th direction ~ j ** -SPECTRUM_EXPONENT


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class EasyData:
    """The first version's data: a rank-64 scene signal plus isotropic place and view noise."""

    photos_per_place = EASY_PHOTOS_PER_PLACE
    places_per_street = 1  # no streets: every place stands alone

    def __init__(self, dim: int, seed: int, exponent: float = 0.0) -> None:
        self.seed = seed  # exponent: unused (the scene signal has a flat rank-64 spectrum)
        self.basis = np.random.default_rng([seed, 4]).standard_normal((RANK, dim), np.float32)
        self.basis /= np.sqrt(RANK)

    def places(self, first_place: int, count: int, seed: int) -> np.ndarray:
        """Noise-free place vectors ``[count, D]`` (deterministic per chunk of places)."""
        rng = np.random.default_rng([seed, 1, first_place])
        centres = rng.standard_normal((count, RANK), dtype=np.float32) @ self.basis
        centres += PLACE_NOISE * rng.standard_normal(centres.shape, dtype=np.float32)
        return centres

    def views(self, places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new photo ``[P, D]`` of each of ``places [P, D]``."""
        return _normalise(places + VIEW_NOISE * rng.standard_normal(places.shape, np.float32))


class HardData:
    """Streets, places and views with a 1/j spectrum: see the module docstring."""

    photos_per_place = HARD_PHOTOS_PER_PLACE
    places_per_street = PLACES_PER_STREET

    def __init__(self, dim: int, seed: int, exponent: float = SPECTRUM_EXPONENT) -> None:
        self.seed = seed
        variance = np.arange(1, dim + 1, dtype=np.float64) ** -exponent
        self.std = np.sqrt(variance / variance.sum()).astype(np.float32)  # [D], unit energy

    def _part(self, rng: np.random.Generator, rows: int, share: float) -> np.ndarray:
        x = rng.standard_normal((rows, len(self.std)), np.float32)
        x *= np.sqrt(share) * self.std
        return x

    def places(self, first_place: int, count: int, seed: int) -> np.ndarray:
        """Street plus place parts ``[count, D]``; ``first_place`` starts a street."""
        rng = np.random.default_rng([seed, 1, first_place])
        streets = self._part(rng, -(-count // PLACES_PER_STREET), STREET_SHARE)
        places = self._part(rng, count, PLACE_SHARE)
        places += np.repeat(streets, PLACES_PER_STREET, axis=0)[:count]
        return places

    def views(self, places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new photo ``[P, D]`` of each of ``places [P, D]``."""
        return _normalise(places + self._part(rng, len(places), VIEW_SHARE))


DATA = {"hard": HardData, "easy": EasyData}


def make_chunk(data, start: int, count: int, seed: int) -> np.ndarray:
    """Database vectors ``[count, D]`` for rows ``start..start+count``: row r shows place
    ``r // photos_per_place``. ``start`` and ``count`` are multiples of a street's rows."""
    per = data.photos_per_place
    places = data.places(start // per, count // per, seed)
    rng = np.random.default_rng([seed, 2, start])
    return data.views(np.repeat(places, per, axis=0), rng)


def chunks(data, n, chunk):
    for start in range(0, n, chunk):
        yield start, make_chunk(data, start, min(chunk, n - start), data.seed)


def make_queries(data, n, n_queries, chunk) -> tuple[np.ndarray, np.ndarray]:
    """New photos ``[Q, D]`` of places in the first chunk, and the place of each ``[Q]``."""
    n_places = min(chunk, n) // data.photos_per_place
    rng = np.random.default_rng([data.seed, 3])
    picks = rng.choice(n_places, n_queries, replace=False)
    return data.views(data.places(0, n_places, data.seed)[picks], rng), picks


def exact_top_k(data, n, queries, k, chunk) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact inner-product top-k by streaming the chunks: ``(scores [Q, k], ids [Q, k])``,
    best first, and the seconds spent searching (not generating)."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    search_s = 0.0
    for start, x in chunks(data, n, chunk):
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
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1), search_s


def describe_neighbourhoods(data, scores, ids, places, k) -> str:
    """One line on how separated the exact top-``k`` is; ``scores``/``ids`` are ``[Q, k+1]``."""
    place = ids[:, :k] // data.photos_per_place
    own = place == places[:, None]
    street = place // data.places_per_street == (places // data.places_per_street)[:, None]
    distinct = np.mean([len(set(row)) for row in place])
    gap = np.median(scores[:, k - 1] - scores[:, k])
    spread = np.median(scores[:, 0] - scores[:, k - 1])
    line = (
        f"exact top-{k}: median score gap {k}th-{k + 1}th {gap:.4f} (1st-{k}th {spread:.3f}, "
        f"{k}th score {np.median(scores[:, k - 1]):.3f}); own place {own.mean():.0%}"
    )
    if data.places_per_street > 1:
        line += (
            f", rest of its street {(street & ~own).mean():.0%}, elsewhere {(~street).mean():.0%}"
        )
    return line + f"; {distinct:.1f} places per top-{k}"


STORE_KINDS = ("store", "twostage")


def bytes_per_vector(kind: str, dim: int, params: IndexParams) -> int:
    """Bytes per photo held in memory (the store kinds' rows are in the mapped file)."""
    if kind == "flat":
        return 4 * dim + 8
    if kind == "pca":
        return 4 * params.effective_pca_dim(dim) + 8
    if kind == "store":
        return 8  # the row map
    return params.pq_m + 8 + 8  # ivfpq (codes + ids); twostage adds the store's row map


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now() -> str:
    """Current resident memory, anonymous (the process's own) and file-backed (mapped pages)."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return f"anon {fields.get('RssAnon', '?')}, file {fields.get('RssFile', '?')}"


def _fill_store(folder: Path, data, dim, n, chunk, dtype, index) -> store_module.DescriptorStore:
    """Write every database vector to a store in ``folder`` (and add it to ``index``)."""
    shutil.rmtree(folder, ignore_errors=True)
    writer = store_module.StoreWriter(folder, dim, dtype, [])
    for start, x in chunks(data, n, chunk):
        ids = np.arange(start, start + len(x))
        writer.append(ids, x)
        if index is not None:
            index.add(ids, x)
    writer.committed(writer.flush(1))
    segments = list(writer.segments)
    writer.close()
    return store_module.DescriptorStore(folder, dim, dtype, segments)


def build(kind, data, dim, n, params, args) -> tuple[object, float]:
    t0 = time.perf_counter()
    index = VectorIndex(dim, {"twostage": "ivfpq", "store": "flat"}.get(kind, kind), params)
    if kind not in ("flat", "store"):
        held_out = make_chunk(data, 0, args.max_train, data.seed + 1)
        index.train(held_out)  # held-out training data
        del held_out
    if kind in STORE_KINDS:
        folder = Path(args.store_dir) / f"{n}"
        # Exact search converts float16 rows as it streams them (numpy: about 25 ns a value),
        # so the exact store is float32, as a flat collection's is by default.
        dtype = args.store_dtype if kind == "twostage" else "float32"
        store = _fill_store(
            folder, data, dim, n, args.chunk, dtype, index if kind != "store" else None
        )
        built = OpenIndex(1, "flat" if kind == "store" else kind, store, None, params)
        if kind == "twostage":
            built.index = index
        return built, time.perf_counter() - t0
    for start, x in chunks(data, n, args.chunk):
        index.add(np.arange(start, start + len(x)), x)
    return index, time.perf_counter() - t0


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


def run_size(args, data, params, n) -> None:
    queries, places = make_queries(data, n, args.queries, args.chunk)
    scores, truth, exact_s = exact_top_k(data, n, queries, args.k + 1, args.chunk)
    print(f"\n## N = {n:,} (exact top-{args.k} by streaming: {exact_s:.1f} s)\n")
    print(describe_neighbourhoods(data, scores, truth, places, args.k) + "\n")
    print(
        "| kind | build s | ms/query (batch) | ms/query (single) | recall@1 | recall@10 "
        "| place@1 | bytes/vector in RAM | build vs flat | batch latency vs flat | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    flat = None
    for kind in args.kinds:
        size = n * bytes_per_vector(kind, args.dim, params)
        if size > FLAT_LIMIT_BYTES:
            print(
                f"| {kind} | not built: {size / 2**30:.0f} GiB does not fit this machine's "
                "memory | | | | | | | | | |"
            )
            continue
        index, build_s = build(kind, data, args.dim, n, params, args)
        batch_ms, single_ms, ids = time_search(index, queries, args.k, args.singles)
        memory = rss_now()
        del index
        recall_1 = recall_at_k(ids, truth, 1)
        recall = recall_at_k(ids, truth, args.k)
        place_at_1 = float(np.mean(ids[:, 0] // data.photos_per_place == places))
        if kind == "flat":
            flat = (build_s, batch_ms)
        ratios = f"{build_s / flat[0]:.2f}x | {batch_ms / flat[1]:.3f}x" if flat else "- | -"
        print(
            f"| {kind} | {build_s:.1f} | {batch_ms:.2f} | {single_ms:.2f} | {recall_1:.3f} "
            f"| {recall:.3f} | {place_at_1:.2f} | {bytes_per_vector(kind, args.dim, params)} "
            f"| {ratios} | {peak_rss_mib():.0f} ({memory}) |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=10752, help="descriptor size (base: 10752)")
    parser.add_argument("--data", choices=sorted(DATA), default="hard")
    parser.add_argument(
        "--spectrum-exponent",
        type=float,
        default=SPECTRUM_EXPONENT,
        help="hard data: variance along the j-th direction ~ j ** -EXPONENT (a larger "
        "exponent puts more of it in the first directions, which PCA keeps)",
    )
    parser.add_argument("--kinds", nargs="+", default=["flat", "pca", "ivfpq"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--singles", type=int, default=10, help="queries timed one by one")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--pca-dim", type=int, default=1024)
    parser.add_argument("--nlist", type=int, default=256)
    parser.add_argument("--pq-m", type=int, default=128)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=10_000)
    parser.add_argument("--shortlist", type=int, default=256, help="twostage: re-ranked per query")
    parser.add_argument("--store-dir", default="/tmp/sciceapp-bench-store")
    parser.add_argument(
        "--store-dtype", choices=store_module.DTYPES, default="float16", help="twostage's store"
    )
    parser.add_argument("--keep-store", action="store_true", help="leave the stores on disk")
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="faiss threads (default 1: on a loaded 2-core machine, OpenMP threads that spin "
        "waiting for each other made faiss training 3x slower than one thread)",
    )
    parser.add_argument(
        "--faiss-stock-blas",
        action="store_true",
        help="let faiss choose between its own kernels and BLAS by its stock rule instead of "
        "the app's choice (sciceapp.engine.index.faiss_search), to measure what that changes",
    )
    args = parser.parse_args()
    if args.faiss_stock_blas:
        index_module.faiss_search = lambda index, queries, k: index.search(queries, k)
    data = DATA[args.data](args.dim, args.seed, args.spectrum_exponent)
    street_rows = data.photos_per_place * data.places_per_street
    for name in ("chunk", "max_train"):
        if getattr(args, name) % street_rows:
            parser.error(f"--{name.replace('_', '-')} must be a multiple of {street_rows}")
    if any(n % street_rows for n in args.sizes):
        parser.error(f"--sizes must be multiples of {street_rows}")
    faiss.omp_set_num_threads(args.threads)
    params = IndexParams(args.pca_dim, args.nlist, args.pq_m, 8, args.nprobe, args.shortlist)
    print(
        f"# bench_search: {args.data} data"
        + (f" (spectrum exponent {args.spectrum_exponent})" if args.data == "hard" else "")
        + f", D={args.dim}, {args.queries} queries, k={args.k}, "
        f"{params}, train on {args.max_train} held-out vectors"
    )
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} faiss thread(s), "
        f"BLAS switch: {'faiss stock rule' if args.faiss_stock_blas else 'the app (2+ queries)'}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    t0 = time.perf_counter()
    try:
        for n in args.sizes:
            run_size(args, data, params, n)
    finally:
        if not args.keep_store:
            shutil.rmtree(args.store_dir, ignore_errors=True)
    print(
        f"\n# total {time.perf_counter() - t0:.0f} s, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
