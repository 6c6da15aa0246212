"""Default values that the engine, the command line and the window share.

No imports: the window reads them at start-up, before anything heavy is loaded.
"""

OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TOP_K = 10
"""Matches per query."""
DEFAULT_RADIUS_M = 100.0
"""Consensus radius: matches within this distance of each other vote for one position."""
DEFAULT_THRESHOLD_M = 200.0
"""Survey review: a photo whose GPS tag is farther than this from the prediction is flagged."""
MAX_TOP_K = 1000
"""Most matches a query may ask for (more is clamped to the collection's size anyway)."""
INDEX_PARAM_RANGES: dict[str, tuple[int, int]] = {
    "pca_dim": (1, 65536),
    "nlist": (1, 65536),
    "pq_m": (1, 65536),
    "pq_bits": (1, 16),
    "nprobe": (1, 65536),
    "shortlist": (1, 16384),
}
"""Allowed values (inclusive) of each compressed-index setting. faiss aborts the process
(SIGSEGV) on some values outside these, so nothing reaches it unchecked
(``engine.index.check_params``)."""
INDEX_CODES = ("pq4", "sq8", "pq")
"""The two-stage kind's shortlist codes (``engine.index_params``), the default first: 4-bit
fast-scan product quantisation, 8 bits per PCA-reduced value, or the 8-bit product
quantisation of the first two-stage files."""
DEFAULT_VERIFY_TOP_K = 20
"""Matches per query checked by geometric verification (local features, two-view fit)."""
AUTO_TWOSTAGE_FROM = 10_000
"""Photos from which a collection of index kind ``auto`` converts to ``twostage``: the size
where exact search (streaming the whole store per query) becomes slower than the two-stage
kind. Measured at the base size with the pq4 defaults (benchmarks/RESULTS.md, "Collections at
scale", fourth session, bench_twostage.py crossover, load 0.3): exact search over a float32
store took 33.9 ms a query at 10 000 photos and 65.4 ms at 20 000, the two-stage kind 25.3 and
28.3 ms, recall@10 against exact search 1.000 at both. The two-stage kind is already the faster
at 10 000, which is about what it needs to train (9 984 with 256 lists), so the crossover is
that training minimum."""
