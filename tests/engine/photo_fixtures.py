"""Photos built at test time, for the fixtures and for tests that import them by name (the
``conftest`` module name is ambiguous when tests/ui's is collected first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_photo(
    path: Path, seed: int, exif: bytes | None = None, size: tuple[int, int] = (96, 72)
) -> Path:
    """A distinct, smooth-ish random JPEG (blocks of colour, so pooling tells them apart)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return path
