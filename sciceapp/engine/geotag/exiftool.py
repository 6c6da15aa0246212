"""GPS tags for the formats exiv2 reads but cannot write (HEIC/HEIF, AVIF, CR3), with ExifTool.

exiv2 reads ISO BMFF files (HEIC, HEIF, AVIF, Canon CR3) but does not write them. ExifTool
(Phil Harvey's Perl program, the ``exiftool`` command; Debian and Ubuntu package it as
``libimage-exiftool-perl``, Homebrew as ``exiftool``) writes their EXIF in place, leaving the
image data as it is. sciceapp uses it for those formats only, and only when it is installed:
it is a separate program, not a Python dependency, so without it those photos get a clear
message and an XMP sidecar is the way to tag them.

Like ``tags.write_in_file`` this works on bytes: the photo's bytes are copied into a private
temporary folder, ExifTool edits that copy, and the edited bytes are returned; ``writer.py``
then journals, backs up and replaces the photo exactly as it does for exiv2's output (so undo
gives the original bytes back). The same fields are written as with exiv2 (``tags.py``);
ExifTool is run with ``-config ""`` (no user configuration file changes what it writes) and
arguments as a list (no shell).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sciceapp.engine.geotag.tags import MAP_DATUM, MAX_SOURCE_CHARS, STALE_EXIF, GeoTag
from sciceapp.errors import GeotagError

TIMEOUT_S = 120
INSTALL_HINT = (
    "install ExifTool (the `exiftool` command; Debian/Ubuntu: apt install "
    "libimage-exiftool-perl) to write into these files"
)


def exiftool() -> str | None:
    """The ``exiftool`` command on the PATH, or None."""
    return shutil.which("exiftool")


def arguments(tag: GeoTag, xmp_too: bool) -> list[str]:
    """ExifTool assignments (numeric, ``-n``) for ``tag``: the fields ``tags.exif_values``
    writes, the stale ones of the old fix removed; the XMP ``exif:`` ones too when the file's
    XMP already holds a position (so the two never disagree)."""
    source = tag.source.encode("ascii", "replace").decode("ascii")[:MAX_SOURCE_CHARS]
    values = {
        "GPSVersionID": "2 3 0 0",
        "GPSLatitude": repr(abs(tag.lat)),
        "GPSLatitudeRef": "N" if tag.lat >= 0 else "S",
        "GPSLongitude": repr(abs(tag.lon)),
        "GPSLongitudeRef": "E" if tag.lon >= 0 else "W",
        "GPSMapDatum": MAP_DATUM,
        "GPSProcessingMethod": source,
    }
    if tag.alt is not None:
        values["GPSAltitude"] = repr(abs(tag.alt))
        values["GPSAltitudeRef"] = "1" if tag.alt < 0 else "0"
    args = [f"-GPS:{name}=" for name in STALE_EXIF if name not in values]
    args += [f"-GPS:{name}={value}" for name, value in values.items()]
    if xmp_too:
        args += [f"-XMP-exif:{name}=" for name in STALE_EXIF if name not in values]
        args += [f"-XMP-exif:GPSLatitude={tag.lat!r}", f"-XMP-exif:GPSLongitude={tag.lon!r}"]
        args += [f"-XMP-exif:GPSMapDatum={MAP_DATUM}", f"-XMP-exif:GPSProcessingMethod={source}"]
        if tag.alt is not None:
            args += [f"-XMP-exif:GPSAltitude={abs(tag.alt)!r}"]
            args += [f"-XMP-exif:GPSAltitudeRef={'1' if tag.alt < 0 else '0'}"]
    return args


def write_in_file(data: bytes, tag: GeoTag, suffix: str, what: str, xmp_too: bool) -> bytes:
    """``data`` (a whole HEIC/HEIF/AVIF/CR3 file) with ``tag`` written into its EXIF by
    ExifTool. ``GeotagError`` when ExifTool is missing or refuses the file."""
    command = exiftool()
    if command is None:
        raise GeotagError(
            f"{what}: exiv2 reads but cannot write {suffix.upper().lstrip('.')} files and "
            f"ExifTool is not installed, so the photo was not changed. Write an XMP sidecar "
            f"instead (--sidecar, or choose a sidecar in the window), or {INSTALL_HINT}."
        )
    with tempfile.TemporaryDirectory(prefix="sciceapp-exiftool-") as folder:
        copy = Path(folder) / f"photo{suffix.lower()}"
        copy.write_bytes(data)
        run = [command, "-config", "", "-q", "-n", "-overwrite_original"]
        try:
            done = subprocess.run(
                [*run, *arguments(tag, xmp_too), str(copy)],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GeotagError(f"{what}: ExifTool could not be run ({exc}).") from exc
        reason = (done.stderr or done.stdout).strip().splitlines()
        if done.returncode != 0 or any(line.startswith("Error") for line in reason):
            shown = reason[0][:300] if reason else f"exit status {done.returncode}"
            raise GeotagError(
                f"{what}: ExifTool cannot write this file's metadata ({shown}); write an XMP "
                "sidecar instead."
            )
        return copy.read_bytes()
