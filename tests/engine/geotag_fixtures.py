"""Writable copies of the shared sample photos (never the originals) for the geotag tests."""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
from pathlib import Path

import exifread


def copy_sample(source: Path, folder: Path, name: str | None = None) -> Path:
    """A writable copy of ``source`` in ``folder`` (the originals are read-only and stay so)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    shutil.copyfile(source, target)
    target.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exifread_position(data: bytes) -> tuple[float, float, float | None]:
    """The GPS position exifread (not exiv2, which wrote it) finds in ``data``, signed."""
    found = exifread.process_file(io.BytesIO(data), details=False)

    def degrees(key: str) -> float:
        d, m, s = (float(v.num) / float(v.den) for v in found[f"GPS GPS{key}"].values)
        value = d + m / 60 + s / 3600
        return -value if str(found[f"GPS GPS{key}Ref"]) in ("S", "W") else value

    alt = None
    if "GPS GPSAltitude" in found:
        ratio = found["GPS GPSAltitude"].values[0]
        alt = float(ratio.num) / float(ratio.den)
        if found["GPS GPSAltitudeRef"].values[0] == 1:
            alt = -alt
    return degrees("Latitude"), degrees("Longitude"), alt


def exifread_text(data: bytes, key: str) -> str:
    found = exifread.process_file(io.BytesIO(data), details=False)
    values = found[key].values
    if isinstance(values, list) and values and isinstance(values[0], int):
        return bytes(values).decode("ascii", "replace")
    return str(values)
