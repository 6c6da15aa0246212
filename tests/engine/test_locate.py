"""Locating photos: the vote of the matches (on constructed matches) and the real pipeline
(tiny random-weight model over the Arezzo photos)."""

from __future__ import annotations

import json

import pytest
from search_fixtures import arezzo_fixture  # noqa: F401  (the `arezzo` fixture)

from sciceapp.engine.geo import haversine_m
from sciceapp.engine.locate import (
    LocateResult,
    Match,
    consensus,
    locate,
    result_for,
)
from sciceapp.errors import CancelledError
from sciceapp.progress import CancelToken

AREZZO = (43.4633, 11.8797)
ROME = (41.9028, 12.4964)
PARIS = (48.8566, 2.3522)


def near(origin, east_m):
    """A point ``east_m`` metres east of ``origin`` (small distances)."""
    lat, lon = origin
    return lat, lon + east_m / (111_320.0 * 0.7254)  # cos(43.46 deg)


def match(point, score, name="m"):
    lat, lon = point if point is not None else (None, None)
    return Match(f"{name}.jpg", score, lat, lon)


def test_agreeing_matches_give_their_weighted_centre():
    matches = [match(near(AREZZO, 0), 0.9), match(near(AREZZO, 40), 0.9), match(ROME, 0.5)]
    vote = consensus(matches, radius_m=100)
    assert vote.cluster == [0, 1]
    assert haversine_m(*vote.predicted, *near(AREZZO, 20)) < 1.0
    assert 0 < vote.confidence < 1


def test_a_heavier_cluster_beats_a_slightly_better_lone_match():
    matches = [match(ROME, 0.80)] + [match(near(AREZZO, 10 * i), 0.79) for i in range(4)]
    vote = consensus(matches, radius_m=100)
    assert vote.cluster == [1, 2, 3, 4]
    assert haversine_m(*vote.predicted, *AREZZO) < 50


def test_without_agreement_the_best_geotagged_match_wins():
    matches = [match(None, 0.95), match(PARIS, 0.9), match(ROME, 0.8), match(AREZZO, 0.7)]
    vote = consensus(matches, radius_m=100)
    assert vote.cluster == [1]
    assert vote.predicted == pytest.approx(PARIS)


def test_matches_without_gps_are_listed_but_do_not_vote():
    matches = [match(None, 0.99), match(AREZZO, 0.5)]
    result = result_for("q.jpg", matches, None)
    assert len(result.matches) == 2
    assert result.predicted == pytest.approx(AREZZO)
    no_gps = result_for("q.jpg", [match(None, 0.99)], None)
    assert no_gps.predicted is None and no_gps.confidence == 0.0


def test_confidence_grows_with_agreeing_matches():
    confidences = [
        consensus(
            [match(near(AREZZO, 5 * i), 0.9) for i in range(n)] + [match(ROME, 0.85)]
        ).confidence
        for n in range(1, 6)
    ]
    assert confidences == sorted(confidences) and len(set(confidences)) == 5
    assert all(0 < c < 1 for c in confidences)


def test_confidence_falls_as_a_rival_place_gets_closer_in_similarity():
    def with_rival(score):
        return consensus([match(AREZZO, 0.9), match(near(AREZZO, 30), 0.9), match(ROME, score)])

    confidences = [with_rival(s).confidence for s in (0.5, 0.7, 0.8, 0.85, 0.88)]
    assert confidences == sorted(confidences, reverse=True)
    assert len(set(confidences)) == len(confidences)


def test_confidence_falls_as_rival_places_get_heavier():
    base = [match(AREZZO, 0.9), match(near(AREZZO, 30), 0.9)]
    confidences = [consensus(base + [match(ROME, 0.8)] * n).confidence for n in range(0, 4)]
    assert confidences == sorted(confidences, reverse=True)
    assert len(set(confidences)) == 4


def test_radius_decides_who_agrees():
    matches = [match(AREZZO, 0.9), match(near(AREZZO, 300), 0.9)]
    assert consensus(matches, radius_m=100).cluster == [0]
    assert consensus(matches, radius_m=500).cluster == [0, 1]


def test_error_is_the_distance_to_the_query_gps():
    result = result_for("q.jpg", [match(AREZZO, 0.9)], near(AREZZO, 250))
    assert result.error_m == pytest.approx(250, rel=0.01)
    assert result_for("q.jpg", [match(AREZZO, 0.9)], None).error_m is None


def test_json_has_exactly_the_documented_keys_and_reads_back():
    result = result_for("q.jpg", [match(AREZZO, 0.9), match(None, 0.8)], ROME)
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {
        "query",
        "predicted",
        "confidence",
        "matches",
        "query_gps",
        "error_m",
        "verified",
        "place",
        "query_place",
        "in_collection",
    }
    assert set(data["predicted"]) == {"lat", "lon"} and set(data["query_gps"]) == {"lat", "lon"}
    keys = {"path", "score", "lat", "lon", "inliers", "verified", "place"}
    assert [set(m) for m in data["matches"]] == [keys] * 2
    assert data["matches"][1]["lat"] is None
    assert data["matches"][0]["inliers"] is None and data["matches"][0]["verified"] is False
    data["matches"][0].update(inliers=57, verified=True)
    data["verified"] = True
    data.update(place="Arezzo, Tuscany, Italy", in_collection=True)
    data["matches"][0]["place"] = "Rome, Lazio, Italy"
    again = LocateResult.from_json(data)
    assert again.place == "Arezzo, Tuscany, Italy" and again.in_collection
    assert again.matches[0].place == "Rome, Lazio, Italy" and again.matches[1].place is None
    assert again.verified and again.matches[0].inliers == 57 and again.matches[0].verified
    assert again.matches[1].inliers is None and not again.matches[1].verified
    assert again.predicted == pytest.approx(result.predicted)
    assert again.error_m == pytest.approx(result.error_m)
    failed = LocateResult("bad.jpg", error="not an image").to_json()
    assert failed["predicted"] is None and failed["error"] == "not an image"
    with pytest.raises(ValueError):
        LocateResult.from_json({"query": "x"})


def test_locate_finds_a_reference_photo_and_goes_on_past_broken_queries(
    arezzo, exif_samples, tmp_path
):
    _, collection = arezzo
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    query = exif_samples / "gps" / "DSCN0021.jpg"
    seen = []
    results = locate(
        collection, [broken, query, tmp_path / "missing.jpg"], top_k=4,
        progress=lambda done, total, msg="": seen.append((done, total)),
    )  # fmt: skip
    assert [r.query for r in results] == [str(broken), str(query), str(tmp_path / "missing.jpg")]
    assert results[0].error and results[2].error and results[1].error is None
    assert results[0].predicted is None and results[0].matches == []
    found = results[1]
    assert len(found.matches) == 4
    assert found.matches[0].path == str(query) and found.matches[0].score == pytest.approx(
        1, abs=1e-4
    )
    assert found.query_gps is not None and found.error_m < 50
    assert seen[-1] == (3, 3)


def test_exclude_self_skips_the_query_s_own_reference_entry(arezzo, exif_samples):
    _, collection = arezzo
    query = exif_samples / "gps" / "DSCN0021.jpg"
    (result,) = locate(collection, [query], top_k=3, exclude_self=True)
    assert len(result.matches) == 3
    assert str(query) not in [m.path for m in result.matches]


def test_locate_can_be_cancelled(arezzo, exif_samples):
    _, collection = arezzo
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        locate(collection, [exif_samples / "gps" / "DSCN0021.jpg"], cancel=token)


def test_bad_arguments_are_refused(arezzo):
    _, collection = arezzo
    with pytest.raises(ValueError):
        locate(collection, [], top_k=0)
    with pytest.raises(ValueError):
        locate(collection, [], radius_m=-1)


def test_a_copy_of_a_reference_photo_is_in_the_collection_by_its_content(
    arezzo, exif_samples, tmp_path
):
    _, collection = arezzo
    copy = tmp_path / "renamed.jpg"  # same content, another path
    copy.write_bytes((exif_samples / "gps" / "DSCN0021.jpg").read_bytes())
    (kept,) = locate(collection, [copy], top_k=3)
    assert kept.in_collection and kept.matches[0].score == pytest.approx(1, abs=1e-4)
    (left_out,) = locate(collection, [copy], top_k=3, exclude_self=True)
    assert left_out.in_collection and len(left_out.matches) == 3
    assert all(m.score < 0.9999 for m in left_out.matches)
    assert str(exif_samples / "gps" / "DSCN0021.jpg") not in [m.path for m in left_out.matches]
    other = tmp_path / "other.jpg"
    other.write_bytes((exif_samples / "orientation" / "landscape_1.jpg").read_bytes())
    assert not locate(collection, [other], top_k=3)[0].in_collection


def test_place_names_are_offline_and_none_far_from_any_town():
    from sciceapp.engine.places import format_place, place_name, place_names

    assert place_name(AREZZO) == "Arezzo, Tuscany, Italy"
    assert place_names([None, (0.0, -30.0)]) == [None, None]  # the middle of the Atlantic
    assert format_place({"city": "Monaco", "state": "", "country": "Monaco"}) == "Monaco"
