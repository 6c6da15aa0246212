"""Tiny synthetic place-recognition datasets, built at test time in both layouts.

Every place is its own random scene (coloured rectangles and ellipses on a coloured
background); each photo of a place is a different crop of the scene, slightly rotated and
colour-shifted, so telling places apart takes what a VPR network needs: recognising the same
content under viewpoint and colour change.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance

SCENE_PX = 192
PHOTO_PX = 96
PLACE_SPACING_M = 100.0
UTM_ORIGIN_M = (500_000.0, 4_000_000.0)


# every scene uses the same few colours, so places differ by layout more than by colour
PALETTE = ((200, 60, 50), (60, 160, 70), (50, 80, 190), (220, 200, 60), (240, 240, 240))
BACKGROUND = (110, 110, 110)


def scene(seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (SCENE_PX, SCENE_PX), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(SCENE_PX - 30), rng.randrange(SCENE_PX - 30)
        x1, y1 = x0 + rng.randrange(15, 70), y0 + rng.randrange(15, 70)
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape((x0, y0, x1, y1), fill=rng.choice(PALETTE))
    return image


def view(scene_image: Image.Image, seed: int) -> Image.Image:
    """Another photo of the same scene: crop, small rotation, colour shift."""
    rng = random.Random(seed)
    side = int(SCENE_PX * rng.uniform(0.65, 0.8))
    x, y = rng.randrange(SCENE_PX - side), rng.randrange(SCENE_PX - side)
    image = scene_image.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    image = image.crop((x, y, x + side, y + side)).resize((PHOTO_PX, PHOTO_PX))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))


def gsv_name(city: str, place_id: int, year: int, month: int, northdeg: int, lat, lon, panoid):
    # written out independently of sciceapp.training.gsv_cities.image_name on purpose
    return f"{city}_{place_id:07d}_{year}_{month:02d}_{northdeg:03d}_{lat}_{lon}_{panoid}.jpg"


def make_gsv_cities(
    root: Path, places: int, images_per_place: int = 4, seed: int = 0, extra_small_place=True
) -> Path:
    """``root/Dataframes/Synthville.csv`` and ``root/Images/Synthville/*.jpg``.

    With ``extra_small_place`` one more place has only 3 photos (the reader must drop it).
    """
    city = "Synthville"
    (root / "Dataframes").mkdir(parents=True)
    (root / "Images" / city).mkdir(parents=True)
    rows = []
    counts = [images_per_place] * places + ([3] if extra_small_place else [])
    for place_id, count in enumerate(counts):
        scene_image = scene(seed * 10_000 + place_id)
        lat, lon = 45.0 + place_id * 0.001, 7.25 + place_id * 0.001
        for k in range(count):
            row = dict(
                place_id=place_id,
                year=2015 + k,
                month=k + 1,
                northdeg=k * 90,
                city_id=city,
                lat=lat,
                lon=lon,
                panoid=f"pano{place_id}x{k}",
            )
            rows.append(row)
            name = gsv_name(
                city, place_id, row["year"], row["month"], row["northdeg"], lat, lon, row["panoid"]
            )
            view(scene_image, seed * 10_000 + place_id * 100 + k).save(
                root / "Images" / city / name
            )
    with (root / "Dataframes" / f"{city}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def vpr_name(east_m: float, north_m: float) -> str:
    return f"@{east_m:.2f}@{north_m:.2f}@32@T@45.0@7.0@@@@@.jpg"


def make_vpr_split(
    root: Path, dataset: str, split: str, places: range, seed: int = 0, database_per_place: int = 2
) -> Path:
    """``root/dataset/images/split/{database,queries}``: places 100 m apart, photos within 6 m."""
    base = root / dataset / "images" / split
    for folder in ("database", "queries"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    for place in places:
        scene_image = scene(seed * 10_000 + place)
        east, north = UTM_ORIGIN_M[0] + place * PLACE_SPACING_M, UTM_ORIGIN_M[1]
        for k in range(database_per_place + 1):
            rng = random.Random(place * 1000 + k)
            folder = "queries" if k == database_per_place else "database"
            name = vpr_name(east + rng.uniform(-4, 4), north + rng.uniform(-4, 4))
            view(scene_image, seed * 10_000 + place * 100 + 50 + k).save(base / folder / name)
    return root
