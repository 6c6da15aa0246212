"""Decoding for the model: orientation, HEIC, draft mode, normalisation, and every bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from sciceapp.engine import images
from sciceapp.engine.images import load_for_model, load_thumbnail
from sciceapp.errors import ImageError

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
TRANSPOSES = [
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.ROTATE_180,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_90,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_270,
]


def _signature(image: Image.Image) -> np.ndarray:
    small = np.asarray(image.convert("L").resize((24, 24), Image.Resampling.BILINEAR), float)
    return (small - small.mean()) / (small.std() + 1e-9)


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
def test_every_exif_orientation_comes_out_upright(exif_samples: Path, shape: str):
    reference = load_thumbnail(exif_samples / "orientation" / f"{shape}_1.jpg", 128)
    ref_sig = _signature(reference)
    for k in range(2, 9):
        upright = load_thumbnail(exif_samples / "orientation" / f"{shape}_{k}.jpg", 128)
        assert upright.size == reference.size, k
        # Upright must match the reference better than any other flip/rotation of itself.
        scores = []
        for transpose in TRANSPOSES:
            candidate = upright if transpose is None else upright.transpose(transpose)
            if candidate.size != reference.size:
                scores.append(-1.0)
                continue
            scores.append(float((_signature(candidate) * ref_sig).mean()))
        assert int(np.argmax(scores)) == 0, (k, scores)
        assert scores[0] > 0.8, (k, scores)


def test_model_input_is_normalised_whole_image(tmp_path: Path):
    pixels = np.zeros((60, 90, 3), np.uint8)
    pixels[:, :45] = (255, 0, 0)  # left half red, right half black
    path = tmp_path / "half.png"
    Image.fromarray(pixels).save(path)
    tensor = load_for_model(path, 32, MEAN, STD)
    assert tensor.shape == (3, 32, 32) and tensor.dtype == np.float32
    assert tensor[0, 5, 2] == pytest.approx((1 - MEAN[0]) / STD[0], abs=1e-5)
    assert tensor[0, 5, 29] == pytest.approx((0 - MEAN[0]) / STD[0], abs=1e-5)
    assert tensor[1, 5, 2] == pytest.approx((0 - MEAN[1]) / STD[1], abs=1e-5)


def test_model_input_is_each_channel_normalised_in_channel_order():
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    tensor = images.model_input(image, 32, MEAN, STD)
    assert tensor.dtype == np.float32 and tensor.flags["C_CONTIGUOUS"]
    resized = np.asarray(image.resize((32, 32), Image.Resampling.BILINEAR), np.float64) / 255
    expected = ((resized - np.asarray(MEAN)) / np.asarray(STD)).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor, expected, atol=1e-6)


def test_heic_and_heif_decode(exif_samples: Path):
    for name in ("IMG_5195.HEIC", "samplefilehub.heif"):
        tensor = load_for_model(exif_samples / "phones" / name, 64, MEAN, STD)
        assert tensor.shape == (3, 64, 64) and np.isfinite(tensor).all()
    thumb = load_thumbnail(exif_samples / "phones" / "IMG_5195.HEIC", 100)
    assert thumb.mode == "RGB" and thumb.size == (77, 100)  # the iPhone photo is portrait


def test_draft_mode_decodes_big_jpegs_small_and_matches_full_decode(tmp_path: Path):
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    big = Image.fromarray(blocks).resize((4000, 3000), Image.Resampling.BILINEAR)
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    decoded = images._decode_upright(path, min_side=224)
    assert 224 <= min(decoded.size) < 1000  # decoded at 1/8: 500 x 375
    fast = load_for_model(path, 224, MEAN, STD)
    full = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    exact = np.asarray(full.resize((224, 224), Image.Resampling.BILINEAR), np.float32) / 255
    exact = ((exact - MEAN) / STD).transpose(2, 0, 1)
    assert np.abs(fast - exact).mean() < 0.05


def _png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny real PNG whose header claims ``width x height`` (CRC recomputed)."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def test_decompression_bomb_is_refused(tmp_path: Path):
    for width in (20_000, 100_000):  # above our limit, and above Pillow's hard limit
        bomb = _png_with_size(tmp_path / f"bomb{width}.png", width, 20_000)
        with pytest.raises(ImageError, match="too many pixels"):
            load_for_model(bomb, 32, MEAN, STD)


def test_bad_inputs_raise_image_error_with_reason(tmp_path: Path, exif_samples: Path):
    real = (exif_samples / "gps" / "DSCN0010.jpg").read_bytes()
    cases = {
        "empty.jpg": (b"", "empty file"),
        "text.jpg": (b"just some text\n" * 20, "not an image"),
        "truncated.jpg": (real[: len(real) // 2], "truncated"),
        "corrupt.jpg": (real[:600] + bytes(range(256)) * 40, None),
        "header_only.png": (b"\x89PNG\r\n\x1a\n", None),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageError) as info:
            load_for_model(path, 32, MEAN, STD)
        assert str(info.value), name
        if reason:
            assert reason in str(info.value), (name, str(info.value))
    with pytest.raises(ImageError, match="cannot read"):
        load_for_model(tmp_path / "missing.jpg", 32, MEAN, STD)


def test_palette_alpha_and_16_bit_images_become_rgb(tmp_path: Path):
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(rgba)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((20, 20), 4000, np.uint16)).save(deep)
    for path in (rgba, deep):
        assert load_thumbnail(path, 16).mode == "RGB"
    # fully transparent -> white background
    assert load_thumbnail(rgba, 16).getpixel((5, 5)) == (255, 255, 255)
