"""GSV-Cities reader: places with at least 4 photos, 4 photos drawn per place.

Published layout (Ali-bey et al., "GSV-Cities", Neurocomputing 2022)::

    <root>/Dataframes/<City>.csv   columns place_id, year, month, northdeg, city_id, lat, lon, panoid
    <root>/Images/<City>/<file>.jpg

Assumption about the file names (the authors' loader builds them the same way; all of it
lives in :func:`image_name`, so a different release only needs that function changed):
``<city_id>_<place_id:07d>_<year:04d>_<month:02d>_<northdeg:03d>_<lat>_<lon>_<panoid>.jpg``,
where lat and lon are written as Python prints the parsed float.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps

from sciceapp.errors import DatasetError, ImageError

log = logging.getLogger(__name__)

IMAGES_PER_PLACE = 4
COLUMNS = ("place_id", "year", "month", "northdeg", "city_id", "lat", "lon", "panoid")
# place ids restart at 0 in every city; offsetting by city keeps them unique across cities
CITY_ID_STRIDE = 10**5


def image_name(row: dict[str, str]) -> str:
    """The photo's file name for one CSV row (see the module docstring)."""
    return (
        f"{row['city_id']}_{int(row['place_id']):07d}_{int(row['year']):04d}_"
        f"{int(row['month']):02d}_{int(row['northdeg']):03d}_{float(row['lat'])}_"
        f"{float(row['lon'])}_{row['panoid']}.jpg"
    )


@dataclass
class Place:
    label: int
    paths: list[Path]


def read_places(root: Path, cities: list[str] | None = None, min_images: int = 4) -> list[Place]:
    """All places of the chosen cities (all by default) that have ``min_images`` photos or more."""
    frames = Path(root) / "Dataframes"
    if not frames.is_dir():
        raise DatasetError(
            f"{root} is not a GSV-Cities folder: it has no Dataframes/ folder of per-city CSVs."
        )
    csv_paths = sorted(frames.glob("*.csv"))
    if cities:
        csv_paths = [frames / f"{c}.csv" for c in cities]
    places: list[Place] = []
    for city_index, csv_path in enumerate(csv_paths):
        if not csv_path.is_file():
            raise DatasetError(f"{csv_path} is missing; check the --cities names.")
        by_place: dict[int, list[Path]] = {}
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(f"{csv_path} lacks the columns {sorted(missing)}.")
            for row in reader:
                label = city_index * CITY_ID_STRIDE + int(row["place_id"])
                path = Path(root) / "Images" / row["city_id"] / image_name(row)
                by_place.setdefault(label, []).append(path)
        kept = [
            Place(label, paths) for label, paths in by_place.items() if len(paths) >= min_images
        ]
        log.info(
            "%s: %d places, %d with >= %d images",
            csv_path.stem,
            len(by_place),
            len(kept),
            min_images,
        )
        places.extend(kept)
    if not places:
        raise DatasetError(f"{root} holds no place with at least {min_images} images.")
    return places


def load_rgb(path: Path) -> Image.Image:
    """An RGB PIL image, upright as its EXIF orientation says (as the app's own loader does,
    so a checkpoint and its ONNX export see the same pixels), or ImageError naming the file."""
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"Cannot read {path}: {exc}. Remove or replace the file.") from exc


class PlaceDataset(torch.utils.data.Dataset):
    """Item ``i`` is place ``i``: ``(images [4, 3, S, S], labels [4])``.

    Which 4 photos are drawn, and how each is augmented, depends only on (seed, epoch,
    place), so a run can be repeated and a resumed run sees the same batches as the
    interrupted one would have, in the main process or in loader workers alike.
    """

    def __init__(
        self,
        places: list[Place],
        transform: Callable[[Image.Image], torch.Tensor],
        images_per_place: int = IMAGES_PER_PLACE,
        seed: int = 0,
    ) -> None:
        self.places = places
        self.transform = transform
        self.images_per_place = images_per_place
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.places)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        place = self.places[index]
        rng = random.Random(hash((self.seed, self.epoch, index)))
        images: list[torch.Tensor] = []
        # a photo that cannot be read is replaced by another of the same place, so one bad
        # file does not stop a run of many hours
        for path in rng.sample(place.paths, len(place.paths)):
            try:
                image = load_rgb(path)
                # The augmentations draw from torch's global generator: give them a seed of
                # this photo's own, and leave the global stream as it was.
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(rng.getrandbits(63))
                    images.append(self.transform(image))
            except ImageError as exc:
                log.warning("%s Using another photo of place %d instead.", exc, place.label)
            if len(images) == self.images_per_place:
                break
        else:
            raise ImageError(
                f"Place {place.label} has fewer than {self.images_per_place} readable photos "
                f"({place.paths[0].parent}); replace the broken files or remove its CSV rows."
            )
        return torch.stack(images), torch.full((len(images),), place.label, dtype=torch.long)
