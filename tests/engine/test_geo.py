"""Great-circle distances against known values, weighted centres, and clustering."""

from __future__ import annotations

import pytest

from sciceapp.engine.geo import (
    haversine_m,
    heaviest_cluster,
    pairwise_distances_m,
    weighted_mean_position,
)


@pytest.mark.parametrize(
    ("a", "b", "expected_m", "tolerance_m"),
    [
        ((0.0, 0.0), (0.0, 1.0), 111_195.0, 5.0),  # one degree of the equator, R = 6371.0088 km
        ((0.0, 0.0), (1.0, 0.0), 111_195.0, 5.0),  # one degree of a meridian
        ((51.5007, -0.1246), (40.6892, -74.0445), 5_574_840.0, 2_000.0),  # Big Ben - Liberty
        ((0.0, 0.0), (0.0, 180.0), 20_015_114.4, 1.0),  # half the circumference: pi R
        ((89.0, 0.0), (89.0, 180.0), 222_390.0, 10.0),  # across the pole
        ((0.0, 179.9), (0.0, -179.9), 22_239.0, 2.0),  # across the antimeridian
    ],
)
def test_haversine_matches_known_distances(a, b, expected_m, tolerance_m):
    assert haversine_m(*a, *b) == pytest.approx(expected_m, abs=tolerance_m)
    assert haversine_m(*b, *a) == pytest.approx(expected_m, abs=tolerance_m)


def test_haversine_of_a_point_to_itself_is_zero():
    assert haversine_m(43.4633, 11.8797, 43.4633, 11.8797) == 0.0


def test_pairwise_distances_agree_with_haversine():
    points = [(43.46, 11.87), (43.47, 11.88), (-33.9, 151.2)]
    table = pairwise_distances_m(points)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            assert table[i, j] == pytest.approx(haversine_m(*p, *q), rel=1e-9, abs=1e-6)


def test_weighted_mean_leans_towards_the_heavier_point():
    a, b = (43.460, 11.870), (43.470, 11.880)
    middle = weighted_mean_position([a, b], [1, 1])
    assert middle == pytest.approx((43.465, 11.875), abs=1e-4)
    heavy_b = weighted_mean_position([a, b], [1, 3])
    assert haversine_m(*heavy_b, *b) < haversine_m(*middle, *b)
    assert weighted_mean_position([a, b], [0, 1]) == pytest.approx(b, abs=1e-9)


def test_weighted_mean_across_the_antimeridian_stays_there():
    lat, lon = weighted_mean_position([(10.0, 179.0), (10.0, -179.0)], [1, 1])
    assert abs(lon) == pytest.approx(180.0, abs=1e-6)
    assert lat == pytest.approx(10.0, abs=0.01)


def test_weighted_mean_refuses_bad_weights():
    with pytest.raises(ValueError):
        weighted_mean_position([(0, 0)], [0])
    with pytest.raises(ValueError):
        weighted_mean_position([(0, 0), (1, 1)], [1])


def test_heaviest_cluster_prefers_weight_over_rank():
    # One good match in Rome, three slightly weaker ones together in Arezzo.
    points = [(41.9, 12.5), (43.4630, 11.8800), (43.4632, 11.8801), (43.4631, 11.8799)]
    assert heaviest_cluster(points, [1.0, 0.6, 0.6, 0.6], radius_m=100) == [1, 2, 3]
    assert heaviest_cluster(points, [2.0, 0.6, 0.6, 0.6], radius_m=100) == [0]
    assert heaviest_cluster(points, [1.0, 0.6, 0.6, 0.6], radius_m=1) == [0]
    assert heaviest_cluster([], [], radius_m=100) == []
