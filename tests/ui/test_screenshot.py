"""`sciceapp gui --screenshot`: a real picture of the window after running a query."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageStat

from sciceapp.engine.exif import read_photo_meta
from sciceapp.engine.geo import haversine_m
from sciceapp.engine.library import Library

TIMEOUT_S = 240


def _gui(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sciceapp", "gui", "--data-dir", str(data_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_screenshot_of_a_query_is_a_real_picture(
    gps_collection: str, data_dir: Path, exif_samples: Path, tmp_path: Path
):
    out = tmp_path / "shot.png"
    query = exif_samples / "gps" / "DSCN0029.jpg"
    done = _gui(
        data_dir, "--collection", gps_collection, "--query", str(query), "--screenshot", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    image = Image.open(out).convert("RGB")
    assert image.size == (1440, 900)
    stats = ImageStat.Stat(image)
    assert min(stats.var) > 500  # not a blank or single-colour window
    colours = image.getcolors(maxcolors=1_000_000)
    assert (
        colours is not None and len(colours) > 1000
    )  # thumbnails and a drawn map, not just widgets
    # The map area (right of the splitter) holds the drawn page, not an empty view.
    map_part = image.crop((700, 100, 1400, 500))
    assert max(ImageStat.Stat(map_part).var) > 100


def test_screenshot_of_a_located_query_shows_its_neighbourhood_not_the_world(
    model_in_data_dir: Path, data_dir: Path, exif_samples: Path, tmp_path: Path
):
    """With a far outlier in the collection (the Kansas HEIC), a view fitted to every photo
    would span the Atlantic; the located query's view is its own neighbourhood."""
    Library(data_dir).create_collection("far", model_in_data_dir).add(
        [exif_samples / "gps", exif_samples / "phones" / "IMG_5195.HEIC"]
    )
    query = exif_samples / "gps" / "DSCN0029.jpg"
    out = tmp_path / "shot.png"
    done = _gui(data_dir, "--collection", "far", "--query", str(query), "--screenshot", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(
        r"Map view: zoom (\d+), latitude (\S+) to (\S+), longitude (\S+) to (\S+)", done.stdout
    )
    assert found, done.stdout
    zoom = int(found.group(1))
    south, north, west, east = (float(found.group(i)) for i in range(2, 6))
    gps = read_photo_meta(query).gps
    assert zoom >= 12
    assert south <= gps.lat <= north and west <= gps.lon <= east  # the query is in view
    assert haversine_m(south, west, north, east) < 20_000  # a neighbourhood, not the world
    assert Image.open(out).size == (1440, 900)


def test_screenshot_run_fails_for_an_unknown_collection(
    gps_collection: str, data_dir: Path, tmp_path: Path
):
    out = tmp_path / "shot.png"
    done = _gui(data_dir, "--collection", "no-such-collection", "--screenshot", str(out))
    assert done.returncode == 1
    assert "no-such-collection" in done.stderr
