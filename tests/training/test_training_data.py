"""GSV-Cities reader, augmentation and the place-balanced sampler."""

from __future__ import annotations

import collections

import pytest
import torch
from training_support import TRAIN_PLACES

from sciceapp.errors import DatasetError, ImageError
from sciceapp.training.gsv_cities import PlaceDataset, image_name, read_places
from sciceapp.training.sampler import PlaceBatchSampler, flatten_batch
from sciceapp.training.transforms import train_transform


def test_reader_finds_every_photo_and_drops_small_places(gsv_root):
    places = read_places(gsv_root)
    assert len(places) == TRAIN_PLACES  # the extra place with 3 photos is dropped
    for place in places:
        assert len(place.paths) == 4
        assert all(p.is_file() for p in place.paths)
    assert len({p.label for p in places}) == TRAIN_PLACES


def test_image_name_convention():
    row = dict(
        place_id="42",
        year="2017",
        month="3",
        northdeg="7",
        city_id="London",
        lat="51.5",
        lon="-0.12",
        panoid="abcDEF_-12",
    )
    assert image_name(row) == "London_0000042_2017_03_007_51.5_-0.12_abcDEF_-12.jpg"


def test_reader_explains_a_wrong_folder(tmp_path):
    with pytest.raises(DatasetError, match="Dataframes"):
        read_places(tmp_path)
    (tmp_path / "Dataframes").mkdir()
    (tmp_path / "Dataframes" / "X.csv").write_text("place_id,year\n1,2000\n")
    with pytest.raises(DatasetError, match="lacks the columns"):
        read_places(tmp_path)


def test_place_dataset_gives_four_augmented_images_of_one_place(gsv_root):
    places = read_places(gsv_root)
    dataset = PlaceDataset(places, train_transform(32), seed=1)
    images, labels = dataset[3]
    assert images.shape == (4, 3, 32, 32)
    assert labels.tolist() == [places[3].label] * 4
    # the same place in the same epoch is the same pixels, whatever ran before
    torch.rand(7)
    assert torch.equal(images, dataset[3][0])
    # RandAugment: another epoch, another draw
    dataset.set_epoch(1)
    assert not torch.equal(images, dataset[3][0])


def test_unreadable_photo_is_replaced_by_another_of_its_place(gsv_root, tmp_path, caplog):
    places = read_places(gsv_root)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    good = places[0].paths
    places[0].paths = [bad, *good]
    images, labels = PlaceDataset(places, train_transform(32))[0]
    assert images.shape == (4, 3, 32, 32) and len(labels) == 4
    assert "bad.jpg" in caplog.text
    places[0].paths = [bad, bad, *good[:2]]
    with pytest.raises(ImageError, match="fewer than 4 readable photos"):
        PlaceDataset(places, train_transform(32))[0]


def test_sampler_uses_every_place_once_per_epoch():
    sampler = PlaceBatchSampler(num_places=12, places_per_batch=4, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 3
        assert all(len(b) == len(set(b)) == 4 for b in batches)
        assert sorted(i for b in batches for i in b) == list(range(12))
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_sampler_resumes_mid_epoch():
    sampler = PlaceBatchSampler(num_places=20, places_per_batch=4, seed=0)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=3)
    assert list(sampler) == full[3:]
    assert len(sampler) == 2


def test_sampler_never_yields_a_single_place_batch():
    sampler = PlaceBatchSampler(num_places=9, places_per_batch=4)
    assert sorted(i for b in sampler for i in b) == list(range(9))
    assert [len(b) for b in sampler] == [4, 5]
    assert [len(b) for b in PlaceBatchSampler(10, 4)] == [4, 4, 2]
    assert [len(b) for b in PlaceBatchSampler(10, 4, drop_last=True)] == [4, 4]


def test_batches_hold_four_images_of_each_place(gsv_root):
    places = read_places(gsv_root)
    dataset = PlaceDataset(places, train_transform(16))
    sampler = PlaceBatchSampler(len(places), places_per_batch=5)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler)
    seen = []
    for images, labels in loader:
        images, labels = flatten_batch(images, labels)
        assert images.shape[0] == labels.shape[0]
        counts = collections.Counter(labels.tolist())
        assert set(counts.values()) == {4}
        seen.extend(counts)
    assert sorted(seen) == sorted(p.label for p in places)  # each place once


def test_images_are_read_upright_as_the_app_reads_them(tmp_path):
    from PIL import Image

    from sciceapp.training.gsv_cities import load_rgb

    # 40 x 20 stored, EXIF orientation 6 (rotate 90 degrees clockwise to display): 20 x 40.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(path, exif=exif)
    assert load_rgb(path).size == (20, 40)
