"""Local features: SIFT keypoints in the original photo's frame, RootSIFT stored as uint8."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sciceapp.engine.local_features import (
    DESCRIPTOR_SCALE,
    FeatureFormatError,
    LocalFeatures,
    extract_features,
    quantise_rootsift,
    rootsift_float,
)


@pytest.fixture(scope="module")
def photo(real_places) -> np.ndarray:
    with Image.open(real_places / "sacre_coeur/03903474_1471484089.jpg") as image:
        return np.asarray(image.convert("RGB"))


def test_extract_gives_keypoints_inside_the_photo(photo):
    features = extract_features(photo, max_keypoints=500)
    height, width = photo.shape[:2]
    assert features.image_size == (width, height)
    assert len(features) == 500
    assert features.keypoints.dtype == np.float32 and features.descriptors.dtype == np.uint8
    assert features.descriptors.shape == (500, 128)
    x, y = features.keypoints.T
    assert x.min() >= -0.5 and x.max() <= width and y.min() >= -0.5 and y.max() <= height


def test_keypoints_are_in_the_original_frame_when_decoded_smaller(photo):
    height, width = photo.shape[:2]
    half = np.asarray(Image.fromarray(photo).resize((width // 2, height // 2)))
    full = extract_features(photo, max_side_px=width // 2)
    small = extract_features(half, original_size=(width, height))
    assert small.image_size == full.image_size == (width, height)
    # The same grey image reaches SIFT in both cases (give or take resampling): most
    # keypoints of one lie within a pixel of a keypoint of the other, in original pixels.
    distance = np.linalg.norm(small.keypoints[:, None] - full.keypoints[None], axis=2).min(1)
    assert np.median(distance) < 1.0


def test_rootsift_round_trip_is_unit_norm_and_close():
    rng = np.random.default_rng(0)
    sift = rng.gamma(0.5, 20.0, (50, 128)).astype(np.float32)
    exact = np.sqrt(sift / sift.sum(axis=1, keepdims=True))
    stored = quantise_rootsift(sift)
    assert stored.dtype == np.uint8
    back = rootsift_float(stored)
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert np.abs(back - exact).max() < 2.0 / DESCRIPTOR_SCALE


def test_bytes_round_trip_and_damage(photo):
    features = extract_features(photo, max_keypoints=300)
    data = features.to_bytes()
    assert len(data) == features.nbytes == 20 + 300 * 132
    back = LocalFeatures.from_bytes(data)
    assert back.image_size == features.image_size
    np.testing.assert_array_equal(back.descriptors, features.descriptors)
    width, height = features.image_size
    assert np.abs(back.keypoints - features.keypoints).max() <= max(width, height) / 65535
    damaged = bytearray(data)
    damaged[100] ^= 0xFF
    with pytest.raises(FeatureFormatError, match="damaged"):
        LocalFeatures.from_bytes(bytes(damaged))
    with pytest.raises(FeatureFormatError):
        LocalFeatures.from_bytes(data[:-1])
    with pytest.raises(FeatureFormatError, match="not a local-features"):
        LocalFeatures.from_bytes(b"x" * 40)


def test_blank_image_has_no_features():
    features = extract_features(np.full((200, 300, 3), 128, np.uint8))
    assert len(features) == 0 and features.image_size == (300, 200)
    assert LocalFeatures.from_bytes(features.to_bytes()).descriptors.shape == (0, 128)
