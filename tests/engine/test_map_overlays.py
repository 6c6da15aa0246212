"""Where the map looks (a query's neighbourhood, the bulk of the photos), the overlays' data,
and the shipped world outline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sciceapp.engine.basemap import topology_to_geojson, world_countries
from sciceapp.engine.geo import haversine_m
from sciceapp.engine.locate import Match, result_for
from sciceapp.engine.map_overlays import (
    FOCUS_MIN_SPAN_M,
    bearing_deg,
    focus_bounds,
    query_overlay,
    review_bounds,
    review_overlay,
    robust_bounds,
)

AREZZO = [(43.4630 + i * 1e-3, 11.8790 + (i % 3) * 1e-3) for i in range(9)]
KANSAS = (38.3484, -97.0172)  # the one far photo among the samples (a HEIC)


def contains(bounds, point) -> bool:
    (south, west), (north, east) = bounds
    return south <= point[0] <= north and west <= point[1] <= east


def test_robust_bounds_leave_out_a_photo_on_another_continent():
    bounds = robust_bounds([*AREZZO, KANSAS])
    assert all(contains(bounds, p) for p in AREZZO)
    assert not contains(bounds, KANSAS)
    (south, west), (north, east) = bounds
    assert haversine_m(south, west, north, east) < 5_000  # a town, not the world
    # Without the outlier nothing is dropped; with fewer than three points, nothing either.
    assert robust_bounds(AREZZO) == [
        [min(p[0] for p in AREZZO), min(p[1] for p in AREZZO)],
        [max(p[0] for p in AREZZO), max(p[1] for p in AREZZO)],
    ]
    assert contains(robust_bounds([AREZZO[0], KANSAS]), KANSAS)
    assert robust_bounds([]) is None


def test_focus_bounds_show_the_query_and_its_matches_but_not_a_far_outlier():
    matches = [
        Match(f"/r/{i}.jpg", 0.9 - i * 0.01, *p, photo_id=i) for i, p in enumerate(AREZZO[:4])
    ]
    matches.append(Match("/r/kansas.heic", 0.85, *KANSAS, photo_id=99))
    result = result_for("/q.jpg", matches, query_gps=(43.4641, 11.8801))
    bounds = focus_bounds(result)
    assert contains(bounds, result.predicted)
    assert all(contains(bounds, (m.lat, m.lon)) for m in matches[:4])
    assert contains(bounds, result.query_gps)
    assert not contains(bounds, KANSAS)
    (south, west), (north, east) = bounds
    span = haversine_m(south, west, north, east)
    assert FOCUS_MIN_SPAN_M / 2 < span < 10_000
    # The same query whose own GPS is far away: the view stays on the prediction.
    far = result_for("/q.jpg", matches[:4], query_gps=KANSAS)
    assert not contains(focus_bounds(far), KANSAS)
    assert focus_bounds(result_for("/q.jpg", [], query_gps=None)) is None


def test_query_overlay_carries_geotagged_matches_and_places():
    matches = [Match("/r/a.jpg", 0.9, *AREZZO[0], photo_id=1), Match("/r/b.jpg", 0.8, None, None)]
    result = result_for("/q.jpg", matches, None)
    result.place = "Arezzo, Tuscany, Italy"
    (item,) = query_overlay([result])
    assert item["place"] == "Arezzo, Tuscany, Italy"
    assert [m[0] for m in item["matches"]] == [1]
    failed = result_for("/bad.jpg", [], None)
    failed.error = "not an image"
    assert query_overlay([failed]) == []


def test_review_overlay_one_arrow_per_checked_photo_pointing_recorded_to_predicted():
    def row(path, recorded, predicted, flagged):
        return SimpleNamespace(
            path=path,
            recorded=recorded,
            predicted=predicted,
            distance_m=1.0,
            confidence=0.5,
            flagged=flagged,
            result=None,
        )

    rows = [
        row("/s/north.jpg", (43.46, 11.88), (43.47, 11.88), True),
        row("/s/east.jpg", (43.46, 11.88), (43.46, 11.89), False),
        row("/s/nogps.jpg", None, (43.46, 11.88), False),
    ]
    items = review_overlay(rows)
    assert [i["photo"] for i in items] == ["/s/north.jpg", "/s/east.jpg"]
    assert items[0]["flagged"] is True and items[1]["flagged"] is False
    assert abs(items[0]["bearing"] - 0) < 0.5 and abs(items[1]["bearing"] - 90) < 0.5
    assert abs(bearing_deg((0, 0), (-1, 0)) - 180) < 1e-6
    assert contains(review_bounds(rows), (43.47, 11.89))


def test_world_outline_decodes_topojson_arcs():
    world = world_countries()
    names = {f["properties"]["name"] for f in world["features"]}
    assert {"Italy", "United States of America", "Fiji"} <= names and len(names) > 150
    italy = next(f for f in world["features"] if f["properties"]["name"] == "Italy")
    ring = italy["geometry"]["coordinates"][0][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    assert 6 < min(lons) < 8 and 17 < max(lons) < 19 and 36 < min(lats) < 39 and 46 < max(lats) < 48
    assert ring[0] == ring[-1]  # a closed ring
    # A two-arc square, the second arc reversed (~1): delta-encoded, quantised.
    topology = {
        "transform": {"scale": [1, 1], "translate": [0, 0]},
        "arcs": [[[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 0], [0, 1]]],
        "objects": {
            "o": {
                "geometries": [{"type": "Polygon", "arcs": [[0, ~1]], "properties": {"name": "sq"}}]
            }
        },
    }
    (feature,) = topology_to_geojson(topology, "o")["features"]
    assert feature["geometry"]["coordinates"] == [[[0, 0], [1, 0], [1, 1], [1, 0], [0, 0]]]


def test_track_overlay_breaks_at_gaps_and_thins_long_tracks():
    from datetime import UTC, datetime, timedelta

    from sciceapp.engine.geotag.gpx import Track, TrackPoint
    from sciceapp.engine.map_overlays import track_overlay

    start = datetime(2024, 5, 1, 9, tzinfo=UTC)
    # 09:00-09:59 one point a second, then nothing until 11:00, then ten more minutes
    seconds = [*range(3600), *range(7200, 7800)]
    track = Track(
        [TrackPoint(start + timedelta(seconds=s), 43 + s * 1e-5, 11 + s * 2e-5) for s in seconds],
        ["walk.gpx"],
    )
    lines = track_overlay(track, timedelta(minutes=5), max_vertices=420)
    assert len(lines) == 2  # no line across the hour with no points
    morning, later = lines
    assert morning["start"].startswith("2024-05-01T09:00:00") and later["start"].startswith(
        "2024-05-01T11:00:00"
    )
    assert morning["points"][0] == [43.0, 11.0]  # the ends are kept
    assert morning["points"][-1] == pytest.approx([43 + 3599e-5, 11 + 3599 * 2e-5])
    assert sum(len(line["points"]) for line in lines) <= 420
    assert len(morning["points"]) > 5 * len(later["points"]) > 0  # thinned in proportion
    one_line = track_overlay(track, timedelta(hours=2))
    assert len(one_line) == 1 and len(one_line[0]["points"]) == len(seconds)  # under the cap
