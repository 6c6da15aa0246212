"""`sciceapp locate`, `review` and `map` through the CLI entry point, on the Arezzo collection."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from search_fixtures import arezzo_fixture  # noqa: F401  (the `arezzo` fixture)

from sciceapp.cli import main

KEYS = {"query", "predicted", "confidence", "matches", "query_gps", "error_m", "verified"}
KEYS |= {"place", "query_place", "in_collection"}
TOWN = "Arezzo, Tuscany, Italy"


def run(data_dir, *argv):
    return main(["--data-dir", str(data_dir), *argv])


def test_locate_json_and_output_file(arezzo, exif_samples, tmp_path, capsys):
    data_dir, _ = arezzo
    query = exif_samples / "gps" / "DSCN0040.jpg"
    out = tmp_path / "results.json"
    code = run(data_dir, "locate", str(query), "-c", "arezzo", "--json", "--top-k", "3", "-q",
               "--output", str(out))  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text("utf-8"))
    (result,) = printed
    assert set(result) == KEYS | {"model"}
    assert result["model"].endswith("(random weights: demo, not accurate)")
    # The query is one of the collection's photos: it is not its own match, and says so.
    assert result["in_collection"] is True
    assert len(result["matches"]) == 3 and str(query) not in [m["path"] for m in result["matches"]]
    # Place names, offline, for the prediction, the query's GPS and each match.
    assert result["place"] == TOWN and result["query_place"] == TOWN
    assert [m["place"] for m in result["matches"]] == [TOWN] * 3


def test_locate_include_self_keeps_the_photo_as_its_own_best_match(arezzo, exif_samples, capsys):
    data_dir, _ = arezzo
    query = exif_samples / "gps" / "DSCN0040.jpg"
    code = run(data_dir, "locate", str(query), "-c", "arezzo", "--json", "--top-k", "3", "-q",
               "--include-self")  # fmt: skip
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["in_collection"] is True
    assert result["matches"][0]["path"] == str(query) and result["error_m"] < 50


def test_locate_table_names_the_random_model_and_reports_bad_photos(
    arezzo, exif_samples, tmp_path, capsys
):
    data_dir, _ = arezzo
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo at all")
    code = run(data_dir, "locate", str(bad), str(exif_samples / "gps" / "DSCN0040.jpg"),
               "-c", "arezzo", "-q")  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1  # one query failed; the other was still located
    assert "random weights" in captured.out
    assert "predicted  43.46" in captured.out
    assert "cannot locate" in captured.err and str(bad) in captured.err


def test_locate_unknown_collection_is_a_clear_error(arezzo, exif_samples, capsys):
    data_dir, _ = arezzo
    code = run(data_dir, "locate", str(exif_samples / "gps" / "DSCN0040.jpg"), "-c", "nope")
    assert code != 0
    assert "No collection named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse refuses it: exit 2 with the range
        run(data_dir, "locate", "x.jpg", "-c", "arezzo", "--top-k", "0")
    assert usage.value.code == 2


def test_review_writes_csv_and_geojson(arezzo, exif_samples, tmp_path, capsys):
    data_dir, _ = arezzo
    out_csv, out_geojson = tmp_path / "r.csv", tmp_path / "r.geojson"
    code = run(data_dir, "review", str(exif_samples / "gps"), "-c", "arezzo", "-q",
               "--csv", str(out_csv), "--geojson", str(out_geojson), "--threshold-m", "100000")  # fmt: skip
    assert code == 0
    assert "9 photos: 9 checked, 0 farther than 100000 m" in capsys.readouterr().out
    with out_csv.open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 9
    features = json.loads(out_geojson.read_text("utf-8"))["features"]
    assert {f["properties"]["role"] for f in features} == {"recorded", "predicted"}


def test_map_from_locate_results_offline(arezzo, exif_samples, tmp_path, capsys):
    data_dir, _ = arezzo
    results = tmp_path / "results.json"
    run(data_dir, "locate", str(exif_samples / "gps" / "DSCN0040.jpg"), "-c", "arezzo", "-q",
        "--output", str(results))  # fmt: skip
    page = tmp_path / "map.html"
    code = run(data_dir, "map", "-c", "arezzo", "--queries", str(results), "--output", str(page),
               "--offline")  # fmt: skip
    assert code == 0
    assert "9 geotagged photos, 1 results (no tiles: offline)" in capsys.readouterr().out
    html = page.read_text("utf-8")
    assert "DSCN0040.jpg" in html and "L.tileLayer" not in html


def test_map_refuses_a_file_that_is_not_locate_output(arezzo, tmp_path, capsys):
    data_dir, _ = arezzo
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}', encoding="utf-8")
    code = run(data_dir, "map", "-c", "arezzo", "--queries", str(bogus), "--output",
               str(tmp_path / "m.html"))  # fmt: skip
    assert code != 0
    assert "not a locate result file" in capsys.readouterr().err
    assert not (tmp_path / "m.html").exists()


def test_locate_searches_folders_and_refuses_one_without_photos(
    arezzo, exif_samples, tmp_path, capsys
):
    data_dir, _ = arezzo
    code = run(data_dir, "locate", str(exif_samples / "gps"), "-c", "arezzo", "--json", "-q")
    assert code == 0
    located = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["query"]).name for r in located) == sorted(
        p.name for p in (exif_samples / "gps").glob("*.jpg")
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(data_dir, "locate", str(empty), "-c", "arezzo", "-q") == 2
    assert f"No photos found in the folder {empty}" in capsys.readouterr().err
