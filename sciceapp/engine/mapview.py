"""The map page of a collection: one self-contained HTML file (folium + Leaflet), loaded once.

What the page shows
- the shipped world basemap (country outlines, ``engine.basemap``) under the tiles, so that
  with no tiles at all (offline) photos are still drawn on a map;
- every geotagged reference photo as a small blue dot, clustered (Leaflet.markercluster);
- overlays (``engine.map_overlays``), drawn from data given at render time (an exported map)
  or pushed later by the GUI: ``queries`` (per query the predicted position inside a circle
  whose radius spans the agreeing matches and whose opacity grows with the confidence; dashed
  orange lines to each geotagged match; the query's own GPS joined to the prediction) and
  ``review`` (per survey photo an arrow from its recorded to its predicted position, flagged
  ones in the warning colour, with a legend);
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
- the page connects ``new QWebChannel(qt.webChannelTransport, ...)`` to the object registered
  as ``bridge`` (``ui.map_page.MapBridge``; qwebchannel.js is injected by the view) and calls
  ``bridge.pageReady()`` once the reference photos are drawn, ``bridge.overlayShown(name,
  seq)`` after each pushed overlay, ``bridge.markerClicked(id)`` and ``bridge.markerMenu(id,
  kind)`` (right click) for markers of catalogue photos;
- ``window.sciceapp``: ``ready``, ``setOverlay(name, items, seq)``, ``focus(bounds)``,
  ``setReviewOptions({showAgreeing})``, ``highlight(id)`` (pans to that photo's marker,
  unclustering it if needed, opens its popup; false for an unknown id), ``markerCount()``
  (every point marker: references, clustered ones included, plus overlay points; circles,
  lines and arrows are not counted), ``marker(id)`` (that photo's Leaflet layer, or null),
  ``overlayCount(name, what)``, ``view()`` ({bounds, zoom}), ``setView(lat, lon, zoom)``,
  ``basemapShown()`` and ``notice()`` (the notice shown, or "").
- each query's own marker (its recorded GPS, else its prediction) can be dragged; dropping it
  calls ``bridge.markerMoved(query_path, lat, lon)`` (the window confirms before writing);
  a click on the map calls ``bridge.mapClicked(lat, lon)``; ``photoMarker(path)`` is a
  query's draggable marker (or null), ``bridgeReady()`` whether the bridge is connected.
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
from folium.template import Template

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.defaults import DEFAULT_RADIUS_M, OSM_TILE_URL
from sciceapp.engine.labels import model_text
from sciceapp.engine.locate import LocateResult
from sciceapp.engine.map_overlays import focus_bounds, query_overlay, robust_bounds

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"
BASEMAP_ATTRIBUTION = "Outlines: Natural Earth"
OFFLINE_NOTICE = "No map tiles (offline): photos are shown on the built-in world outline."
TILE_ERROR_NOTICE = "Map tiles could not be loaded (offline?): photos are still shown."
QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"
MAX_ZOOM = 19  # markercluster needs the map to have one, tiles or not
FOCUS_MAX_ZOOM = 17
DEFAULT_CENTRE = (20.0, 0.0)  # an empty map shows the world
# http(s), file, or the app's own tile scheme (``ui.tile_scheme``: MBTiles, the tile cache)
TILE_URL_PATTERN = re.compile(r"^(https?|file|sciceapp-tiles)://\S+$")
MAP_BACKGROUND = "#dbe7ef"  # the sea, where the basemap has no land


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


def page_data(data: MapData, radius_m: float = DEFAULT_RADIUS_M) -> dict[str, Any]:
    """The JSON the page script draws: compact arrays for the many reference points, the
    overlays known at render time, and the first view (the first located query's
    neighbourhood, else the bulk of the reference photos)."""
    references = [[p.photo_id, p.lat, p.lon, p.path, p.capture_time] for p in data.references]
    located = [r for r in data.results if r.error is None and r.predicted is not None]
    focus = (
        focus_bounds(located[0], radius_m)
        if located
        else robust_bounds([(p.lat, p.lon) for p in data.references])
    )
    return {
        "references": references,
        "overlays": {"queries": query_overlay(data.results, radius_m)},
        "focus": focus,
    }


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


def _asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


PAGE_STYLE = (
    f".folium-map{{background:{MAP_BACKGROUND};}}"
    ".sciceapp-notice{background:#fff3bf;border:1px solid #e67700;padding:4px 8px;"
    "font:13px sans-serif;display:none;}"
    ".sciceapp-dot{border-radius:50%;border:2px solid;box-sizing:border-box;}"
    ".sciceapp-reference{background:#3b8bdb;border-color:#1f5fa8;}"
    ".sciceapp-match{background:#ff922b;border-color:#d9480f;}"
    ".sciceapp-verified{background:#ff922b;border-color:#2b8a3e;border-width:4px;}"
    ".sciceapp-predicted{background:#fa5252;border-color:#c92a2a;border-width:3px;}"
    ".sciceapp-recorded{background:#51cf66;border-color:#2b8a3e;border-width:3px;}"
    ".sciceapp-title{font-weight:bold;}.sciceapp-path{color:#555;font-size:11px;"
    "word-break:break-all;}.sciceapp-label{color:#555;}"
    ".sciceapp-heading{position:absolute;top:8px;left:50px;z-index:1000;background:#fff;"
    "padding:2px 8px;font:13px sans-serif;border-radius:4px;opacity:0.9;}"
    ".sciceapp-legend{background:#fff;padding:4px 8px;font:12px sans-serif;border-radius:4px;"
    "line-height:18px;opacity:0.92;}.sciceapp-swatch{display:inline-block;width:18px;"
    "height:4px;margin-right:6px;vertical-align:middle;}"
    ".sciceapp-arrowhead{width:0;height:0;border-left:6px solid transparent;"
    "border-right:6px solid transparent;border-bottom:14px solid;margin:-7px 0 0 -6px;}"
)


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
    # Plain 2D positions: with 3D transforms each marker becomes its own compositing layer,
    # and a software-rendered view (offscreen, screenshots) could paint them a frame late.
    parts.append("<script>window.L_DISABLE_3D = true;</script>")
    parts += [f"<script>{p.read_text(encoding='utf-8')}</script>" for p in scripts]
    parts.append(f"<script>{_asset('sciceapp.engine.map_assets', 'sciceapp_map.js')}</script>")
    parts.append(f"<style>{PAGE_STYLE}</style>")
    if bridge:
        parts.append(f'<script src="{QWEBCHANNEL_JS}"></script>')
    return "\n".join(parts)


class _PageScript(folium.MacroElement):
    """Runs ``sciceappMap`` on the folium map with the page data."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        sciceappMap({{ this._parent.get_name() }}, {{ this.data_json }}, {{ this.options_json }});
        {% endmacro %}"""
    )

    def __init__(self, data_json: str, options_json: str) -> None:
        super().__init__()
        self._name = "SciceappPage"
        self.data_json = data_json
        self.options_json = options_json


def _attribution(tile_url: str, tile_attribution: str | None) -> str:
    """HTML: ``tile_attribution`` (plain text) escaped, or the credit ``tile_url`` needs."""
    if tile_attribution is not None:
        return html.escape(tile_attribution)
    if tile_url == OSM_TILE_URL:
        return OSM_ATTRIBUTION
    host = tile_url.split("/")[2] or "local files"
    return html.escape(f"Map tiles: {host}")


def tile_credit(tile_url: str) -> str:
    """The plain-text credit for tiles from ``tile_url`` (for a page that loads them through
    the app's cache, whose own address names no server)."""
    return html.unescape(_attribution(tile_url, None))


def render_map(
    data: MapData,
    output_html: str | os.PathLike[str],
    tile_url: str | None = OSM_TILE_URL,
    bridge: bool = False,
    tile_attribution: str | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    basemap: bool = True,
) -> Path:
    """Write the map page to ``output_html`` (atomically) and return its path.

    ``tile_url``: a ``{z}/{x}/{y}`` template (http, https, file or ``sciceapp-tiles``), or
    None/"" for no tiles (offline: the world basemap and a notice). ``tile_attribution`` is
    plain text. ``basemap``: draw the shipped world outline under the tiles.
    """
    if tile_url and not TILE_URL_PATTERN.match(tile_url):
        raise ValueError(
            f"Tile URL {tile_url!r} is not an http(s):// or file:// address template such as "
            f"{OSM_TILE_URL}."
        )
    fmap = folium.Map(
        location=DEFAULT_CENTRE, zoom_start=2, tiles=None, prefer_canvas=True, control_scale=True
    )
    fmap.default_js = []
    fmap.default_css = []
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=_attribution(tile_url, tile_attribution),
            max_zoom=MAX_ZOOM,
            name="tiles",
        ).add_to(fmap)
    root = fmap.get_root()
    root.header.add_child(folium.Element(_inline_assets(bridge)), name="sciceapp_assets")
    if data.title:
        heading = f'<div class="sciceapp-heading">{html.escape(data.title)}</div>'
        root.html.add_child(folium.Element(heading), name="sciceapp_heading")
    options: dict[str, Any] = {
        "bridge": bridge,
        "notice": None if tile_url else OFFLINE_NOTICE,
        "tileErrorNotice": TILE_ERROR_NOTICE,
        "maxZoom": MAX_ZOOM,
        "focusMaxZoom": FOCUS_MAX_ZOOM,
        "basemap": None,
    }
    if basemap:
        from sciceapp.engine.basemap import world_countries

        options["basemap"] = world_countries()
        options["basemapAttribution"] = BASEMAP_ATTRIBUTION
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
