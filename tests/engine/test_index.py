"""VectorIndex: every kind adds, removes, searches, saves and loads; damaged files are refused."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import pytest

from sciceapp.engine.index import (
    KINDS,
    IndexParams,
    VectorIndex,
    faiss_search,
    min_training_vectors,
    recall_at_k,
    recall_vs_exact,
    suggested_nlist,
)
from sciceapp.errors import CollectionError

DIM = 64
SMALL = IndexParams(pca_dim=32, nlist=8, pq_m=8, pq_bits=5, nprobe=8)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """2000 descriptors near an 8-dimensional subspace, like real ones (not isotropic noise)."""
    rng = np.random.default_rng(1)
    basis = rng.standard_normal((8, DIM))
    return _unit(rng.standard_normal((2000, 8)) @ basis + 0.2 * rng.standard_normal((2000, DIM)))


IDS = np.arange(1000, 3000)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_finds_the_stored_vector_under_its_catalogue_id(vectors, kind):
    index = VectorIndex.build(DIM, IDS, vectors, kind, SMALL)
    assert index.kind == kind and index.fallback_reason is None
    assert index.ntotal == 2000
    assert np.array_equal(index.ids(), IDS)
    scores, ids = index.search(vectors[[5, 700, 1999]], 5)
    assert scores.shape == ids.shape == (3, 5)
    assert list(ids[:, 0]) == [1005, 1700, 2999]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert abs(float(scores[0, 0]) - 1.0) < (1e-5 if kind == "flat" else 0.15)


@pytest.mark.parametrize("kind", KINDS)
def test_remove_then_save_and_load_keep_the_same_answers(vectors, kind, tmp_path):
    index = VectorIndex.build(DIM, IDS, vectors, kind, SMALL)
    assert index.remove([1005, 1006, 99999]) == 2
    assert index.ntotal == 1998
    assert 1005 not in set(index.ids())
    _, ids = index.search(vectors[[5]], 3)
    assert 1005 not in ids

    path = tmp_path / "saved" / "c.faiss"
    sha = index.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["c.faiss"]  # no temp file left behind
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    for mmap in (False, True):
        loaded = VectorIndex.load(path, kind, SMALL, sha256=sha, mmap=mmap)
        assert (loaded.kind, loaded.dim, loaded.ntotal) == (kind, DIM, 1998)
        queries = vectors[:50]
        assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
        assert np.array_equal(loaded.ids(), index.ids())


def test_save_streams_faiss_format_without_a_copy_in_memory(vectors, tmp_path, monkeypatch):
    index = VectorIndex.build(DIM, IDS, vectors, "pca", SMALL)

    def copy_in_memory(*args):
        raise AssertionError("serialised into memory")

    monkeypatch.setattr(faiss, "serialize_index", copy_in_memory)
    index.save(tmp_path / "c.faiss")
    plain = faiss.read_index(str(tmp_path / "c.faiss"))  # faiss' own format, nothing added
    assert plain.ntotal == 2000
    assert VectorIndex.load(tmp_path / "c.faiss").kind == "pca"  # the kind read from its shape


def test_adding_an_existing_id_replaces_its_vector(vectors):
    index = VectorIndex.build(DIM, IDS[:10], vectors[:10])
    index.add([1003], vectors[500])
    assert index.ntotal == 10
    scores, ids = index.search(vectors[500], 1)
    assert ids[0, 0] == 1003 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_missing_slots_have_id_minus_one():
    index = VectorIndex(DIM)
    scores, ids = index.search(np.ones((2, DIM), np.float32), 3)
    assert (ids == -1).all() and np.isneginf(scores).all()
    index.add([7, 8], _unit(np.eye(2, DIM)))
    scores, ids = index.search(_unit(np.eye(1, DIM)), 4)
    assert list(ids[0]) == [7, 8, -1, -1]
    assert np.isneginf(scores[0, 2:]).all() and np.isfinite(scores[0, :2]).all()


def test_too_few_vectors_fall_back_to_flat_and_say_why(vectors):
    needed = min_training_vectors("ivfpq", DIM, SMALL)
    assert needed == 39 * 2**SMALL.pq_bits
    index = VectorIndex.build(DIM, IDS[: needed - 1], vectors[: needed - 1], "ivfpq", SMALL)
    assert index.kind == "flat"
    assert str(needed) in index.fallback_reason
    untrained = VectorIndex(DIM, "pca", SMALL)
    with pytest.raises(CollectionError, match="not trained"):
        untrained.add([1], vectors[:1])
    with pytest.raises(CollectionError, match="at least 32"):
        untrained.train(vectors[:10])


def test_wrong_shapes_and_kinds_are_refused(vectors):
    with pytest.raises(ValueError, match="flat, pca, ivfpq"):
        VectorIndex(DIM, "hnsw")
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match=r"\[N, 64\]"):
        index.add([1], np.ones((1, 32), np.float32))
    with pytest.raises(ValueError, match="ids for"):
        index.add([1, 2], vectors[:1])
    with pytest.raises(ValueError, match="negative"):
        index.add([-3], vectors[:1])


@pytest.mark.parametrize(
    ("damage", "faiss_notices"),
    [
        (lambda b: b[: len(b) // 2], True),  # truncated
        (lambda b: b[:-40] + bytes(40), False),  # vectors overwritten: only the checksum sees it
        (lambda b: b"garbage" + b[7:], True),  # not faiss' header
        (lambda b: b"", True),
    ],
)
def test_a_damaged_file_raises_collection_error(vectors, tmp_path, damage, faiss_notices):
    path = tmp_path / "c.faiss"
    sha = VectorIndex.build(DIM, IDS[:100], vectors[:100], "pca", SMALL).save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CollectionError, match="checksum mismatch.*collection rebuild"):
        VectorIndex.load(path, "pca", SMALL, sha256=sha)
    if faiss_notices:  # without the checksum, faiss refuses it
        with pytest.raises(CollectionError, match="collection rebuild"):
            VectorIndex.load(path)


def test_missing_file_raises_collection_error(tmp_path):
    with pytest.raises(CollectionError, match="Cannot read"):
        VectorIndex.load(tmp_path / "absent.faiss")


def test_save_replaces_the_old_file_atomically(vectors, tmp_path):
    path = tmp_path / "c.faiss"
    VectorIndex.build(DIM, IDS[:10], vectors[:10]).save(path)
    VectorIndex.build(DIM, IDS[:20], vectors[:20]).save(path)
    assert VectorIndex.load(path).ntotal == 20


def test_recall_is_perfect_for_flat_and_reported_for_compressed(vectors):
    rng = np.random.default_rng(2)
    queries = _unit(vectors[:100] + 0.1 * rng.standard_normal((100, DIM)))
    flat = VectorIndex.build(DIM, IDS, vectors)
    assert recall_vs_exact(flat, vectors, IDS, queries) == 1.0
    compressed = VectorIndex.build(DIM, IDS, vectors, "ivfpq", SMALL)
    recall = recall_vs_exact(compressed, vectors, IDS, queries)
    assert 0.3 < recall < 1.0


def test_recall_at_k_counts_the_overlap():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(exact, exact, 4) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 9], [8, 7, 6, 5]]), exact, 4) == pytest.approx(0.75)
    assert recall_at_k(np.array([[1, -1]]), np.array([[1, 2]]), 2) == 0.5


def test_suggested_nlist_is_trainable():
    for n in (100, 10_000, 1_000_000):
        nlist = suggested_nlist(n)
        assert nlist >= 16 and nlist & (nlist - 1) == 0
        assert n < 39 * 16 or 39 * nlist <= n
    assert suggested_nlist(1_000_000) == 4096


def test_flat_gives_back_its_vectors_for_conversion(vectors):
    index = VectorIndex(vectors.shape[1])
    ids = np.arange(len(vectors)) * 3 + 1
    index.add(ids, vectors)
    index.remove([ids[5]])
    kept_ids, kept = index.stored_vectors()
    assert sorted(kept_ids.tolist()) == sorted(np.delete(ids, 5).tolist())
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    assert np.array_equal(kept, np.stack([by_id[i] for i in kept_ids.tolist()]))
    with pytest.raises(ValueError, match="does not keep its vectors"):
        VectorIndex.build(DIM, ids, vectors, "pca", SMALL).stored_vectors()


class RecordsBlasSwitch:
    """Stands in for a faiss index: notes the BLAS threshold in force when searched."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def search(self, queries, k):
        self.seen.append(faiss.cvar.distance_compute_blas_threshold)
        return np.zeros((len(queries), k), np.float32), np.zeros((len(queries), k), np.int64)


def test_batches_use_blas_and_single_queries_do_not_under_either_faiss_rule():
    before = faiss.cvar.distance_compute_blas_threshold
    index = RecordsBlasSwitch()
    dim = 1024
    faiss_search(index, np.zeros((1, dim), np.float32), 5)
    faiss_search(index, np.zeros((8, dim), np.float32), 5)
    single, batch = index.seen

    def takes_blas(queries: int, threshold: int) -> set[bool]:
        """What faiss decides under each rule it has had: queries >= t, queries x dim >= t."""
        return {queries >= threshold, queries * dim >= threshold}

    assert takes_blas(1, single) == {False}  # one query: faiss' own kernels either way
    assert takes_blas(8, batch) == {True}  # a batch of 8: BLAS either way
    assert faiss.cvar.distance_compute_blas_threshold == before  # the global is put back


def test_a_batch_finds_what_its_queries_find_one_by_one(vectors):
    index = VectorIndex(DIM, "flat")
    index.add(np.arange(len(vectors)), vectors)
    queries = vectors[:6] + 0.01
    batch_scores, batch_ids = index.search(queries, 5)
    for row, query in enumerate(queries):
        scores, ids = index.search(query[None, :], 5)
        assert ids[0].tolist() == batch_ids[row].tolist()
        np.testing.assert_allclose(scores[0], batch_scores[row], atol=1e-5)
