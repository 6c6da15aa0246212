"""The ``pq4`` shortlist code: 4-bit product quantisation scanned with faiss' SIMD fast-scan.

faiss' ``IndexIVFPQFastScan`` keeps 4-bit codes packed by blocks of 32 photos, so that one
SIMD shuffle looks up the distances of 32 photos at once: scanning is 8-10x faster than the
8-bit scalar codes of ``sq8`` at an eighth of their size, which is what lets a query scan
every list of a million photos (benchmarks/RESULTS.md, "Fast-scan shortlist").

Removing photos is done here, not by faiss: faiss 1.15.1's ``remove_ids`` on these packed
lists compacts them but leaves the removed photos' 4-bit codes in the last block, and codes
added later are or-ed into those bits. Measured: after removing 100 of 5000 photos, 16% of
the next 500 photos added could no longer be found by their own descriptor
(``tests/engine/test_index_fastscan.py`` fails on faiss' own removal). :func:`remove_ids`
rewrites each list that holds a removed photo from its unpacked codes instead, so the blocks
past the end of a list are zero again, as a fresh list's are.
"""

from __future__ import annotations

import faiss
import numpy as np

from sciceapp.engine.index_params import PQ4_VALUES_PER_CODE

BITS = 4


def sub_quantisers(reduced: int) -> int:
    """How many 4-bit codes a photo of ``reduced`` PCA dimensions gets."""
    return reduced // PQ4_VALUES_PER_CODE


def new_ivf(quantizer: faiss.Index, reduced: int, nlist: int) -> faiss.IndexIVFPQFastScan:
    ivf = faiss.IndexIVFPQFastScan(quantizer, reduced, nlist, sub_quantisers(reduced), BITS)
    # Codes of the vectors themselves, not of their residuals to the list's centroid: with
    # sixteen centroids per sub-quantiser the residual codes kept less of the exact top-10 on
    # the benchmark's data (100k photos, every list searched, shortlist 1024: 0.948 against
    # 0.974; RESULTS, "Fast-scan shortlist").
    ivf.by_residual = False
    return ivf


def _lists(ivf: faiss.IndexIVF) -> faiss.BlockInvertedLists:
    return faiss.downcast_InvertedLists(ivf.invlists)


def remove_ids(ivf: faiss.IndexIVF, ids: np.ndarray) -> int:
    """Remove ``ids`` from a fast-scan IVF (see the module docstring); returns how many."""
    lists = _lists(ivf)
    packer = lists.packer
    per_block, block_bytes, code_bytes = packer.nvec, packer.block_size, packer.code_size
    removed = 0
    for list_no in range(lists.nlist):
        size = lists.list_size(list_no)
        if not size:
            continue
        held = faiss.rev_swig_ptr(lists.get_ids(list_no), size)
        drop = np.isin(held, ids)
        if not drop.any():
            continue
        keep = ~drop
        kept_ids = np.ascontiguousarray(held[keep], dtype=np.int64)
        blocks = -(-size // per_block)
        packed = faiss.rev_swig_ptr(lists.get_codes(list_no), blocks * block_bytes).copy()
        codes = np.zeros((blocks * per_block, code_bytes), np.uint8)
        for b in range(blocks):
            packer.unpack_all(
                faiss.swig_ptr(packed[b * block_bytes :]), faiss.swig_ptr(codes[b * per_block :])
            )
        kept = len(kept_ids)
        new_blocks = -(-kept // per_block)
        codes = np.concatenate(
            [codes[:size][keep], np.zeros((new_blocks * per_block - kept, code_bytes), np.uint8)]
        )
        repacked = np.zeros(new_blocks * block_bytes, np.uint8)
        for b in range(new_blocks):
            packer.pack_all(
                faiss.swig_ptr(codes[b * per_block :]), faiss.swig_ptr(repacked[b * block_bytes :])
            )
        lists.resize(list_no, 0)
        if kept:
            lists.add_entries(list_no, kept, faiss.swig_ptr(kept_ids), faiss.swig_ptr(repacked))
        removed += size - kept
    ivf.ntotal -= removed
    return removed
