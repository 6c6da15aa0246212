"""GPS tags in bytes: what a position looks like in EXIF and XMP, written with exiv2.

exiv2 (python-exiv2, the binding Photini uses) edits the metadata of JPEG, TIFF, PNG, WebP and
the TIFF-based raw formats (DNG, CR2, NEF, ARW, ORF, RW2, PEF, SRW) in place, leaving the image
data as it is. It reads HEIC/HEIF/AVIF/CR3 (ISO BMFF) but cannot write them: those go to
ExifTool when it is installed (``exiftool.py``), else they can only get an XMP sidecar
(``sidecar.py``). Every function here works on bytes in memory: the caller
decides where the bytes go (``writer.py`` writes them atomically, after journalling).

What a position is written as
- EXIF: ``GPSVersionID`` 2.3.0.0, ``GPSLatitude``/``GPSLongitude`` as degrees, minutes and
  seconds (seconds to 1/10000, about 3 mm) with their ``N``/``S`` and ``E``/``W`` references,
  ``GPSAltitude`` with ``GPSAltitudeRef`` (0 above, 1 below sea level) or none,
  ``GPSMapDatum`` ``WGS-84``, and the source in ``GPSProcessingMethod`` (EXIF's field for
  "the name of the method used for location finding").
- XMP (sidecars, and a photo's own XMP packet when it already holds a GPS position, so the two
  never disagree): the same fields in the ``exif:`` namespace, coordinates as ``DD,MM.mmmmmmK``.
- Fields that describe the *old* fix (status, measure mode, DOP, positioning error) are
  removed with it: a stale ``GPSStatus`` V would otherwise void the new position.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from sciceapp.errors import GeotagError

log = logging.getLogger(__name__)

MAP_DATUM = "WGS-84"
GPS_VERSION_EXIF = "2 3 0 0"
GPS_VERSION_XMP = "2.3.0.0"
SECONDS_DENOMINATOR = 10_000
ALTITUDE_DENOMINATOR = 100
MAX_SOURCE_CHARS = 200
IN_PLACE_UNSUPPORTED = frozenset({".heic", ".heif", ".hif", ".avif", ".cr3"})
"""Formats exiv2 reads but cannot write (ISO BMFF): written by ExifTool when it is installed,
else only a sidecar can carry their position."""

# Removed from the GPS group whenever a new position is written (they describe the old fix).
STALE_EXIF = (
    "GPSLatitude", "GPSLatitudeRef", "GPSLongitude", "GPSLongitudeRef", "GPSAltitude",
    "GPSAltitudeRef", "GPSStatus", "GPSMeasureMode", "GPSDOP", "GPSHPositioningError",
    "GPSMapDatum", "GPSProcessingMethod",
)  # fmt: skip
XMP_POSITION_KEYS = ("Xmp.exif.GPSLatitude", "Xmp.exif.GPSLongitude")


@dataclass(frozen=True)
class GeoTag:
    """A position to write: degrees (WGS-84), metres above sea level, and where it came from."""

    lat: float
    lon: float
    alt: float | None = None
    source: str = "sciceapp"

    def __post_init__(self) -> None:
        for name, value, limit in (("latitude", self.lat, 90), ("longitude", self.lon, 180)):
            if not (
                isinstance(value, int | float) and math.isfinite(value) and -limit <= value <= limit
            ):
                raise GeotagError(
                    f"The {name} {value!r} is not a number between -{limit} and {limit}."
                )
        if self.alt is not None and not (math.isfinite(self.alt) and -11_000 <= self.alt <= 50_000):
            raise GeotagError(f"The altitude {self.alt!r} m is not between -11000 and 50000 m.")

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "alt": self.alt, "source": self.source}


def _exiv2() -> Any:
    import exiv2

    # exiv2 prints its warnings to stderr; its errors reach us as Exiv2Error anyway.
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
    return exiv2


def dms_rationals(value: float) -> str:
    """``43.4681`` -> ``"43/1 28/1 51160/10000"`` (degrees, minutes, seconds of ``|value|``)."""
    total = round(abs(value) * 3600 * SECONDS_DENOMINATOR)  # in 1/10000 s, so no 60 s carry
    degrees, rest = divmod(total, 3600 * SECONDS_DENOMINATOR)
    minutes, seconds = divmod(rest, 60 * SECONDS_DENOMINATOR)
    return f"{degrees}/1 {minutes}/1 {seconds}/{SECONDS_DENOMINATOR}"


def xmp_coordinate(value: float, positive: str, negative: str) -> str:
    """``43.4681, "N", "S"`` -> ``"43,28.086000N"`` (XMP's GPSCoordinate form)."""
    total = round(abs(value) * 60 * 1_000_000)  # micro-minutes
    degrees, micro = divmod(total, 60 * 1_000_000)
    return f"{degrees},{micro / 1_000_000:.6f}{positive if value >= 0 else negative}"


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")[:MAX_SOURCE_CHARS]


def exif_values(tag: GeoTag) -> dict[str, str]:
    """The EXIF GPS entries (exiv2 keys -> exiv2 value strings) for ``tag``."""
    values = {
        "Exif.GPSInfo.GPSVersionID": GPS_VERSION_EXIF,
        "Exif.GPSInfo.GPSLatitudeRef": "N" if tag.lat >= 0 else "S",
        "Exif.GPSInfo.GPSLatitude": dms_rationals(tag.lat),
        "Exif.GPSInfo.GPSLongitudeRef": "E" if tag.lon >= 0 else "W",
        "Exif.GPSInfo.GPSLongitude": dms_rationals(tag.lon),
        "Exif.GPSInfo.GPSMapDatum": MAP_DATUM,
        "Exif.GPSInfo.GPSProcessingMethod": f"charset=Ascii {_ascii(tag.source)}",
    }
    if tag.alt is not None:
        values["Exif.GPSInfo.GPSAltitudeRef"] = "1" if tag.alt < 0 else "0"
        values["Exif.GPSInfo.GPSAltitude"] = (
            f"{round(abs(tag.alt) * ALTITUDE_DENOMINATOR)}/{ALTITUDE_DENOMINATOR}"
        )
    return values


def xmp_values(tag: GeoTag) -> dict[str, str]:
    """The XMP ``exif:`` GPS properties for ``tag``."""
    values = {
        "Xmp.exif.GPSVersionID": GPS_VERSION_XMP,
        "Xmp.exif.GPSLatitude": xmp_coordinate(tag.lat, "N", "S"),
        "Xmp.exif.GPSLongitude": xmp_coordinate(tag.lon, "E", "W"),
        "Xmp.exif.GPSMapDatum": MAP_DATUM,
        "Xmp.exif.GPSProcessingMethod": tag.source[:MAX_SOURCE_CHARS],
    }
    if tag.alt is not None:
        values["Xmp.exif.GPSAltitudeRef"] = "1" if tag.alt < 0 else "0"
        values["Xmp.exif.GPSAltitude"] = (
            f"{round(abs(tag.alt) * ALTITUDE_DENOMINATOR)}/{ALTITUDE_DENOMINATOR}"
        )
    return values


def _open(data: bytes, what: str) -> Any:
    exiv2 = _exiv2()
    try:
        image = exiv2.ImageFactory.open(data)
        image.readMetadata()
    except exiv2.Exiv2Error as exc:
        raise GeotagError(f"{what}: its metadata cannot be read ({exc.args[-1]}).") from exc
    return image


def _image_bytes(image: Any) -> bytes:
    return bytes(image.io().data())


def _drop(data: Any, keys: list[str]) -> None:
    for key in keys:
        while key in data:
            del data[key]


def gps_tags(data: bytes | None, what: str = "the file") -> dict[str, str]:
    """Every GPS entry (EXIF ``GPSInfo`` and XMP ``exif:GPS*``) in ``data``, as text; {} for none."""
    if data is None:
        return {}
    image = _open(data, what)
    found: dict[str, str] = {}
    for datum in image.exifData():
        if datum.key().startswith("Exif.GPSInfo."):
            found[datum.key()] = datum.toString()
    for datum in image.xmpData():
        if datum.key().startswith("Xmp.exif.GPS"):
            found[datum.key()] = datum.toString()
    return found


def write_in_file(data: bytes, tag: GeoTag, what: str = "the file", suffix: str = "") -> bytes:
    """``data`` (a whole photo file) with ``tag`` written into its EXIF (and XMP if it has GPS).
    ``suffix``: the file's extension; the formats exiv2 cannot write (``IN_PLACE_UNSUPPORTED``)
    go to ExifTool (``exiftool.py``), or fail with the reason when it is not installed."""
    if suffix.lower() in IN_PLACE_UNSUPPORTED:
        from sciceapp.engine.geotag import exiftool

        xmp_too = any(key in gps_tags(data, what) for key in XMP_POSITION_KEYS)
        return exiftool.write_in_file(data, tag, suffix, what, xmp_too)
    exiv2 = _exiv2()
    image = _open(data, what)
    exif = image.exifData()
    _drop(exif, [f"Exif.GPSInfo.{name}" for name in STALE_EXIF])
    for key, value in exif_values(tag).items():
        exif[key] = value
    xmp = image.xmpData()
    if any(key in xmp for key in XMP_POSITION_KEYS):
        _drop(xmp, [f"Xmp.exif.{name}" for name in STALE_EXIF])
        for key, value in xmp_values(tag).items():
            xmp[key] = value
    try:
        image.writeMetadata()
    except exiv2.Exiv2Error as exc:
        raise GeotagError(
            f"{what}: exiv2 cannot write this file's metadata ({exc.args[-1]}); write an XMP "
            "sidecar instead."
        ) from exc
    return _image_bytes(image)


def write_sidecar(existing: bytes | None, tag: GeoTag, what: str = "the sidecar") -> bytes:
    """An XMP sidecar holding ``tag``: ``existing`` updated (its other properties kept), or new."""
    exiv2 = _exiv2()
    image = exiv2.ImageFactory.create(exiv2.ImageType.xmp) if existing is None else None
    if image is None:
        image = _open(existing, what)
        if image.imageType() != exiv2.ImageType.xmp:
            raise GeotagError(f"{what} exists but is not an XMP sidecar; move it away first.")
    xmp = image.xmpData()
    _drop(xmp, [f"Xmp.exif.{name}" for name in STALE_EXIF])
    for key, value in xmp_values(tag).items():
        xmp[key] = value
    image.writeMetadata()
    return _image_bytes(image)


def metadata_block(data: bytes, what: str = "the file") -> bytes:
    """All of ``data``'s EXIF, XMP and IPTC, as an exiv2 ``.exv`` file (a metadata-only container)."""
    exiv2 = _exiv2()
    image = _open(data, what)
    block = exiv2.ImageFactory.create(exiv2.ImageType.exv)
    block.setExifData(image.exifData())
    block.setXmpData(image.xmpData())
    block.setIptcData(image.iptcData())
    block.writeMetadata()
    return _image_bytes(block)


def restore_metadata(data: bytes, block: bytes, what: str = "the file") -> bytes:
    """``data`` with its EXIF, XMP and IPTC replaced by those saved in ``block``."""
    exiv2 = _exiv2()
    saved = _open(block, "the metadata backup")
    image = _open(data, what)
    image.setExifData(saved.exifData())
    image.setXmpData(saved.xmpData())
    image.setIptcData(saved.iptcData())
    try:
        image.writeMetadata()
    except exiv2.Exiv2Error as exc:
        raise GeotagError(f"{what}: its metadata cannot be restored ({exc.args[-1]}).") from exc
    return _image_bytes(image)


def sidecar_position(
    data: bytes, what: str = "the sidecar"
) -> tuple[float, float, float | None] | None:
    """The position an XMP sidecar holds (lat, lon, alt or None), or None when it holds none."""
    image = _open(data, what)
    xmp = image.xmpData()
    if not all(key in xmp for key in XMP_POSITION_KEYS):
        return None
    lat = _parse_xmp_coordinate(xmp["Xmp.exif.GPSLatitude"].toString(), "N", "S")
    lon = _parse_xmp_coordinate(xmp["Xmp.exif.GPSLongitude"].toString(), "E", "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    alt = None
    if "Xmp.exif.GPSAltitude" in xmp:
        try:
            num, _, den = xmp["Xmp.exif.GPSAltitude"].toString().partition("/")
            alt = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            alt = None
        below = (
            "Xmp.exif.GPSAltitudeRef" in xmp and xmp["Xmp.exif.GPSAltitudeRef"].toString() == "1"
        )
        if alt is not None and below:
            alt = -alt
    return lat, lon, alt


def _parse_xmp_coordinate(text: str, positive: str, negative: str) -> float | None:
    """``"43,28.086N"`` or ``"43,28,5.16N"`` -> signed degrees; None when malformed."""
    text = text.strip()
    if len(text) < 2 or text[-1].upper() not in (positive, negative):
        return None
    try:
        parts = [float(p) for p in text[:-1].split(",")]
    except ValueError:
        return None
    if len(parts) not in (2, 3) or any(p < 0 for p in parts):
        return None
    value = parts[0] + parts[1] / 60 + (parts[2] / 3600 if len(parts) == 3 else 0)
    return -value if text[-1].upper() == negative else value
