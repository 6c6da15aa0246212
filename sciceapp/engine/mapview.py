"""The map of a collection and of query results: one self-contained HTML file (folium + Leaflet).

What the page shows
- every geotagged reference photo as a small blue dot, clustered (Leaflet.markercluster);
- per query result: the predicted position (red dot) inside a circle whose radius spans the
  agreeing matches and whose opacity grows with the confidence; dashed orange lines to each
  geotagged match (orange dots); the query's own GPS (green dot) joined to the prediction;
- a notice in the lower left when there are no tiles (offline) or when tiles fail to load.

How it is built (why it works offline and stays fast with 100k points)
- Leaflet and Leaflet.markercluster JS/CSS are read from the installed ``xstatic-leaflet`` and
  ``xstatic-leaflet-markercluster`` packages and inlined into the page; folium's default CDN
  links (Leaflet, jQuery, Bootstrap, awesome-markers) are all removed. The only remote URL
  left is the tile URL template, if one is given.
- The points travel as one JSON object (``<`` ``>`` ``&`` written as ``\\u003c`` etc.) read by
  one small script (``map_assets/sciceapp_map.js``), not as one HTML snippet per marker.
  Popups are built only when opened, and every text goes through ``textContent``: file names
  and EXIF text cannot become markup.

Hooks for the GUI (``render_map(..., bridge=True)``; load the file with
``QWebEngineView.load(QUrl.fromLocalFile(path))``, not ``setHtml``)
- the page loads ``qrc:///qtwebchannel/qwebchannel.js`` and connects
  ``new QWebChannel(qt.webChannelTransport, ...)`` to the object registered as ``bridge``;
- clicking a reference or match marker calls ``bridge.markerClicked(String(photo_id))`` with
  the catalogue photo id (prediction and recorded-GPS markers have no id and call nothing);
- each query's own marker (its recorded GPS, else its prediction) can be dragged; dropping it
  calls ``bridge.markerMoved(query_path, lat, lon)`` (the window confirms before writing);
  a click on the map calls ``bridge.mapClicked(lat, lon)``;
- ``window.sciceapp``: ``ready`` (true once the markers exist), ``highlight(id)`` (pans to
  that photo's marker, unclustering it if needed, opens its popup; returns false for an
  unknown id), ``markerCount()`` (every point marker on the map, clustered ones included:
  references + per query its geotagged matches, its prediction and its recorded GPS; circles
  and lines are not counted), ``marker(id)`` (that photo's Leaflet layer, or null; tests
  fire clicks on it), ``photoMarker(path)`` (a query's draggable marker, or null),
  ``bridgeReady()`` and ``notice()`` (the notice text shown, or "").
- Tiles from a remote URL in a page loaded from a file need the QWebEngine setting
  ``LocalContentCanAccessRemoteUrls``; without it the page shows the tile-error notice.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import folium

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.defaults import DEFAULT_RADIUS_M, OSM_TILE_URL
from sciceapp.engine.geo import haversine_m
from sciceapp.engine.labels import model_text
from sciceapp.engine.locate import LocateResult

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"
OFFLINE_NOTICE = "No map tiles (offline): photos are shown on a plain background."
TILE_ERROR_NOTICE = "Map tiles could not be loaded (offline?): photos are still shown."
QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"
MIN_CIRCLE_M = 25.0
MAX_ZOOM = 19  # markercluster needs the map to have one, tiles or not
DEFAULT_CENTRE = (20.0, 0.0)  # an empty map shows the world
TILE_URL_PATTERN = re.compile(r"^(https?|file)://\S+$")
MAP_BACKGROUND = "#e8e4d8"


@dataclass
class MapPoint:
    """A geotagged reference photo."""

    photo_id: int
    path: str
    lat: float
    lon: float
    capture_time: str | None = None


@dataclass
class MapData:
    """Everything a map shows, as plain data: reference photos, query results, a title."""

    references: list[MapPoint] = field(default_factory=list)
    results: list[LocateResult] = field(default_factory=list)
    title: str = ""

    @classmethod
    def from_collection(cls, collection: Any, results: Sequence[LocateResult] = ()) -> MapData:
        """The collection's geotagged indexed photos and ``results`` (failed ones left out).

        Matches read back from JSON have no photo id; they get it from their path here.
        """
        records = [r for r in collection.photos(state="indexed") if r.lat is not None]
        references = [MapPoint(r.id, str(r.path), r.lat, r.lon, r.capture_time) for r in records]
        kept = [r for r in results if r.error is None]
        unknown = [m for result in kept for m in result.matches if m.photo_id is None]
        if unknown:  # only results read back from JSON: the catalogue is read again for them
            ids_by_path = {str(r.path): r.id for r in collection.photos()}
            for match in unknown:
                match.photo_id = ids_by_path.get(match.path)
        label = model_text(collection.model_label, collection.model_random_init)
        return cls(references, kept, f"{collection.name}: {label}")

    @classmethod
    def from_review(cls, collection: Any, rows: Sequence[Any]) -> MapData:
        """The collection plus the locate results behind survey ``ReviewRow``s."""
        results = [row.result for row in rows if getattr(row, "result", None) is not None]
        return cls.from_collection(collection, results)


def _circle_m(result: LocateResult, radius_m: float) -> float:
    """Radius spanning the geotagged matches that agree with the prediction."""
    lat, lon = result.predicted
    spread = [haversine_m(lat, lon, m.lat, m.lon) for m in result.matches if m.has_gps]
    agreeing = [d for d in spread if d <= radius_m]
    return max([MIN_CIRCLE_M, *agreeing])


def page_data(data: MapData, radius_m: float = DEFAULT_RADIUS_M) -> dict[str, Any]:
    """The JSON the page script draws (compact arrays for the many reference points)."""
    queries = []
    for result in data.results:
        geotagged = [
            [m.photo_id, m.path, m.score, m.lat, m.lon, rank]
            for rank, m in enumerate(result.matches)
            if m.has_gps
        ]
        queries.append(
            {
                "query": result.query,
                "predicted": list(result.predicted) if result.predicted else None,
                "confidence": result.confidence,
                "circle_m": _circle_m(result, radius_m) if result.predicted else 0.0,
                "query_gps": list(result.query_gps) if result.query_gps else None,
                "error_m": result.error_m,
                "matches": geotagged,
            }
        )
    references = [[p.photo_id, p.lat, p.lon, p.path, p.capture_time] for p in data.references]
    return {"references": references, "queries": queries}


def script_json(value: Any) -> str:
    """JSON that is safe inside an HTML ``<script>``: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def _bounds(data: MapData) -> list[list[float]] | None:
    points = [(p.lat, p.lon) for p in data.references]
    for result in data.results:
        points += [p for p in (result.predicted, result.query_gps) if p is not None]
        points += [(m.lat, m.lon) for m in result.matches if m.has_gps]
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _inline_assets(bridge: bool) -> str:
    """``<style>``/``<script>`` blocks for Leaflet, markercluster and our page script."""
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as cluster

    styles = [
        Path(leaflet.BASE_DIR, "leaflet.css"),
        Path(cluster.BASE_DIR, "MarkerCluster.css"),
        Path(cluster.BASE_DIR, "MarkerCluster.Default.css"),
    ]
    scripts = [
        Path(leaflet.BASE_DIR, "leaflet.js"),
        Path(cluster.BASE_DIR, "leaflet.markercluster.js"),
    ]
    parts = [f"<style>{p.read_text(encoding='utf-8')}</style>" for p in styles]
    parts += [f"<script>{p.read_text(encoding='utf-8')}</script>" for p in scripts]
    parts.append(f"<script>{_asset('sciceapp.engine.map_assets', 'sciceapp_map.js')}</script>")
    parts.append(
        "<style>"
        f".folium-map{{background:{MAP_BACKGROUND};}}"
        ".sciceapp-notice{background:#fff3bf;border:1px solid #e67700;padding:4px 8px;"
        "font:13px sans-serif;display:none;}"
        ".sciceapp-dot{border-radius:50%;border:2px solid;box-sizing:border-box;}"
        ".sciceapp-reference{background:#3b8bdb;border-color:#1f5fa8;}"
        ".sciceapp-match{background:#ff922b;border-color:#d9480f;}"
        ".sciceapp-predicted{background:#fa5252;border-color:#c92a2a;border-width:3px;}"
        ".sciceapp-recorded{background:#51cf66;border-color:#2b8a3e;border-width:3px;}"
        ".sciceapp-title{font-weight:bold;}.sciceapp-path{color:#555;font-size:11px;"
        "word-break:break-all;}.sciceapp-label{color:#555;}"
        ".sciceapp-heading{position:absolute;top:8px;left:50px;z-index:1000;background:#fff;"
        "padding:2px 8px;font:13px sans-serif;border-radius:4px;opacity:0.9;}"
        "</style>"
    )
    if bridge:
        parts.append(f'<script src="{QWEBCHANNEL_JS}"></script>')
    return "\n".join(parts)


class _PageScript(folium.MacroElement):
    """Runs ``sciceappMap`` on the folium map with the page data."""

    _template = folium.template.Template(
        """{% macro script(this, kwargs) %}
        sciceappMap({{ this._parent.get_name() }}, {{ this.data_json }}, {{ this.options_json }});
        {% endmacro %}"""
    )

    def __init__(self, data_json: str, options_json: str) -> None:
        super().__init__()
        self._name = "SciceappPage"
        self.data_json = data_json
        self.options_json = options_json


def render_map(
    data: MapData,
    output_html: str | os.PathLike[str],
    tile_url: str | None = OSM_TILE_URL,
    bridge: bool = False,
    tile_attribution: str | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> Path:
    """Write the map page to ``output_html`` (atomically) and return its path.

    ``tile_url``: a ``{z}/{x}/{y}`` template (http, https or file), or None/"" for no tiles
    (offline: a plain background with a notice). ``tile_attribution`` is plain text.
    """
    if tile_url and not TILE_URL_PATTERN.match(tile_url):
        raise ValueError(
            f"Tile URL {tile_url!r} is not an http(s):// or file:// address template such as "
            f"{OSM_TILE_URL}."
        )
    bounds = _bounds(data)
    fmap = folium.Map(
        location=DEFAULT_CENTRE if bounds is None else None,
        zoom_start=2,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
    )
    fmap.default_js = []
    fmap.default_css = []
    if tile_url:
        if tile_attribution is not None:
            attribution = html.escape(tile_attribution)
        elif tile_url == OSM_TILE_URL:
            attribution = OSM_ATTRIBUTION
        else:
            attribution = html.escape("Map tiles: " + tile_url.split("/")[2])
        folium.TileLayer(tiles=tile_url, attr=attribution, max_zoom=MAX_ZOOM, name="tiles").add_to(
            fmap
        )
    if bounds is not None:
        fmap.fit_bounds(bounds, max_zoom=17, padding=(20, 20))
    root = fmap.get_root()
    root.header.add_child(folium.Element(_inline_assets(bridge)), name="sciceapp_assets")
    if data.title:
        heading = f'<div class="sciceapp-heading">{html.escape(data.title)}</div>'
        root.html.add_child(folium.Element(heading), name="sciceapp_heading")
    options = {
        "bridge": bridge,
        "notice": None if tile_url else OFFLINE_NOTICE,
        "tileErrorNotice": TILE_ERROR_NOTICE,
        "maxZoom": MAX_ZOOM,
    }
    fmap.add_child(_PageScript(script_json(page_data(data, radius_m)), script_json(options)))
    page = root.render()
    output = Path(output_html)
    write_bytes_atomic(output, page.encode("utf-8"))
    log.info(
        "map with %d reference photos and %d results written to %s",
        len(data.references),
        len(data.results),
        output,
    )
    return output
