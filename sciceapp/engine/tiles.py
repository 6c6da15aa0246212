"""Where the map's tiles come from: an online URL template, a local tile folder, an MBTiles
file, or none (the shipped world outline only, ``engine.basemap``).

MBTiles (https://github.com/mapbox/mbtiles-spec) is one SQLite file with a ``tiles`` table
(``zoom_level, tile_column, tile_row, tile_data``) whose rows count from the south (TMS), and
a ``metadata`` table whose ``format`` says png, jpg or webp. The web view cannot read SQLite,
so the window serves those tiles through its own URL scheme (``ui.tile_scheme``), and a tile
folder's too: the map page is not a file:// page, and web engines do not let such a page load
file:// images. This module reads both and knows nothing of Qt.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from sciceapp.errors import SciceappError

TILE_SCHEME = "sciceapp-tiles"
MBTILES_URL = f"{TILE_SCHEME}://mbtiles/{{z}}/{{x}}/{{y}}"
CACHED_URL = f"{TILE_SCHEME}://online/{{z}}/{{x}}/{{y}}"  # online tiles through the cache
FOLDER_URL = f"{TILE_SCHEME}://folder/{{z}}/{{x}}/{{y}}"  # a tile folder, served by the app
SOURCES = ("online", "folder", "mbtiles", "none")  # the Settings dialog's choices, in order
FOLDER_PATTERN = "{z}/{x}/{y}.png"
MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def tile_url(
    source: str, *, url: str = "", folder: str = "", mbtiles: str = "", cached: bool = False
) -> str:
    """The ``{z}/{x}/{y}`` template the map page uses for ``source`` ("" for none); with
    ``cached`` (the window's pages), an online http(s) server is reached through the app's
    tile cache and a tile folder is served by the app; without it (an exported page, opened
    in a browser) a folder is addressed by its file:// URI."""
    if source not in SOURCES:
        raise ValueError(f"Unknown tile source {source!r}; choose one of {', '.join(SOURCES)}.")
    if source == "online":
        return CACHED_URL if cached and url.startswith(("http://", "https://")) else url
    if source == "folder":
        if not folder:
            return ""
        return FOLDER_URL if cached else f"{Path(folder).resolve().as_uri()}/{FOLDER_PATTERN}"
    if source == "mbtiles":
        return MBTILES_URL if mbtiles else ""
    return ""


class MBTiles:
    """Read-only access to one MBTiles file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            rows = self._db.execute("SELECT name, value FROM metadata").fetchall()
        except sqlite3.Error as exc:
            raise SciceappError(
                f"{self.path} is not a readable MBTiles file ({exc}); choose another in Settings."
            ) from exc
        self.metadata = {str(k): str(v) for k, v in rows}
        fmt = self.metadata.get("format", "png").lower()
        self.mime_type = MIME_TYPES.get(fmt, "image/png")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y`` (as web maps number them), or None where there is none."""
        if z < 0 or not (0 <= x < 2**z and 0 <= y < 2**z):
            return None
        row = self._db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, 2**z - 1 - y),  # TMS rows count from the south
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    def close(self) -> None:
        self._db.close()


class TileFolder:
    """Tiles stored as ``{z}/{x}/{y}.png`` (or .jpg, .jpeg, .webp) files under ``folder``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder)

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """The tile's bytes and MIME type, or None where the folder has none. Only integers
        make up the file name, so no request reaches outside the folder."""
        column = self.path / str(int(z)) / str(int(x))
        for ext, mime_type in MIME_TYPES.items():
            try:
                return (column / f"{int(y)}.{ext}").read_bytes(), mime_type
            except OSError:
                continue
        return None


def expand_template(template: str, z: int, x: int, y: int) -> str:
    """A Leaflet-style ``{z}/{x}/{y}`` template filled in (``{s}``: the first subdomain;
    ``{r}``: standard resolution)."""
    values = {"z": z, "x": x, "y": y, "s": "a", "r": ""}
    return re.sub(r"\{([zxysr])\}", lambda m: str(values[m.group(1)]), template)


def parse_tile_path(path: str) -> tuple[int, int, int] | None:
    """``/z/x/y`` (an optional extension on y) -> (z, x, y), or None if it is not that."""
    parts = path.strip("/").split("/")
    if len(parts) != 3:
        return None
    parts[2] = parts[2].split(".")[0]
    try:
        z, x, y = (int(p) for p in parts)
    except ValueError:
        return None
    return z, x, y
