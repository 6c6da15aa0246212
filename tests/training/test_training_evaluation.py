"""Recall@N protocol: the 25 m rule, Recall@N on a constructed case, the dataset reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_support import VAL_PLACES

from sciceapp.engine.evaluation import (
    Pca,
    VprSplit,
    evaluate,
    positives,
    read_split,
    recall_at_n,
    utm_from_name,
)
from sciceapp.errors import DatasetError


def test_positive_within_25_m_only():
    database = np.array([[0.0, 0.0], [24.9, 0.0], [15.0, 20.0], [25.1, 0.0], [18.0, 18.0]])
    # 15-20 lies at exactly 25 m (counts); 18-18 at 25.46 m (does not)
    (found,) = positives(database, np.array([[0.0, 0.0]]))
    assert found.tolist() == [0, 1, 2]
    (far,) = positives(database, np.array([[1000.0, 0.0]]))
    assert far.size == 0


def test_recall_at_n_on_a_constructed_case():
    predictions = np.array([[3, 1, 2, 0], [0, 2, 1, 3], [1, 2, 3, 0], [0, 1, 2, 3]])
    pos = [np.array([3]), np.array([1]), np.array([0]), np.array([], dtype=int)]
    # query 0 hit at rank 1, query 1 at rank 3, query 2 at rank 4, query 3 never
    recalls = recall_at_n(predictions, pos, [1, 2, 3, 4])
    assert recalls == {1: 25.0, 2: 25.0, 3: 50.0, 4: 75.0}


def test_utm_from_name():
    assert utm_from_name(Path("@500123.50@4000001.25@32@T@45@7@@@.jpg")) == (500123.5, 4000001.25)
    with pytest.raises(DatasetError, match="position"):
        utm_from_name(Path("holiday.jpg"))


def test_read_split_of_the_standard_layout(vpr_root):
    split = read_split(vpr_root, "synth", "val")
    assert len(split.database_paths) == 2 * len(VAL_PLACES)
    assert len(split.query_paths) == len(VAL_PLACES)
    assert split.database_utm_m.shape == (2 * len(VAL_PLACES), 2)
    # every query has exactly its own place's two database photos as positives
    for pos in positives(split.database_utm_m, split.query_utm_m):
        assert len(pos) == 2
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(vpr_root, "synth", "nope")


def _split(n_db: int, n_q: int) -> VprSplit:
    db = [Path(f"db{i}.jpg") for i in range(n_db)]
    qs = [Path(f"q{i}.jpg") for i in range(n_q)]
    db_utm = np.array([[100.0 * i, 0.0] for i in range(n_db)])
    return VprSplit("toy", db, qs, db_utm, db_utm[:n_q] + 3.0)


def test_evaluate_searches_exactly_and_reports_paths():
    rng = np.random.default_rng(0)
    db = rng.normal(size=(6, 8)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    # queries 0-3 look like their own place, query 3 looks like place 5 instead
    queries = db[[0, 1, 2, 5]] + 0.01
    vectors = {
        **{f"db{i}.jpg": db[i] for i in range(6)},
        **{f"q{i}.jpg": queries[i] for i in range(4)},
    }
    calls = []

    def describe(paths, progress=None, cancel=None):
        calls.append([p.name for p in paths])
        return np.stack([vectors[p.name] for p in paths])

    result = evaluate(describe, _split(6, 4), recall_values=(1, 6))
    assert result.recalls == {1: 75.0, 6: 100.0}
    assert calls[0][0].startswith("db") and all(c.startswith("q") for c in calls[1])
    assert result.top_paths[3][0] == Path("db5.jpg")
    out = result.to_json()
    assert out["recalls"] == {"1": 75.0, "6": 100.0}
    assert out["database_images"] == 6 and out["query_images"] == 4
    assert out["queries"][0] == {
        "query": "q0.jpg",
        "top": ["db0.jpg", *out["queries"][0]["top"][1:]],
    }
    assert len(out["queries"][0]["top"]) == 6


def test_pca_reduces_and_keeps_neighbours():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(4, 32))
    train = (rng.normal(size=(50, 4)) @ basis).astype(np.float32)
    pca = Pca(train, dim=4)
    reduced = pca.apply(train[:5])
    assert reduced.shape == (5, 4)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, rtol=1e-5)
    # data that lives in 4 dimensions keeps its (centred) geometry
    cos = reduced @ reduced.T
    full = train[:5] - train.mean(axis=0)
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(cos, full @ full.T, atol=1e-3)
    with pytest.raises(DatasetError, match="pca-dim"):
        Pca(train[:3], dim=4)


def test_onnx_describer_names_an_unreadable_image(tiny_onnx_model, tmp_path):
    from sciceapp.engine.evaluation import onnx_describer
    from sciceapp.errors import ImageError

    broken = tmp_path / "@500000@4800000@32@T@.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    describe = onnx_describer(tiny_onnx_model, batch_size=2)
    with pytest.raises(ImageError, match=f"Cannot read {broken}.*Remove or replace"):
        describe([broken])
