"""Truncated images are skipped with a reason, also when the decoder would fill the missing part
(a JPEG whose header promises more rows than its data holds decodes with a grey band)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from sciceapp.engine.images import load_for_model
from sciceapp.errors import ImageError

MEAN, STD = [0.5] * 3, [0.5] * 3


def _jpeg(height: int = 480, width: int = 640) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _lying_header(data: bytes, height: int) -> bytes:
    start = data.find(b"\xff\xc0")  # baseline SOF: length, precision, height, width
    edited = bytearray(data)
    struct.pack_into(">H", edited, start + 5, height)
    return bytes(edited)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # cut in half
        lambda d: d[: len(d) // 2] + b"\xff\xd9",  # cut, with an end marker put back
        lambda d: _lying_header(d, 960),  # the header promises twice the rows
    ],
    ids=["cut", "cut-with-end-marker", "header-lies"],
)
@pytest.mark.parametrize("image_size", [32, 224])
def test_truncated_jpegs_are_refused(damage, image_size):
    with pytest.raises(ImageError, match="truncated"):
        load_for_model(damage(_jpeg()), image_size, MEAN, STD)


def test_complete_jpegs_and_real_photos_are_accepted(exif_samples):
    assert load_for_model(_jpeg(), 224, MEAN, STD).shape == (3, 224, 224)
    photos = sorted((exif_samples / "gps").glob("*.jpg"))
    assert photos
    for photo in photos:
        load_for_model(photo, 224, MEAN, STD)
