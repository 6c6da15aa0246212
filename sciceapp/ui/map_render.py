"""Turn a collection and query results into a map file (engine ``render_map``), in a worker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sciceapp.engine.defaults import DEFAULT_RADIUS_M
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger("sciceapp.ui")


def _collection(data_dir: Path, name: str) -> Any:
    from sciceapp.engine.library import Library

    return Library(data_dir).open_collection(name)


def render_collection_map(
    data_dir: Path,
    name: str,
    items: list[Any],
    output_html: Path,
    tile_url: str,
    bridge: bool = True,
    radius_m: float = DEFAULT_RADIUS_M,
    tile_attribution: str | None = None,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> Path:
    """The collection's geotagged photos and query results (each prediction, its matches and
    the query's own GPS). The window renders each collection's page once, without results,
    and pushes them in later (``MapView.set_overlay``)."""
    from sciceapp.engine.mapview import MapData, render_map

    data = MapData.from_collection(_collection(data_dir, name), items)
    return render_map(
        data,
        output_html,
        tile_url=tile_url or None,
        bridge=bridge,
        tile_attribution=tile_attribution,
        radius_m=radius_m,
    )


def export_current_map(window: Any) -> None:
    """Ask where, then write the current map as a stand-alone HTML file."""
    from sciceapp.ui import file_dialogs

    name = window.current_collection()
    if name is None:
        window.show_error("There is no map to export yet: create a collection first.")
        return
    path = file_dialogs.save_file_name(
        window, "Export map", f"{name}-map.html", "Web page (*.html)"
    )
    if path:
        export_map_to(window, Path(path))


def export_map_to(window: Any, path: Path) -> Any:
    """Render the collection and the selected query to ``path`` in a worker, without the
    GUI's bridge hooks, so the file works in any browser."""
    from sciceapp.ui.workers import Worker

    result = window.locating.current_result()
    results = [result] if result is not None and not result.error else []
    settings = window.settings
    tiles = window.tile_url(exported=True)
    args = (window.data_dir, window.current_collection(), results, path, tiles)
    worker = Worker(render_collection_map, *args, False, settings.radius_m, name="export map")
    worker.signals.result.connect(
        lambda p: window.statusBar().showMessage(f"Map saved as {p}", 8000)
    )
    worker.signals.errored.connect(window.show_error)
    return window.pool.start(worker)
