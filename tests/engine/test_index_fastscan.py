"""The two-stage kind's ``pq4`` code: 4-bit fast-scan PQ codes, and their removal (done by
sciceapp, because faiss' own corrupts the photos added after it)."""

from __future__ import annotations

import os

import faiss
import numpy as np
import pytest

from sciceapp.engine import index_fastscan
from sciceapp.engine.index import IndexParams, VectorIndex, check_params, min_training_vectors
from sciceapp.engine.index_params import code_bytes, describe

DIM = 64
PARAMS = IndexParams(pca_dim=32, nlist=4, nprobe=4, code="pq4")


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """6000 unit descriptors near a 12-dimensional subspace."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6000, 12)) @ rng.standard_normal((12, DIM))
    x += 0.3 * rng.standard_normal((6000, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _found_by_itself(index: VectorIndex, vectors: np.ndarray, ids: np.ndarray) -> float:
    """Share of ``ids`` whose own descriptor finds them in the top 5 of the codes."""
    found = index.search(vectors[ids], 5)[1]
    return float(np.mean([i in row for i, row in zip(ids, found.tolist(), strict=True)]))


def test_pq4_stores_a_4_bit_code_per_2_reduced_values_and_finds_the_neighbours(vectors, tmp_path):
    ids = np.arange(4000)
    index = VectorIndex.build(DIM, ids, vectors[:4000], "twostage", PARAMS)
    assert isinstance(faiss.downcast_index(index._ivf), faiss.IndexIVFPQFastScan)
    assert index._ivf.pq.M == 16 and index._ivf.pq.nbits == 4
    assert code_bytes("twostage", DIM, PARAMS) == 8
    assert "4-bit fast-scan PQ codes of a rotated 32-d PCA (8 bytes per photo)" in describe(
        "twostage", DIM, PARAMS
    )
    # The file grows by the codes (8 bytes) and an 8-byte id per photo, in blocks of 32.
    index.save(tmp_path / "all.faiss")
    index.remove(ids[2000:])
    index.save(tmp_path / "half.faiss")
    grown = os.path.getsize(tmp_path / "all.faiss") - os.path.getsize(tmp_path / "half.faiss")
    assert abs(grown - 2000 * 16) <= PARAMS.nlist * 32 * 8  # a part-filled block per list
    assert _found_by_itself(index, vectors, ids[:2000]) >= 0.9


def test_photos_added_after_a_removal_are_found_as_in_a_fresh_index(vectors):
    # faiss 1.15.1's own remove_ids leaves the removed codes in the lists' last blocks and
    # the next photos' codes are or-ed into them: with it, 12% of these 500 photos could not
    # be found by their own descriptor (0.884 here, against 1.0 for the fresh index).
    index = VectorIndex.build(DIM, np.arange(5000), vectors[:5000], "twostage", PARAMS)
    assert index.remove(np.arange(0, 100)) == 100
    assert index.ntotal == 4900 and index._index.ntotal == 4900
    later = np.arange(5500, 6000)
    index.add(later, vectors[later])
    # The same training (deterministic), filled with the same photos from scratch:
    fresh_ids = np.concatenate([np.arange(100, 5000), later])
    fresh = VectorIndex(DIM, "twostage", PARAMS)
    fresh.train(vectors[:5000])
    fresh.add(fresh_ids, vectors[fresh_ids])
    assert _found_by_itself(index, vectors, later) == _found_by_itself(fresh, vectors, later)
    assert _found_by_itself(index, vectors, later) >= 0.98
    queries = vectors[5000:5100]
    scores, _ = index.search(queries, 10)
    fresh_scores, _ = fresh.search(queries, 10)
    np.testing.assert_allclose(scores, fresh_scores, atol=1e-6)  # the same codes
    assert sorted(index.ids().tolist()) == sorted(fresh_ids.tolist())


def test_replacing_a_photo_keeps_one_entry_with_the_new_code(vectors):
    index = VectorIndex.build(DIM, np.arange(3000), vectors[:3000], "twostage", PARAMS)
    index.add([7], vectors[5999:6000])  # photo 7 re-described: its old code goes
    assert index.ntotal == 3000
    assert index.search(vectors[5999:6000], 1)[1][0, 0] == 7
    assert index.ids().tolist().count(7) == 1


def test_removal_rewrites_only_lists_that_held_a_removed_photo(vectors):
    index = VectorIndex.build(DIM, np.arange(3000), vectors[:3000], "twostage", PARAMS)
    lists = faiss.downcast_InvertedLists(index._ivf.invlists)

    def content(no: int) -> tuple[list[int], bytes]:
        size = lists.list_size(no)
        codes = faiss.rev_swig_ptr(lists.get_codes(no), -(-size // 32) * lists.block_size)
        return faiss.rev_swig_ptr(lists.get_ids(no), size).tolist(), codes.tobytes()

    before = {no: content(no) for no in range(lists.nlist)}
    target = next(no for no, (ids, _) in before.items() if len(ids) > 40)
    one = before[target][0][5]
    assert index_fastscan.remove_ids(index._ivf, np.array([one, 10**9])) == 1
    for no in range(lists.nlist):
        ids, codes = content(no)
        if no == target:
            assert ids == [i for i in before[no][0] if i != one] and codes != before[no][1]
        else:
            assert (ids, codes) == before[no]
    assert index.remove([10**9]) == 0


def test_pq4_files_read_back_as_twostage_pq4(vectors, tmp_path):
    built = VectorIndex.build(DIM, np.arange(3000), vectors[:3000], "twostage", PARAMS)
    sha = built.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss", None, None, sha, mmap=True)
    assert (loaded.kind, loaded.params.code) == ("twostage", "pq4")
    np.testing.assert_array_equal(
        loaded.search(vectors[:5], 10)[1], built.search(vectors[:5], 10)[1]
    )
    loaded.remove([0, 1])
    assert loaded.ntotal == 2998 and 0 not in loaded.search(vectors[:1], 10)[1]


def test_pq4_settings_are_checked_before_faiss():
    assert min_training_vectors("twostage", DIM, PARAMS) == 39 * 16
    big = IndexParams(code="pq4")
    assert min_training_vectors("twostage", 10752, big) == 39 * big.nlist
    with pytest.raises(ValueError, match="pq4 code needs a reduced size divisible by 2, got 31"):
        check_params("twostage", DIM, IndexParams(pca_dim=31, code="pq4"))


@pytest.mark.parametrize("code", ["pq4", "sq8"])
@pytest.mark.parametrize("cores", [2, 3])
def test_a_single_query_scans_its_lists_on_every_core_with_the_same_answer(
    code, cores, vectors, monkeypatch
):
    from sciceapp.engine import index_faiss, parallel

    params = IndexParams(pca_dim=32, nlist=8, nprobe=7, code=code)
    index = VectorIndex.build(DIM, np.arange(5000), vectors[:5000], "twostage", params)
    monkeypatch.setattr(parallel, "cores", lambda: cores)
    parts = []
    real_pool = parallel.pool()

    class Counting:
        def map(self, fn, items):
            items = list(items)
            parts.append(len(items))
            return real_pool.map(fn, items)

    monkeypatch.setattr(index_faiss.parallel, "pool", lambda: Counting())
    for q in range(5000, 5020):
        scores, ids = index.search(vectors[q : q + 1], 50)
        distances, whole = index_faiss.faiss_search(index._index, vectors[q : q + 1], 50)
        np.testing.assert_allclose(scores, 1 - distances / 2, atol=1e-6)
        assert set(ids[0].tolist()) == set(whole[0].tolist()) or np.unique(distances).size < 50
    assert parts == [cores] * 20  # each single query in parts: 7 lists over the cores
    parts.clear()
    index.search(vectors[5000 : 5000 + cores], 50)  # as many queries as cores: faiss' own
    assert parts == []
