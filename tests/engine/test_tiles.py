"""Tile sources: URL templates per source, and MBTiles read with its rows counted from the south."""

from __future__ import annotations

from pathlib import Path

import pytest
from tile_files import make_mbtiles

from sciceapp.engine.tiles import MBTILES_URL, MBTiles, parse_tile_path, tile_url
from sciceapp.errors import SciceappError


def test_mbtiles_tiles_by_xyz_and_nothing_outside(tmp_path):
    path = make_mbtiles(
        tmp_path / "t.mbtiles", {(1, 0, 0): b"north-west", (1, 1, 1): b"south-east"}
    )
    source = MBTiles(path)
    assert source.tile(1, 0, 0) == b"north-west" and source.tile(1, 1, 1) == b"south-east"
    assert source.tile(1, 0, 1) is None  # not in the file
    assert source.tile(1, 2, 0) is None and source.tile(-1, 0, 0) is None  # outside the world
    assert source.mime_type == "image/png"
    assert MBTiles(make_mbtiles(tmp_path / "j.mbtiles", {}, "jpg")).mime_type == "image/jpeg"


def test_a_file_that_is_not_mbtiles_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mbtiles"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(SciceappError, match="not a readable MBTiles file"):
        MBTiles(bad)


def test_tile_url_per_source(tmp_path):
    assert tile_url("online", url="https://t.example/{z}/{x}/{y}.png").startswith("https://")
    assert tile_url("folder", folder=str(tmp_path)) == f"{tmp_path.as_uri()}/{{z}}/{{x}}/{{y}}.png"
    assert tile_url("mbtiles", mbtiles="x.mbtiles") == MBTILES_URL
    assert tile_url("none", url="https://t.example/{z}/{x}/{y}.png") == ""
    assert tile_url("folder") == "" and tile_url("mbtiles") == ""
    with pytest.raises(ValueError, match="online, folder, mbtiles, none"):
        tile_url("ftp")
    assert parse_tile_path("/3/4/2.png") == (3, 4, 2) and parse_tile_path("/3/4") is None
    assert parse_tile_path("/a/b/c") is None


def test_the_window_is_served_a_tile_folder_and_nothing_outside_it(tmp_path: Path):
    from sciceapp.engine.tiles import FOLDER_URL, TileFolder

    assert tile_url("folder", folder=str(tmp_path), cached=True) == FOLDER_URL
    (tmp_path / "3" / "2").mkdir(parents=True)
    (tmp_path / "3" / "2" / "5.jpg").write_bytes(b"jpeg bytes")
    (tmp_path / "secret.png").write_bytes(b"not a tile")
    folder = TileFolder(tmp_path)
    assert folder.tile(3, 2, 5) == (b"jpeg bytes", "image/jpeg")
    assert folder.tile(3, 2, 6) is None
    with pytest.raises(ValueError):
        folder.tile("..", 2, "secret")  # only integers make a tile's path
