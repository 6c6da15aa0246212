"""The user's settings, declared once, persisted with QSettings.

Tests point QSettings at a temporary folder (``QSettings.setPath``) so they never touch the
real user's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings

from sciceapp.engine.defaults import DEFAULT_RADIUS_M, DEFAULT_TOP_K, OSM_TILE_URL
from sciceapp.engine.tiles import SOURCES as TILE_SOURCES

ORGANIZATION = "sciceapp"
APPLICATION = "sciceapp"
PROVIDERS = ("auto", "cuda", "tensorrt", "cpu")
GEOTAG_TARGETS = ("", "darktable", "digikam")  # into the photo, or a sidecar of that style
TOP_K_RANGE = (1, 100)
RADIUS_M_RANGE = (1.0, 100_000.0)


@dataclass
class AppSettings:
    """Everything the settings dialog edits. An empty ``data_dir`` means the default folder;
    an empty ``tile_url`` means offline (points on a plain background)."""

    data_dir: str = ""
    tile_url: str = OSM_TILE_URL
    top_k: int = DEFAULT_TOP_K
    radius_m: float = DEFAULT_RADIUS_M
    provider: str = "auto"
    model_path: str = ""
    last_collection: str = ""
    geotag_sidecar: str = ""  # where locations are written: "" the photo, else a sidecar style
    tile_source: str = "online"  # engine.tiles.SOURCES: online (tile_url), folder, mbtiles, none
    tile_folder: str = ""  # a folder of {z}/{x}/{y}.png tiles
    mbtiles_path: str = ""  # an MBTiles file

    def clamped(self) -> AppSettings:
        """The same settings with numbers pulled into their allowed ranges."""
        top_k = min(max(int(self.top_k), TOP_K_RANGE[0]), TOP_K_RANGE[1])
        radius_m = min(max(float(self.radius_m), RADIUS_M_RANGE[0]), RADIUS_M_RANGE[1])
        provider = self.provider if self.provider in PROVIDERS else "auto"
        source = self.tile_source if self.tile_source in TILE_SOURCES else "online"
        return AppSettings(
            self.data_dir,
            self.tile_url,
            top_k,
            radius_m,
            provider,
            self.model_path,
            self.last_collection,
            self.geotag_sidecar if self.geotag_sidecar in GEOTAG_TARGETS else "",
            source,
            self.tile_folder,
            self.mbtiles_path,
        )


def make_qsettings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def load_settings(store: QSettings | None = None) -> AppSettings:
    """Read the settings; values that are missing or of the wrong type fall back to defaults."""
    store = store or make_qsettings()
    defaults = AppSettings()
    values = {}
    for field in fields(AppSettings):
        default = getattr(defaults, field.name)
        raw = store.value(f"settings/{field.name}", default)
        try:
            values[field.name] = type(default)(raw)
        except (TypeError, ValueError):
            values[field.name] = default
    return AppSettings(**values).clamped()


def save_settings(settings: AppSettings, store: QSettings | None = None) -> None:
    store = store or make_qsettings()
    for field in fields(AppSettings):
        store.setValue(f"settings/{field.name}", getattr(settings, field.name))
    store.sync()
