"""The world basemap shipped with the app: country outlines and coastlines for offline maps.

The data is Natural Earth's 1:110m countries as TopoJSON from the world-atlas package
(``map_assets/world-atlas-countries-110m.json``, licence beside it). TopoJSON stores each
border once as a quantised, delta-encoded *arc* shared by the two countries it separates;
this module decodes it into a GeoJSON FeatureCollection that Leaflet draws directly.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

WORLD_ASSET = "world-atlas-countries-110m.json"
DIGITS = 3  # ~100 m: far below what a 1:110m outline resolves


def _decode_arcs(topology: dict[str, Any]) -> list[list[list[float]]]:
    """Every arc as absolute ``[lon, lat]`` positions (undoing quantisation and deltas)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        positions = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            positions.append([round(x * sx + tx, DIGITS), round(y * sy + ty, DIGITS)])
        arcs.append(positions)
    return arcs


def _ring(indices: list[int], arcs: list[list[list[float]]]) -> list[list[float]]:
    """Join arcs into one ring; a negative index ``~i`` is arc ``i`` reversed."""
    ring: list[list[float]] = []
    for index in indices:
        positions = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(positions[1:] if ring else positions)  # shared end points once
    return ring


def _geometry(geometry: dict[str, Any], arcs: list[list[list[float]]]) -> dict[str, Any] | None:
    kind = geometry.get("type")
    if kind == "Polygon":
        rings = [_ring(r, arcs) for r in geometry["arcs"]]
        return {"type": "Polygon", "coordinates": rings}
    if kind == "MultiPolygon":
        polygons = [[_ring(r, arcs) for r in polygon] for polygon in geometry["arcs"]]
        return {"type": "MultiPolygon", "coordinates": polygons}
    return None  # no shape (a null geometry)


def topology_to_geojson(topology: dict[str, Any], name: str) -> dict[str, Any]:
    """The TopoJSON object ``name`` as a GeoJSON FeatureCollection."""
    arcs = _decode_arcs(topology)
    features = []
    for geometry in topology["objects"][name]["geometries"]:
        shape = _geometry(geometry, arcs)
        if shape is not None:
            properties = {"name": str(geometry.get("properties", {}).get("name", ""))}
            features.append({"type": "Feature", "geometry": shape, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


@functools.lru_cache(maxsize=1)
def world_countries() -> dict[str, Any]:
    """The shipped world: one GeoJSON feature per country (Natural Earth 1:110m)."""
    text = resources.files("sciceapp.engine.map_assets").joinpath(WORLD_ASSET).read_text("utf-8")
    return topology_to_geojson(json.loads(text), "countries")
