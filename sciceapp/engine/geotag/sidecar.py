"""XMP sidecars: which file beside a photo holds its metadata, and the position in it.

Two naming conventions are in use, and the user chooses which one sciceapp writes:

| style | sidecar of ``IMG_1.jpg`` | used by |
|---|---|---|
| ``darktable`` | ``IMG_1.jpg.xmp`` (the full name plus ``.xmp``) | darktable, digiKam's default, Photini |
| ``digikam`` | ``IMG_1.xmp`` (the extension replaced) | digiKam's "compatible" option, Lightroom, RawTherapee |

When reading, a sidecar of either name counts; ``photo.jpg.xmp`` wins when both exist (it
cannot belong to another photo, while ``IMG_1.xmp`` is shared by ``IMG_1.jpg`` and ``IMG_1.cr2``).
A position found in a sidecar overrides the photo's own EXIF: it is the later correction.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from sciceapp.errors import GeotagError

log = logging.getLogger(__name__)

SIDECAR_STYLES = ("darktable", "digikam")
DEFAULT_SIDECAR_STYLE = "darktable"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # a metadata file; anything bigger is not one of ours


def sidecar_path(photo: str | os.PathLike[str], style: str = DEFAULT_SIDECAR_STYLE) -> Path:
    """Where the sidecar of ``photo`` is written in ``style`` (see the module docstring)."""
    photo = Path(photo)
    if style == "darktable":
        return photo.with_name(photo.name + ".xmp")
    if style == "digikam":
        return photo.with_suffix(".xmp")
    raise GeotagError(
        f"Unknown sidecar style {style!r}; choose one of {', '.join(SIDECAR_STYLES)}."
    )


def existing_sidecar(photo: str | os.PathLike[str]) -> Path | None:
    """The sidecar that belongs to ``photo`` if there is one (either naming convention)."""
    for style in SIDECAR_STYLES:
        path = sidecar_path(photo, style)
        if path != Path(photo) and path.is_file():
            return path
    return None


def with_sidecar_position(photo: str | os.PathLike[str], meta):  # type: ignore[no-untyped-def]
    """``meta`` (a ``PhotoMeta``) with the GPS of ``photo``'s sidecar, when one holds a position.

    Anything wrong with the sidecar (unreadable, huge, malformed) keeps the EXIF reading and is
    logged: a sidecar is optional.
    """
    sidecar = existing_sidecar(photo)
    if sidecar is None:
        return meta
    try:
        if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            return meta
        from sciceapp.engine.exif import GeoPoint
        from sciceapp.engine.geotag.tags import sidecar_position

        position = sidecar_position(sidecar.read_bytes(), str(sidecar))
    except (OSError, GeotagError) as exc:
        log.info("sidecar %s ignored: %s", sidecar, exc)
        return meta
    if position is None:
        return meta
    return dataclasses.replace(meta, gps=GeoPoint(*position), gps_reason=None)
