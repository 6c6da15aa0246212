"""Map pages: offline assets, escaping, data layout, tile options, and the real collection."""

from __future__ import annotations

import json
import re

import pytest
from search_fixtures import arezzo_fixture  # noqa: F401  (the `arezzo` fixture)

from sciceapp.engine.locate import LocateResult, Match, result_for
from sciceapp.engine.mapview import (
    OFFLINE_NOTICE,
    OSM_TILE_URL,
    QWEBCHANNEL_JS,
    MapData,
    MapPoint,
    page_data,
    render_map,
    script_json,
)

EVIL = "<img src=x onerror=alert(1)>.jpg"
TAG_URL = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?([^\"' >]+)", re.I)


def sample_data() -> MapData:
    references = [
        MapPoint(1, f"/photos/{EVIL}", 43.4600, 11.8800, "2008-10-22T16:29:49"),
        MapPoint(2, "/photos/b.jpg", 43.4700, 11.8700),
        MapPoint(3, "/photos/c.jpg", 43.4650, 11.8750),
    ]
    matches = [
        Match(f"/photos/{EVIL}", 0.9, 43.4600, 11.8800, 1),
        Match("/photos/b.jpg", 0.8, 43.4700, 11.8700, 2),
        Match("/photos/no-gps.jpg", 0.7, None, None, 4),
    ]
    located = result_for(
        "/queries/</script><script>alert(2)</script>.jpg", matches, (43.461, 11.881)
    )
    failed = LocateResult("/queries/broken.jpg", error="not an image")
    return MapData(references, [located, failed], title="Arezzo <b>demo</b>")


def test_page_needs_no_network_except_the_tile_url(tmp_path):
    page = render_map(sample_data(), tmp_path / "m.html", bridge=True).read_text("utf-8")
    urls = [m.group(3) for m in TAG_URL.finditer(page)]
    assert urls == [QWEBCHANNEL_JS]  # every asset inlined, folium's CDN links removed
    for cdn in ("cdn.jsdelivr", "code.jquery", "bootstrap", "awesome-markers", "unpkg.com"):
        assert cdn not in page
    assert "L.markerClusterGroup" in page and "function sciceappMap" in page
    assert OSM_TILE_URL in page


def test_every_string_is_escaped(tmp_path):
    page = render_map(sample_data(), tmp_path / "m.html").read_text("utf-8")
    assert "<img src=x" not in page
    assert "</script><script>alert(2)" not in page
    assert "\\u003cimg src=x onerror=alert(1)\\u003e.jpg" in page
    assert "Arezzo &lt;b&gt;demo&lt;/b&gt;" in page
    assert page.count("<script") == page.count("</script>")


def test_script_json_cannot_close_the_script_tag():
    text = script_json({"a": "</script>&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script>&\u2028"}


def test_points_travel_as_data_not_as_one_snippet_per_marker(tmp_path):
    many = MapData([MapPoint(i, f"/p/{i}.jpg", 43 + i * 1e-4, 11 + i * 1e-4) for i in range(2000)])
    page = render_map(many, tmp_path / "m.html").read_text("utf-8")
    assert page.count("/p/1999.jpg") == 1
    assert page.count("L.marker(") <= 3  # in the one page script, not per point
    # the library code and the world outline, plus ~a line of JSON per point
    assert len(page) < 250_000 + 200_000 + 2000 * 60


def test_page_data_lists_only_geotagged_matches_and_skips_failed_queries():
    data = sample_data()
    assert len(data.results) == 2
    shown = page_data(data)
    (located,) = shown["overlays"]["queries"]  # the failed query has nothing to draw
    assert [m[0] for m in located["matches"]] == [1, 2]  # photo ids; no-GPS match left out
    assert located["predicted"] is not None and located["query_gps"] == [43.461, 11.881]
    assert located["circle_m"] >= 25
    assert [r[0] for r in shown["references"]] == [1, 2, 3]
    (south, west), (north, east) = shown["focus"]  # the first view: the query's surroundings
    assert south < located["predicted"][0] < north and west < located["predicted"][1] < east


def test_offline_map_has_no_tile_layer_and_says_so(tmp_path):
    page = render_map(sample_data(), tmp_path / "m.html", tile_url=None).read_text("utf-8")
    assert "L.tileLayer" not in page
    assert OFFLINE_NOTICE in page
    assert '"name":"Italy"' in page  # the shipped world outline is drawn instead
    bare = render_map(sample_data(), tmp_path / "b.html", tile_url=None, basemap=False)
    assert '"name":"Italy"' not in bare.read_text("utf-8")
    online = render_map(sample_data(), tmp_path / "n.html").read_text("utf-8")
    assert "tileerror" in online  # the notice also appears when tiles fail to load


def test_custom_tile_urls_are_checked_and_attributed_safely(tmp_path):
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    page = render_map(
        sample_data(), tmp_path / "m.html", tile_url=url, tile_attribution="<b>me</b>"
    ).read_text("utf-8")
    assert url in page and "<b>me</b>" not in page
    with pytest.raises(ValueError, match="tile URL|Tile URL"):
        render_map(sample_data(), tmp_path / "x.html", tile_url="javascript:alert(1)")


def test_bridge_hooks_only_when_asked(tmp_path):
    plain = render_map(sample_data(), tmp_path / "a.html").read_text("utf-8")
    assert QWEBCHANNEL_JS not in plain and '"bridge":false' in plain
    hooked = render_map(sample_data(), tmp_path / "b.html", bridge=True).read_text("utf-8")
    assert QWEBCHANNEL_JS in hooked and '"bridge":true' in hooked
    assert 'call("markerClicked"' in hooked and 'call("pageReady"' in hooked


def test_empty_map_still_renders(tmp_path):
    page = render_map(MapData(), tmp_path / "e.html", tile_url=None).read_text("utf-8")
    assert '"references":[]' in page


def test_map_of_a_real_collection_and_results_read_back_from_json(arezzo, exif_samples, tmp_path):
    from sciceapp.engine.locate import locate

    _, collection = arezzo
    (result,) = locate(collection, [exif_samples / "gps" / "DSCN0021.jpg"], top_k=3)
    again = LocateResult.from_json(json.loads(json.dumps(result.to_json())))
    assert all(m.photo_id is None for m in again.matches)
    data = MapData.from_collection(collection, [again])
    assert len(data.references) == 9  # the Jolla photo has no GPS
    assert [m.photo_id for m in again.matches] == [m.photo_id for m in result.matches]
    assert "random weights" in data.title
    page = render_map(data, tmp_path / "arezzo.html").read_text("utf-8")
    assert "DSCN0021.jpg" in page and "random weights" in page
