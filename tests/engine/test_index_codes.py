"""The two-stage kind's shortlist codes: 8-bit scalar quantisation of the PCA-reduced vectors
(``sq8``; the default ``pq4`` is in test_index_fastscan.py), and the product-quantisation files of the first two-stage version,
which must still open and search."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np
import pytest

from sciceapp.engine import index_faiss
from sciceapp.engine.index import (
    IndexParams,
    VectorIndex,
    check_params,
    min_training_vectors,
    params_from_dict,
)
from sciceapp.errors import CancelledError
from sciceapp.progress import CancelToken

FIXTURE = Path(__file__).parent / "fixtures" / "twostage_pq" / "index.faiss"
# Written by sciceapp at 42cb8cd (before sq8 codes existed) with
# VectorIndex.build(48, arange(100, 800), fixture_vectors(), "twostage", FIXTURE_PARAMS).
FIXTURE_PARAMS = dict(pca_dim=16, nlist=2, pq_m=4, pq_bits=4, nprobe=2, shortlist=20)
FIXTURE_SHA256 = "d2095cfc02d72b3754998296343749399a8275033ba0f6a8b606df4618b06c14"
FIXTURE_TOP3 = [[100, 602, 198], [101, 198, 798], [102, 500, 316], [103, 626, 131]]
DIM = 64


def fixture_vectors() -> np.ndarray:
    x = np.random.default_rng(12).standard_normal((700, 48)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """3000 descriptors near a 12-dimensional subspace (neighbours close together)."""
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((12, DIM))
    return _unit(rng.standard_normal((3000, 12)) @ basis + 0.3 * rng.standard_normal((3000, DIM)))


def _reduced_top10(index: VectorIndex, x: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The exact L2 top-10 between the index's own PCA projections: what a perfect code of
    the reduced vectors would shortlist first."""
    pca = faiss.downcast_VectorTransform(index_faiss.pre_transform(index._index).chain.at(0))
    flat = faiss.IndexFlatL2(pca.d_out)
    flat.add(pca.apply(x))
    return flat.search(pca.apply(queries), 10)[1]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(r) & set(s)) / 10 for r, s in zip(a, b, strict=True)]))


def test_twostage_stores_one_byte_per_reduced_value_and_keeps_the_reduced_neighbours(
    vectors, tmp_path
):
    params = IndexParams(pca_dim=32, nlist=8, nprobe=8, pq_m=4, pq_bits=5, code="sq8")
    ids = np.arange(len(vectors))
    sq8 = VectorIndex.build(DIM, ids, vectors, "twostage", params)
    pq = VectorIndex.build(
        DIM, ids, vectors, "twostage", IndexParams(**{**params.__dict__, "code": "pq"})
    )
    assert isinstance(faiss.downcast_index(sq8._ivf), faiss.IndexIVFScalarQuantizer)
    assert isinstance(faiss.downcast_index(pq._ivf), faiss.IndexIVFPQ)
    # Each photo costs the file 32 code bytes and an 8-byte id (plus a fixed part: the PCA,
    # the centroids, the ranges).
    sq8.save(tmp_path / "all.faiss")
    assert sq8.remove(ids[1000:]) == 2000
    sq8.save(tmp_path / "part.faiss")
    per_photo = os.path.getsize(tmp_path / "all.faiss") - os.path.getsize(tmp_path / "part.faiss")
    assert per_photo / 2000 == 40
    sq8.add(ids[1000:], vectors[1000:])
    queries = vectors[:200]
    truth = _reduced_top10(sq8, vectors, queries)
    sq8_found = _overlap(sq8.search(queries, 10)[1], truth)
    pq_found = _overlap(pq.search(queries, 10)[1], truth)
    assert sq8_found >= 0.9  # 8 bits a value: nearly what exact search of the projections finds
    assert pq_found < sq8_found - 0.1  # 4 bytes a photo lose much of it


def test_sq8_settings_need_no_pq_training_or_divisor():
    params = IndexParams(pca_dim=30, nlist=4, pq_m=7, pq_bits=8, code="sq8")
    check_params("twostage", 64, params)  # pq_m need not divide 30: sq8 uses no PQ
    assert min_training_vectors("twostage", 64, params) == 39 * 4  # not 39 * 2**8
    pq = IndexParams(**{**params.__dict__, "code": "pq"})
    assert min_training_vectors("twostage", 64, pq) == 39 * 256
    with pytest.raises(ValueError, match="pq_m=7 must divide"):
        check_params("twostage", 64, pq)
    with pytest.raises(ValueError, match="code must be one of pq4, sq8, pq"):
        check_params("twostage", 64, IndexParams(code="sq4"))


def test_a_two_stage_file_of_the_pq_version_opens_and_searches_as_it_did():
    # Its catalogue record has no code (written before codes existed): the settings read back
    # as the PQ code its file holds, and the file tells its own code.
    params = params_from_dict(FIXTURE_PARAMS)
    assert params.code == "pq"
    assert VectorIndex.load(FIXTURE, "twostage", IndexParams(), mmap=True).params.code == "pq"
    index = VectorIndex.load(FIXTURE, "twostage", params, FIXTURE_SHA256, mmap=True)
    assert index.params.code == "pq" and index.ntotal == 700
    assert isinstance(faiss.downcast_index(index._ivf), faiss.IndexIVFPQ)
    _, found = index.search(fixture_vectors()[:4], 20)
    assert found[:, :3].tolist() == FIXTURE_TOP3
    assert VectorIndex.load(FIXTURE).kind == "ivfpq"  # without a record: its structure's kind


def test_an_sq8_file_reads_back_as_twostage_with_its_code(vectors, tmp_path):
    params = IndexParams(pca_dim=32, nlist=8, nprobe=8, code="sq8")
    built = VectorIndex.build(DIM, np.arange(len(vectors)), vectors, "twostage", params)
    sha = built.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss", None, None, sha, mmap=True)
    assert (loaded.kind, loaded.params.code) == ("twostage", "sq8")
    with pytest.raises(Exception, match="not a ivfpq index"):
        VectorIndex.load(tmp_path / "i.faiss", "ivfpq", params, sha)
    np.testing.assert_array_equal(
        loaded.search(vectors[:5], 10)[1], built.search(vectors[:5], 10)[1]
    )


@pytest.mark.parametrize("code", ["sq8", "pq4"])
def test_cancel_stops_training_in_its_coarse_k_means(code, vectors, monkeypatch):
    token = CancelToken()
    real = index_faiss.kmeans
    calls = []

    def cancel_inside(*args, **kwargs):
        calls.append(1)
        token.cancel()
        return real(*args, **kwargs)

    monkeypatch.setattr(index_faiss, "kmeans", cancel_inside)
    index = VectorIndex(DIM, "twostage", IndexParams(pca_dim=32, nlist=8, code=code))
    with pytest.raises(CancelledError):
        index.train(vectors, token)
    assert calls == [1] and not index.is_trained


@pytest.mark.parametrize("kind", ["pca", "twostage"])
def test_a_trained_file_holds_the_projection_not_the_whole_eigen_decomposition(kind, tmp_path):
    # faiss' PCA keeps every eigenvector of its fit (128 x 256 floats here, 150 MB or more at
    # the base size); the index needs only the 32 x 256 projection, its offset and the mean.
    x = np.random.default_rng(0).standard_normal((3000, 256)).astype(np.float32)
    index = VectorIndex(256, kind, IndexParams(pca_dim=32, nlist=8))
    index.train(x)
    index.save(tmp_path / "i.faiss")
    projection = 4 * (32 * 256 + 32 + 256)
    assert os.path.getsize(tmp_path / "i.faiss") < projection + 4 * 128 * 256 // 4
    loaded = VectorIndex.load(tmp_path / "i.faiss", kind)
    loaded.add(np.arange(50), x[:50])
    assert loaded.search(x[:3], 1)[1][:, 0].tolist() == [0, 1, 2]
