"""EXIF messages say what the file holds, and exifread's own warnings do not reach the user."""

from __future__ import annotations

import logging

from PIL import Image

from sciceapp.engine.exif import read_photo_meta


def test_a_huge_gps_tag_reports_its_real_length(tmp_path, exif_tools):
    gps = exif_tools.gps(43.4, 11.8)
    gps[2] = ("rational", [(1, 1)] * 1000)
    path = exif_tools.photo(tmp_path / "p.jpg", 1, exif_tools.tiff(gps=gps))
    assert read_photo_meta(path).gps_reason == "GPS latitude has 1000 parts instead of 3"


def test_no_exifread_warning_for_photos_without_exif(tmp_path, caplog):
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    (tmp_path / "text.jpg").write_bytes(b"hello" * 20)
    with caplog.at_level(logging.WARNING):
        for name in ("plain.png", "text.jpg"):
            assert read_photo_meta(tmp_path / name).gps is None
    assert [r for r in caplog.records if r.name.startswith("exifread")] == []
