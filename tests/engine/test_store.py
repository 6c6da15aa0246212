"""The descriptor store: appended segments, memory-mapped exact search, damage refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sciceapp.engine import store as store_module
from sciceapp.engine.store import DescriptorStore, StoreWriter
from sciceapp.errors import CollectionError

DIM = 24


def _unit(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _write(folder, dtype="float32", batches=((10, 0), (7, 1))):
    """Segments of ``rows`` vectors each (ids counting up from 100), committed."""
    writer = StoreWriter(folder, DIM, dtype, [])
    vectors, next_id = [], 100
    for gen, (rows, seed) in enumerate(batches, start=1):
        x = _unit(rows, seed)
        writer.append(np.arange(next_id, next_id + rows), x)
        vectors.append(x)
        next_id += rows
        writer.committed(writer.flush(gen))
    segments = list(writer.segments)
    writer.close()
    return segments, np.concatenate(vectors)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_search_is_exact_over_live_rows(tmp_path, dtype, monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 5 * DIM * 4)  # many chunks
    segments, vectors = _write(tmp_path, dtype)
    writer = StoreWriter(tmp_path, DIM, dtype, segments)
    writer.delete([103, 111])
    segments.append(writer.flush(3))
    writer.close()
    store = DescriptorStore(tmp_path, DIM, dtype, segments)
    assert store.rows == 17 and store.live_count == 15
    stored = vectors.astype(dtype).astype(np.float32)
    queries = _unit(4, 9)
    scores, ids = store.search(queries, 5)
    expected = queries @ stored.T
    expected[:, [3, 11]] = -np.inf
    top = np.argsort(-expected, axis=1)[:, :5]
    assert np.array_equal(ids, top + 100)
    assert np.allclose(scores, np.take_along_axis(expected, top, 1), atol=1e-5)
    # More than there are: -1 / -inf past the live rows.
    scores, ids = store.search(queries[:1], 20)
    assert (ids[0, 15:] == -1).all() and np.isneginf(scores[0, 15:]).all()
    assert np.array_equal(store.vectors_of([100, 116]), stored[[0, 16]])
    with pytest.raises(KeyError):
        store.vectors_of([103])  # deleted
    assert list(store.rows_of([116, 5, 103])) == [16, -1, -1]


def test_rerank_orders_a_shortlist_exactly(tmp_path):
    segments, vectors = _write(tmp_path)
    store = DescriptorStore(tmp_path, DIM, "float32", segments)
    query = vectors[[2]]
    shortlist = np.array([[109, 102, 104, -1, 5]])
    scores, ids = store.rerank(query, shortlist, 2)
    assert ids[0].tolist() == [
        102,
        sorted([109, 104], key=lambda i: -float(vectors[i - 100] @ query[0]))[0],
    ]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_writer_cuts_uncommitted_bytes_and_readers_ignore_them(tmp_path):
    segments, _ = _write(tmp_path)
    writer = StoreWriter(tmp_path, DIM, "float32", segments)
    writer.append([500, 501], _unit(2, 5))  # never committed (the process died)
    writer._files["vectors.bin"].flush()
    size = (tmp_path / "store" / "vectors.bin").stat().st_size
    assert size > 17 * DIM * 4
    assert DescriptorStore(tmp_path, DIM, "float32", segments).rows == 17  # readers: committed
    StoreWriter(tmp_path, DIM, "float32", segments).close()  # the next writer cuts them off
    assert (tmp_path / "store" / "vectors.bin").stat().st_size == 17 * DIM * 4


def test_truncated_or_tampered_store_is_refused(tmp_path):
    segments, _ = _write(tmp_path)
    vectors = tmp_path / "store" / "vectors.bin"
    data = bytearray(vectors.read_bytes())
    data[40] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(CollectionError, match="segment 1 does not match its checksum"):
        DescriptorStore(tmp_path, DIM, "float32", segments).verify()
    vectors.write_bytes(bytes(data[:100]))
    with pytest.raises(CollectionError, match="truncated"):
        DescriptorStore(tmp_path, DIM, "float32", segments)
    with pytest.raises(CollectionError, match="expects float16 rows"):
        DescriptorStore(tmp_path, DIM, "float16", segments)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_rerank_of_a_batch_asks_for_all_rows_at_once_then_scores_exactly(
    tmp_path, dtype, monkeypatch
):
    segments, vectors = _write(tmp_path, dtype, batches=((40, 0), (30, 1)))
    store = DescriptorStore(tmp_path, DIM, dtype, segments)
    stored = vectors.astype(dtype).astype(np.float32)
    queries = _unit(3, 5)
    shortlist = np.array([[150, 103, 161, 103, -1], [120, 121, 122, 169, 5], [-1] * 5])
    advised = []
    monkeypatch.setattr(
        store_module.os,
        "posix_fadvise",
        lambda fd, offset, length, advice: advised.append((offset, length, advice)),
        raising=False,
    )
    scores, ids = store.rerank(queries, shortlist, 3)
    # Every row of the batch asked for before any is read: one request per row, in file order.
    row_bytes = DIM * np.dtype(dtype).itemsize
    rows = [3, 20, 21, 22, 50, 61, 69]
    assert advised == [(r * row_bytes, row_bytes, os.POSIX_FADV_WILLNEED) for r in rows]
    for q, wanted in enumerate(([150, 103, 161], [120, 121, 122, 169])):
        exact = stored[np.array(wanted) - 100] @ queries[q]
        order = np.argsort(-exact)[:3]
        assert ids[q].tolist() == [wanted[i] for i in order]
        assert np.allclose(scores[q], exact[order], atol=1e-6)
    assert ids[2].tolist() == [-1] * 3 and np.isneginf(scores[2]).all()


@pytest.mark.parametrize("block_rows", [None, 7])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_rows_scored_in_the_reused_buffer_match_a_fresh_scan_in_every_thread(
    dtype, block_rows, monkeypatch
):
    import threading

    if block_rows:  # blocks of 7 rows: merged across blocks
        monkeypatch.setattr(store_module, "RERANK_BLOCK_BYTES", block_rows * 96 * 2)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 96)).astype(dtype)
    queries = rng.standard_normal((12, 96)).astype(np.float32)
    picks = [np.sort(rng.choice(500, size, replace=False)) for size in (300, 7, 120, 1, 300)]
    results: dict[tuple[int, int], tuple] = {}

    def score_all(thread: int) -> None:
        for q, rows in enumerate(picks * 2):  # sizes go up and down: the buffer is reused
            results[thread, q] = store_module.top_of_rows(vectors, rows, queries[q : q + 1], 5)

    threads = [threading.Thread(target=score_all, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (_, q), (scores, top) in results.items():
        rows = (picks * 2)[q]
        want_s, want_top = store_module.top_inner_products(vectors[rows], queries[q : q + 1], 5)
        np.testing.assert_array_equal(top, want_top)
        np.testing.assert_allclose(scores, want_s, rtol=1e-5, atol=1e-4)
        assert top.shape == (1, min(5, len(rows)))


@pytest.mark.parametrize("cores", [1, 2, 3, 8])
def test_rerank_gives_the_exact_order_whatever_the_number_of_cores(tmp_path, cores, monkeypatch):
    from sciceapp.engine import parallel

    segments, vectors = _write(tmp_path, "float16", batches=((40, 0), (30, 1)))
    store = DescriptorStore(tmp_path, DIM, "float16", segments)
    stored = vectors.astype(np.float16).astype(np.float32)
    monkeypatch.setattr(parallel, "cores", lambda: cores)
    queries = _unit(2, 9)
    wanted = np.array([[169, 100, 133, 101, 150, 102, 160, 3, -1], list(range(100, 109))])
    for batch in (queries[:1], queries):  # one query, then two (one per core)
        scores, ids = store.rerank(batch, wanted[: len(batch)], 4)
        for q in range(len(batch)):
            live = [i for i in wanted[q] if i >= 100]
            exact = stored[np.array(live) - 100] @ batch[q]
            order = np.argsort(-exact, kind="stable")[:4]
            assert ids[q].tolist() == [live[i] for i in order]
            assert np.allclose(scores[q], exact[order], atol=1e-5)


def test_float16_search_skips_a_chunk_whose_rows_are_all_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 5 * DIM * 2)  # 5 float16 rows a chunk
    segments, vectors = _write(tmp_path, "float16")
    writer = StoreWriter(tmp_path, DIM, "float16", segments)
    writer.delete(list(range(100, 105)))  # the whole first chunk
    segments.append(writer.flush(3))
    writer.close()
    store = DescriptorStore(tmp_path, DIM, "float16", segments)
    queries = _unit(3, 4)
    scores, ids = store.search(queries, 4)
    expected = queries @ vectors.astype(np.float16).astype(np.float32).T
    expected[:, :5] = -np.inf
    top = np.argsort(-expected, axis=1)[:, :4]
    assert np.array_equal(ids, top + 100)
    assert np.allclose(scores, np.take_along_axis(expected, top, 1), atol=1e-5)


def test_a_batch_asks_for_its_first_queries_rows_before_scoring_and_every_row_once(
    tmp_path, monkeypatch
):
    from sciceapp.engine import parallel

    segments, vectors = _write(tmp_path, "float16", batches=((40, 0), (30, 1)))
    store = DescriptorStore(tmp_path, DIM, "float16", segments)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    events = []
    real_prefetch, real_top = store.prefetch, store_module.top_of_rows
    monkeypatch.setattr(store, "prefetch", lambda rows: (events.append(("ask", list(rows))),
                                                         real_prefetch(rows)))  # fmt: skip
    monkeypatch.setattr(
        store_module,
        "top_of_rows",
        lambda v, rows, q, k: (events.append(("score", list(rows))), real_top(v, rows, q, k))[1],
    )
    wanted = np.array([[100, 101, 150], [120, 121, 101], [160, 161, 162], [169, 105, 100]])
    scores, ids = store.rerank(_unit(4, 2), wanted, 2)
    asks = [rows for kind, rows in events if kind == "ask"]
    assert asks[0] == [0, 1, 20, 21, 50]  # the first two queries' rows, before any scoring
    assert events[0] == ("ask", [0, 1, 20, 21, 50])  # nothing scored before it
    assert sorted(sum(asks, [])) == sorted({r for row in wanted for r in (row - 100)})
    for q, row in enumerate(wanted):
        exact = vectors.astype(np.float16).astype(np.float32)[row - 100] @ _unit(4, 2)[q]
        assert ids[q].tolist() == [row[i] for i in np.argsort(-exact, kind="stable")[:2]]
