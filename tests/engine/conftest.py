"""Engine test fixtures: a toy ONNX model (torch-free), photos with EXIF built at test time."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from photo_fixtures import write_photo
from toy_models import TOY_DIM, TOY_GRID, TOY_SIZE, build_toy_model, toy_metadata  # noqa: F401


@pytest.fixture
def toy_model(tmp_path: Path) -> Path:
    return build_toy_model(tmp_path / "toy.onnx")


def tiff_exif(ifd0: dict | None = None, exif: dict | None = None, gps: dict | None = None) -> bytes:
    """Raw ``Exif\\0\\0`` + little-endian TIFF with the given IFDs.

    Entries: ``tag -> (type, value)`` with type "ascii" (str), "byte" (int), "short" (int),
    "rational" / "srational" (list of (num, den)).
    """
    sizes = {
        "ascii": (2, 1),
        "byte": (1, 1),
        "short": (3, 2),
        "long": (4, 4),
        "rational": (5, 8),
        "srational": (10, 8),
    }

    def encode(kind: str, value) -> tuple[int, int, bytes]:
        code, _ = sizes[kind]
        if kind == "ascii":
            data = value.encode() + b"\0"
            return code, len(data), data
        if kind == "byte":
            return code, 1, bytes([value])
        if kind == "short":
            return code, 1, struct.pack("<H", value)
        if kind == "long":
            return code, 1, struct.pack("<I", value)
        fmt = "<ii" if kind == "srational" else "<II"
        return code, len(value), b"".join(struct.pack(fmt, n, d) for n, d in value)

    ifds: list[dict] = [dict(ifd0 or {})]
    if exif:
        ifds[0][0x8769] = ("long", 0)
        ifds.append(dict(exif))
    if gps:
        ifds[0][0x8825] = ("long", 0)
        ifds.append(dict(gps))
    offsets: list[int] = []
    position = 8
    for ifd in ifds:
        offsets.append(position)
        position += 2 + 12 * len(ifd) + 4
        position += sum(len(encode(*v)[2]) for v in ifd.values() if len(encode(*v)[2]) > 4)
    pointers = {0x8769: offsets[1] if exif else 0, 0x8825: offsets[-1] if gps else 0}
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    for ifd, start in zip(ifds, offsets, strict=True):
        data_at = start + 2 + 12 * len(ifd) + 4
        body, extra = bytearray(struct.pack("<H", len(ifd))), bytearray()
        for tag in sorted(ifd):
            kind, value = ifd[tag]
            if tag in pointers and ifd is ifds[0] and kind == "long":
                value = pointers[tag]
            code, count, data = encode(kind, value)
            if len(data) <= 4:
                body += struct.pack("<HHI", tag, code, count) + data.ljust(4, b"\0")
            else:
                body += struct.pack("<HHII", tag, code, count, data_at + len(extra))
                extra += data
        body += struct.pack("<I", 0)
        out += body + extra
    return b"Exif\0\0" + bytes(out)


def gps_ifd(lat: float, lon: float, alt: float | None = None) -> dict:
    def dms(value: float) -> list[tuple[int, int]]:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round((value - degrees - minutes / 60) * 3600 * 1000)
        return [(degrees, 1), (minutes, 1), (seconds, 1000)]

    entries = {
        1: ("ascii", "N" if lat >= 0 else "S"),
        2: ("rational", dms(lat)),
        3: ("ascii", "E" if lon >= 0 else "W"),
        4: ("rational", dms(lon)),
    }
    if alt is not None:
        entries[5] = ("byte", 1 if alt < 0 else 0)
        entries[6] = ("rational", [(round(abs(alt) * 100), 100)])
    return entries


@pytest.fixture
def make_photos(tmp_path: Path):
    """``make_photos(n, folder="photos", gps=True)`` -> list of JPEG paths with GPS EXIF."""

    def make(n: int, folder: str = "photos", gps: bool = True, start: int = 0) -> list[Path]:
        paths = []
        for i in range(start, start + n):
            exif = tiff_exif(gps=gps_ifd(43.46 + i * 1e-3, 11.88 + i * 1e-3)) if gps else None
            paths.append(write_photo(tmp_path / folder / f"photo_{i:03d}.jpg", seed=i, exif=exif))
        return paths

    return make


@pytest.fixture
def model_builder():
    """``build(path, metadata=None, dim_out=48) -> path``; ``model_builder.meta(**overrides)``."""
    build_toy_model.meta = toy_metadata
    return build_toy_model


@pytest.fixture
def exif_tools():
    """Constructing EXIF: ``.tiff(ifd0, exif, gps)``, ``.gps(lat, lon, alt)``, ``.photo(path, seed, exif)``."""

    class Tools:
        tiff = staticmethod(tiff_exif)
        gps = staticmethod(gps_ifd)
        photo = staticmethod(write_photo)

    return Tools
