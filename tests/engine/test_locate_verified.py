"""locate with verification: verified matches first, the prediction from them, JSON fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sciceapp.cli import main
from sciceapp.engine.library import Library
from sciceapp.engine.locate import locate

PARIS = (48.8867, 2.3431)
ELSEWHERE = [(43.46, 11.88), (35.68, 139.69), (-33.86, 151.2)]
SACRE = "sacre_coeur"
REFERENCES = [
    (f"{SACRE}/03903474_1471484089.jpg", PARIS),
    (f"{SACRE}/44120379_8371960244.jpg", PARIS),
    ("triplets/p4/i1_a001.jpg", ELSEWHERE[0]),
    ("triplets/p5/i1_b140.jpg", ELSEWHERE[1]),
    ("triplets/p7/i1_a081.jpg", ELSEWHERE[2]),
    ("triplets/p1/i1_Image058.jpg", ELSEWHERE[2]),
]
QUERY = f"{SACRE}/02928139_3448003521.jpg"


@pytest.fixture
def geotagged(tmp_path, real_places, exif_tools):
    """The reference photos re-saved with GPS EXIF, in ``refs/``."""
    folder = tmp_path / "refs"
    folder.mkdir()
    for i, (name, (lat, lon)) in enumerate(REFERENCES):
        with Image.open(real_places / name) as image:
            exif = exif_tools.tiff(gps=exif_tools.gps(lat, lon))
            image.convert("RGB").save(folder / f"ref{i}.jpg", quality=95, exif=exif)
    return folder


@pytest.fixture
def collection(data_dir, toy_model, geotagged):
    collection = Library(data_dir).create_collection("c", toy_model, local_features=True)
    collection.add([geotagged])
    return collection


def test_verified_matches_come_first_and_decide_the_place(collection, real_places):
    (result,) = locate(collection, [real_places / QUERY], top_k=6, radius_m=500)
    first, second = result.matches[:2]
    assert first.verified and second.verified  # the two other photos of the Sacre-Coeur
    assert {Path(m.path).name for m in (first, second)} == {"ref0.jpg", "ref1.jpg"}
    assert first.inliers >= second.inliers >= 16
    others = result.matches[2:]
    assert not any(m.verified for m in others)
    assert all(m.inliers is not None and m.inliers < 16 for m in others)
    assert result.verified
    assert result.predicted == pytest.approx(PARIS, abs=1e-3)
    assert set(result.cluster) <= {0, 1}


def test_without_verification_matches_keep_the_model_order(collection, real_places):
    (plain,) = locate(collection, [real_places / QUERY], top_k=6, verify=False)
    assert all(m.inliers is None and not m.verified for m in plain.matches)
    assert not plain.verified
    scores = [m.score for m in plain.matches]
    assert scores == sorted(scores, reverse=True)
    # Verifying only the first 2 of the model's list leaves the rest unverified, unmoved.
    (top2,) = locate(collection, [real_places / QUERY], top_k=6, verify_top_k=2)
    assert [m.inliers is None for m in top2.matches].count(False) == 2
    assert [m.path for m in top2.matches if m.inliers is None] == [
        m.path for m in plain.matches[2:]
    ]


def test_collection_without_local_features_is_not_verified(
    data_dir, toy_model, geotagged, real_places
):
    collection = Library(data_dir).create_collection("plain", toy_model)
    collection.add([geotagged])
    (result,) = locate(collection, [real_places / QUERY], top_k=3)
    assert not result.verified and all(m.inliers is None for m in result.matches)


def test_locate_json_has_inliers_and_verified(collection, real_places, capsys):
    code = main(["locate", str(real_places / QUERY), "-c", "c", "--json", "--top-k", "4", "-q"])
    assert code == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert data["verified"] is True
    assert data["matches"][0]["verified"] is True
    assert isinstance(data["matches"][0]["inliers"], int) and data["matches"][0]["inliers"] >= 16
    assert all(isinstance(m["inliers"], int) for m in data["matches"])
    code = main(["locate", str(real_places / QUERY), "-c", "c", "--json", "--no-verify", "-q"])
    (data,) = json.loads(capsys.readouterr().out)
    assert data["verified"] is False
    assert all(m["inliers"] is None and m["verified"] is False for m in data["matches"])


def test_review_rows_and_exports_carry_verification(collection, real_places, tmp_path, exif_tools):
    import csv

    from sciceapp.engine.review import review, write_csv, write_geojson

    survey = tmp_path / "survey"
    survey.mkdir()
    with Image.open(real_places / QUERY) as image:
        exif = exif_tools.tiff(gps=exif_tools.gps(*PARIS))
        image.convert("RGB").save(survey / "q.jpg", quality=95, exif=exif)
    (row,) = review(collection, [survey], threshold_m=500, radius_m=500)
    assert row.verified and row.inliers >= 16 and not row.flagged
    (plain,) = review(collection, [survey], threshold_m=500, verify=False)
    assert not plain.verified and plain.inliers is None
    (table,) = csv.DictReader(write_csv([row], tmp_path / "r.csv").open(encoding="utf-8"))
    assert table["verified"] == "1" and int(table["inliers"]) == row.inliers
    data = json.loads(write_geojson([row], tmp_path / "r.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["verified"] for f in data["features"]} == {True}
    assert {f["properties"]["inliers"] for f in data["features"]} == {row.inliers}
