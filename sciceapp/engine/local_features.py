"""Local features of a photo: SIFT keypoints with RootSIFT descriptors (OpenCV), stored compactly.

The photo is converted to grey and resized so that its longer side is at most
``max_side_px`` (area filter), then OpenCV's SIFT detects up to ``max_keypoints`` keypoints.
Keypoint coordinates are mapped back to the *upright original* image (``image_size``), so
every consumer (verification, the "Why this match?" drawing) works in one frame whatever
size the photo was decoded at.

RootSIFT (Arandjelovic & Zisserman, "Three things everyone should know to improve object
retrieval", CVPR 2012): L1-normalise the SIFT vector and take the element-wise square root.
The result has unit L2 norm, so comparing RootSIFT vectors with the Euclidean distance is
comparing SIFT vectors with the Hellinger kernel, which matches better.

Storage: each RootSIFT component lies in [0, 1] and in practice below 0.5 (OpenCV clamps
SIFT bins at 0.2 of the norm before it renormalises), so descriptors are stored as
``uint8 = round(min(v * DESCRIPTOR_SCALE, 255))`` with ``DESCRIPTOR_SCALE = 512``: 128 bytes a
keypoint. :func:`rootsift_float` undoes the scaling and renormalises. Coordinates are stored
as uint16 fractions of the image size (about 0.06 px for a 4000 px photo), 4 bytes a
keypoint: 2000 keypoints take 264 KB.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from sciceapp.errors import SciceappError

DEFAULT_MAX_KEYPOINTS = 2000
DEFAULT_MAX_SIDE_PX = 1024
DESCRIPTOR_SCALE = 512.0
"""uint8 value of a RootSIFT component of 1/512 (see the module docstring)."""
DESCRIPTOR_DIM = 128
_COORD_MAX = 65535
_HEADER = struct.Struct("<4sIIII")  # magic, keypoints, width, height, crc32 of the payload
_MAGIC = b"LFv1"


class FeatureFormatError(SciceappError):
    """Stored local features that cannot be read back (damaged or foreign bytes)."""


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints and descriptors of one photo.

    ``keypoints``: float32 ``[N, 2]``, (x, y) in pixels of the upright original image.
    ``descriptors``: uint8 ``[N, 128]``, RootSIFT times ``DESCRIPTOR_SCALE`` (module docstring).
    ``image_size``: (width, height) of the upright original image.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes this takes in :meth:`to_bytes` form."""
        return _HEADER.size + len(self) * (4 + DESCRIPTOR_DIM)

    def to_bytes(self) -> bytes:
        """Compact form: a header, uint16 coordinates ``[N, 2]``, uint8 descriptors ``[N, 128]``."""
        width, height = self.image_size
        scale = np.array(
            [_COORD_MAX / max(width, 1), _COORD_MAX / max(height, 1)], dtype=np.float64
        )
        coords = np.clip(np.rint(self.keypoints.astype(np.float64) * scale), 0, _COORD_MAX)
        payload = (
            coords.astype("<u2").tobytes()
            + np.ascontiguousarray(self.descriptors, dtype=np.uint8).tobytes()
        )
        header = _HEADER.pack(_MAGIC, len(self), width, height, zlib.crc32(payload))
        return header + payload

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> LocalFeatures:
        """Read :meth:`to_bytes` back; ``FeatureFormatError`` for damaged data."""
        data = memoryview(data)
        if len(data) < _HEADER.size:
            raise FeatureFormatError("local features: truncated header")
        magic, count, width, height, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise FeatureFormatError("local features: not a local-features record")
        payload = data[_HEADER.size :]
        if len(payload) != count * (4 + DESCRIPTOR_DIM) or zlib.crc32(payload) != crc:
            raise FeatureFormatError("local features: damaged record (length or checksum)")
        coords = np.frombuffer(payload[: 4 * count], dtype="<u2").reshape(count, 2)
        scale = np.array([width / _COORD_MAX, height / _COORD_MAX], dtype=np.float32)
        keypoints = coords.astype(np.float32) * scale
        descriptors = np.frombuffer(payload[4 * count :], dtype=np.uint8).reshape(
            count, DESCRIPTOR_DIM
        )
        return cls(keypoints, descriptors, (int(width), int(height)))


def empty_features(image_size: tuple[int, int]) -> LocalFeatures:
    return LocalFeatures(
        np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_DIM), np.uint8), image_size
    )


def extract_features(
    rgb: np.ndarray,
    *,
    max_keypoints: int = DEFAULT_MAX_KEYPOINTS,
    max_side_px: int = DEFAULT_MAX_SIDE_PX,
    original_size: tuple[int, int] | None = None,
) -> LocalFeatures:
    """SIFT keypoints and RootSIFT descriptors of an upright photo.

    ``rgb``: uint8 ``[H, W, 3]``. ``original_size``: (width, height) of the upright original
    when ``rgb`` was decoded smaller (keypoints are scaled to it); default ``(W, H)``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    original = original_size or (width, height)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    factor = min(1.0, max_side_px / max(width, height))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    sift = cv2.SIFT_create(nfeatures=max_keypoints)
    keypoints, sift_desc = sift.detectAndCompute(grey, None)
    if not keypoints or sift_desc is None:
        return empty_features(original)
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32)[:max_keypoints]
    sift_desc = sift_desc[:max_keypoints]
    # Pixel centres: (x + 0.5) scales between sizes, then back to the corner convention.
    scale = np.array([original[0] / grey.shape[1], original[1] / grey.shape[0]], dtype=np.float32)
    points = (points + 0.5) * scale - 0.5
    return LocalFeatures(points, quantise_rootsift(sift_desc), original)


def timed_extract(rgb: np.ndarray, original_size: tuple[int, int]) -> tuple[LocalFeatures, float]:
    """:func:`extract_features` with default settings, and the milliseconds it took."""
    start = time.perf_counter()
    features = extract_features(rgb, original_size=original_size)
    return features, (time.perf_counter() - start) * 1000.0


def quantise_rootsift(sift: np.ndarray) -> np.ndarray:
    """SIFT ``[N, 128]`` (any non-negative scale) -> quantised RootSIFT uint8 ``[N, 128]``."""
    values = np.asarray(sift, dtype=np.float32)
    values = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-12)
    root = np.sqrt(values)
    return np.clip(np.rint(root * DESCRIPTOR_SCALE), 0, 255).astype(np.uint8)


def rootsift_float(desc_uint8: np.ndarray) -> np.ndarray:
    """Stored descriptors uint8 ``[N, 128]`` -> float32 RootSIFT ``[N, 128]``, unit L2 norm."""
    values = np.asarray(desc_uint8, dtype=np.float32)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return values / np.maximum(norms, 1e-12)
