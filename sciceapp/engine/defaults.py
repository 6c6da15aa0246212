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
kind (a shortlist from the sq8 codes plus the re-rank of ``shortlist`` rows). Measured at the
base size with the sq8 codes (benchmarks/RESULTS.md, "Collections at scale", third session,
"Crossover": bench_twostage.py crossover, load 9-10): exact search over a float32 store took
252 ms a query at 10 000 photos and 502 ms at 20 000, the two-stage kind 129 and 142 ms, with
recall@10 against exact search 1.000 and 0.990 (the old PQ codes: 0.89-0.90). The two are
already apart at 10 000, which is about what the two-stage kind needs to train (9 984 with
256 lists), so the crossover is that training minimum."""
