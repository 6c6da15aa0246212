""" "Why this match?" reads the matched photo's stored features (the ones verification counted
when the match was ranked) and extracts them again only when the collection has none."""

from __future__ import annotations

import numpy as np
import pytest
from test_collection_features import SACRE, real_photos  # noqa: F401 - the fixture

from sciceapp.engine import match_explanation
from sciceapp.engine.library import Library
from sciceapp.engine.match_explanation import explain_match, stored_features
from sciceapp.engine.verification import verify_pair


def indexed(data_dir, model, folder, features: bool):
    """A collection of ``folder`` (local features on or off), and the photos query and
    reference: the first two of the folder."""
    collection = Library(data_dir).create_collection("c", model, local_features=features)
    collection.add([folder])
    query, reference = (folder / name for name in SACRE[:2])
    record = next(p for p in collection.photos() if p.path == str(reference))
    return collection, query, reference, record


@pytest.fixture
def counted_extractions(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = match_explanation.extract_features

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(match_explanation, "extract_features", counting)
    return calls


@pytest.mark.slow
def test_stored_features_are_read_not_extracted_again(
    data_dir, toy_model, real_photos, counted_extractions  # noqa: F811 - the fixture
):  # fmt: skip
    collection, query, reference, record = indexed(data_dir, toy_model, real_photos, True)
    stored = stored_features(collection, record.id, reference)
    assert stored is not None and len(stored) == len(collection.features().get(record.id))
    # A row id that is not this photo's (another photo, another collection) is not used.
    other = next(p for p in collection.photos() if p.path != str(reference))
    assert collection.features().get(other.id) is not None
    assert stored_features(collection, other.id, reference) is None
    assert stored_features(collection, None, reference) is None

    explained = explain_match(query, reference, reference_features=stored)
    assert explained.ref_features_stored and len(counted_extractions) == 1  # the query only
    query_features = match_explanation._photo(query)[1]
    assert explained.inliers == verify_pair(query_features, stored).inliers >= 20
    assert explained.verified


def test_without_stored_features_the_photo_is_extracted(
    data_dir, toy_model, real_photos, counted_extractions  # noqa: F811 - the fixture
):  # fmt: skip
    collection, query, reference, record = indexed(data_dir, toy_model, real_photos, False)
    assert stored_features(collection, record.id, reference) is None
    explained = explain_match(query, reference)
    assert not explained.ref_features_stored and len(counted_extractions) == 2
    assert explained.verified and len(explained.ref_points) == explained.inliers
    assert np.isfinite(explained.ref_points).all()
