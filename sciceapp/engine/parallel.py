"""The search's worker threads, one per core, kept for the life of the process.

faiss parallelises a search over its queries, so a single query (the window's lookup of one
photo) runs on one core however many there are. The two-stage search splits what is left
over the cores itself: the inverted lists of one query (:func:`index_faiss.search_in_parts`)
and a batch's exact re-ranks, one query each (``store.DescriptorStore.rerank``). faiss and
numpy's copies release the GIL, so Python threads run them in parallel. The threads are kept
(and with them the buffers each keeps for its next re-rank, ``store.top_of_rows``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_LOCK = threading.Lock()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pool() -> ThreadPoolExecutor:
    """The process's search threads (one per core), started on first use (and again in a
    forked child, which inherits the pool but not its threads)."""
    global _POOL, _POOL_PID
    with _LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL = ThreadPoolExecutor(cores(), thread_name_prefix="search")
            _POOL_PID = os.getpid()
        return _POOL
