"""Where and when a photo was taken, from its EXIF block (exifread; JPEG, TIFF, HEIC/HEIF).

GPS coordinates in EXIF are three unsigned rationals (degrees, minutes, seconds) plus a
hemisphere reference letter. Real files get this wrong in every possible way, so each rule
below either recovers a position or says why there is none (``PhotoMeta.gps_reason``):

- ``x/0`` components: ``0/0`` in minutes or seconds reads as 0 (writers use it for "unused"),
  any other zero denominator rejects the position;
- a missing N/S or E/W reference is accepted only when the value itself carries a sign;
- latitudes beyond 90, longitudes beyond 180, negative or >= 60 minutes/seconds, and exactly
  (0, 0) (what many receivers write before a fix) are rejected;
- ``GPSStatus`` "V" (measurement void) is rejected;
- altitude is kept only when it is sane (between ``MIN_ALTITUDE_M`` and ``MAX_ALTITUDE_M``);
  reference 1 means below sea level.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, BinaryIO

import exifread

from sciceapp.reading import open_regular

log = logging.getLogger(__name__)
# exifread warns for every file without EXIF ("PNG file does not have exif data."); we say why
# a photo has no position in its own words (PhotoMeta.gps_reason), once, where it is shown.
logging.getLogger("exifread").setLevel(logging.ERROR)
RATIONAL_BYTES = 8

MIN_ALTITUDE_M = -11_000.0  # deepest ocean trench
MAX_ALTITUDE_M = 50_000.0  # stratospheric balloons; above that the value is garbage
EXIF_DATE_FORMAT = "%Y:%m:%d %H:%M:%S"
MAX_EXIF_FILE_BYTES = 512 * 1024 * 1024  # images.MAX_FILE_BYTES (not imported: no Pillow here)


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float
    alt: float | None = None  # metres above sea level (negative below)


@dataclass(frozen=True)
class PhotoMeta:
    gps: GeoPoint | None
    gps_reason: str | None  # why ``gps`` is None; None when there is a position
    capture_time: str | None  # ISO 8601, with the UTC offset when the file records one


class GpsRejected(ValueError):
    """A GPS field is present but unusable; the message is the reason shown to the user."""


def read_photo_meta(source: str | os.PathLike[str] | bytes | BinaryIO) -> PhotoMeta:
    """GPS position (or why there is none) and capture time of a photo file or its bytes."""
    try:
        if isinstance(source, bytes | bytearray):
            tags = exifread.process_file(io.BytesIO(source), details=False)
        elif hasattr(source, "read"):
            tags = exifread.process_file(source, details=False)
        else:
            with open_regular(source, MAX_EXIF_FILE_BYTES) as handle:
                tags = exifread.process_file(handle, details=False)
    except OSError as exc:
        return PhotoMeta(None, f"cannot read the file: {exc.strerror or exc}", None)
    except Exception as exc:  # exifread raises anything on hostile input; metadata is optional
        log.debug("exifread failed", exc_info=True)
        return PhotoMeta(None, f"unreadable EXIF ({type(exc).__name__})", None)
    return meta_from_tags(tags)


def meta_from_tags(tags: dict[str, Any]) -> PhotoMeta:
    """Interpret exifread's tag dictionary (keys like ``"GPS GPSLatitude"``)."""
    capture_time = _capture_time(tags)
    if not tags:
        return PhotoMeta(None, "no EXIF metadata in the file", capture_time)
    try:
        gps = _gps(tags)
    except GpsRejected as exc:
        return PhotoMeta(None, str(exc), capture_time)
    return PhotoMeta(gps, None, capture_time)


def _values(tags: dict[str, Any], key: str) -> list[Any] | None:
    tag = tags.get(key)
    if tag is None:
        return None
    values = tag.values
    if isinstance(values, str | bytes):
        return [values]
    return list(values)


def _text(tags: dict[str, Any], key: str) -> str:
    values = _values(tags, key)
    if not values:
        return ""
    value = values[0]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").upper()


def _fraction(value: Any, what: str, allow_zero_over_zero: bool) -> Fraction:
    numerator = getattr(value, "_numerator", None)
    denominator = getattr(value, "_denominator", None)
    if denominator == 0:  # exifread keeps the raw parts of an x/0 ratio here
        if allow_zero_over_zero and numerator == 0:
            return Fraction(0)
        raise GpsRejected(f"GPS {what} has a zero denominator ({numerator}/0)")
    try:
        return Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise GpsRejected(f"GPS {what} is not a number ({value!r})") from exc


def _degrees(tags: dict[str, Any], axis: str) -> float:
    values = _values(tags, f"GPS GPS{axis}")
    if values is None:
        raise GpsRejected(f"no GPS {axis.lower()}")
    if len(values) not in (1, 2, 3):
        # exifread leaves out the values of very long tags; their byte length remains.
        count = len(values) or tags[f"GPS GPS{axis}"].field_length // RATIONAL_BYTES
        raise GpsRejected(f"GPS {axis.lower()} has {count} parts instead of 3")
    parts = [
        _fraction(value, f"{axis.lower()} {name}", allow_zero_over_zero=index > 0)
        for index, (value, name) in enumerate(
            zip(values, ("degrees", "minutes", "seconds"), strict=False)
        )
    ]
    for part, name in zip(parts[1:], ("minutes", "seconds"), strict=False):
        if not 0 <= part < 60:
            raise GpsRejected(f"GPS {axis.lower()} {name} out of range ({float(part):g})")
    sign = -1 if parts[0] < 0 else 1
    magnitude = abs(parts[0]) + sum(
        (part / scale for part, scale in zip(parts[1:], (60, 3600), strict=False)), Fraction(0)
    )
    limit, positive, negative = (90, "N", "S") if axis == "Latitude" else (180, "E", "W")
    ref = _text(tags, f"GPS GPS{axis}Ref")[:1]
    if ref == negative:
        sign = -1
    elif ref == positive:
        sign = 1
    elif sign > 0:
        raise GpsRejected(
            f"GPS {axis.lower()} has no {positive}/{negative} reference, so its hemisphere is unknown"
        )
    value = sign * float(magnitude)
    if abs(value) > limit:
        raise GpsRejected(f"GPS {axis.lower()} {value:g} is outside +-{limit} degrees")
    return value


def _altitude(tags: dict[str, Any]) -> float | None:
    values = _values(tags, "GPS GPSAltitude")
    if not values:
        return None
    try:
        altitude = float(_fraction(values[0], "altitude", allow_zero_over_zero=False))
    except GpsRejected as exc:
        log.debug("altitude dropped: %s", exc)
        return None
    ref = _values(tags, "GPS GPSAltitudeRef")
    below = bool(ref) and ref[0] in (1, b"\x01", "1")
    if below:
        altitude = -altitude
    if not MIN_ALTITUDE_M <= altitude <= MAX_ALTITUDE_M:
        log.debug("altitude %s m dropped as implausible", altitude)
        return None
    return altitude


def _gps(tags: dict[str, Any]) -> GeoPoint:
    if not any(key.startswith("GPS GPSLat") or key.startswith("GPS GPSLon") for key in tags):
        raise GpsRejected("no GPS position in EXIF")
    if _text(tags, "GPS GPSStatus") == "V":
        raise GpsRejected("the GPS receiver marked its measurement void (GPSStatus V)")
    lat = _degrees(tags, "Latitude")
    lon = _degrees(tags, "Longitude")
    if lat == 0 and lon == 0:
        raise GpsRejected("GPS position is exactly 0, 0 (written before the receiver had a fix)")
    return GeoPoint(lat, lon, _altitude(tags))


def _capture_time(tags: dict[str, Any]) -> str | None:
    for key, offset_key in (
        ("EXIF DateTimeOriginal", "EXIF OffsetTimeOriginal"),
        ("EXIF DateTimeDigitized", "EXIF OffsetTimeDigitized"),
        ("Image DateTime", "EXIF OffsetTime"),
    ):
        values = _values(tags, key)
        if not values:
            continue
        text = str(values[0]).strip("\x00 ")
        try:
            stamp = datetime.strptime(text, EXIF_DATE_FORMAT)
        except ValueError:
            continue  # "0000:00:00 00:00:00" and other placeholders
        iso = stamp.isoformat()
        offset_values = _values(tags, offset_key)
        offset = str(offset_values[0]).strip("\x00 ") if offset_values else ""
        if len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
            iso += offset
        return iso
    return None
