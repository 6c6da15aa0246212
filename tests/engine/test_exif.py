"""GPS and capture time from EXIF: the real sample photos and every edge case we construct."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciceapp.engine.exif import read_photo_meta

ARCSEC = 1 / 3600


def test_arezzo_photos_have_their_walk_positions(exif_samples: Path):
    metas = [read_photo_meta(p) for p in sorted((exif_samples / "gps").glob("*.jpg"))]
    assert len(metas) == 9
    for meta in metas:
        assert meta.gps_reason is None
        assert 43.46 <= meta.gps.lat <= 43.47
        assert 11.87 <= meta.gps.lon <= 11.89
        assert meta.capture_time.startswith("2008-10-22T")
    # DSCN0010: 43 deg 28' 2.814" N, 11 deg 53' 6.456" E
    first = metas[0].gps
    assert first.lat == pytest.approx(43 + 28 / 60 + 2.814 / 3600, abs=1e-9)
    assert first.lon == pytest.approx(11 + 53 / 60 + 6.45599999 / 3600, abs=1e-9)


def test_iphone_heic_gps_west_with_altitude_and_offset(exif_samples: Path):
    meta = read_photo_meta(exif_samples / "phones" / "IMG_5195.HEIC")
    assert meta.gps.lat == pytest.approx(39 + 3 / 60 + 4.84 / 3600, abs=1e-9)
    assert meta.gps.lon == pytest.approx(-(94 + 17 / 60 + 19.58 / 3600), abs=1e-9)
    assert meta.gps.alt == pytest.approx(244927 / 940)
    assert meta.capture_time == "2021-04-11T15:47:53-05:00"


def test_files_without_gps_say_why(exif_samples: Path):
    jolla = read_photo_meta(exif_samples / "phones" / "jolla.jpg")
    assert jolla.gps is None and jolla.gps_reason == "no GPS position in EXIF"
    assert jolla.capture_time == "2014-09-21T16:00:56"
    for path in sorted((exif_samples / "invalid").glob("*.jpg")):
        meta = read_photo_meta(path)
        assert meta.gps is None and meta.gps_reason == "no EXIF metadata in the file", path


@pytest.fixture
def meta_of(tmp_path: Path, exif_tools):
    def read(gps: dict | None = None, exif: dict | None = None):
        data = exif_tools.tiff(gps=gps, exif=exif)
        return read_photo_meta(exif_tools.photo(tmp_path / "p.jpg", seed=0, exif=data))

    return read


def test_south_west_below_sea_level(tmp_path: Path, meta_of, exif_tools):
    meta = meta_of(exif_tools.gps(-33.5, -70.25, alt=-12.5))
    assert (meta.gps.lat, meta.gps.lon, meta.gps.alt) == (-33.5, -70.25, -12.5)


def test_zero_over_zero_seconds_read_as_zero(tmp_path: Path, meta_of, exif_tools):
    gps = exif_tools.gps(10.5, 20.25)
    gps[2] = ("rational", [(10, 1), (30, 1), (0, 0)])
    meta = meta_of(gps)
    assert meta.gps.lat == pytest.approx(10.5)


def test_zero_denominator_in_degrees_rejected(tmp_path: Path, meta_of, exif_tools):
    gps = exif_tools.gps(10.5, 20.25)
    gps[2] = ("rational", [(10, 0), (30, 1), (0, 1)])
    meta = meta_of(gps)
    assert meta.gps is None and "zero denominator" in meta.gps_reason


def test_missing_ref_rejected_unless_signed(tmp_path: Path, meta_of, exif_tools):
    gps = exif_tools.gps(10.5, 20.25)
    del gps[3]
    meta = meta_of(gps)
    assert meta.gps is None and "no E/W reference" in meta.gps_reason

    signed = exif_tools.gps(10.5, 20.25)
    del signed[3]
    signed[4] = ("srational", [(-20, 1), (15, 1), (0, 1)])
    meta = meta_of(signed)
    assert meta.gps.lon == pytest.approx(-20.25)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (2, [(95, 1), (0, 1), (0, 1)], "outside +-90"),
        (4, [(181, 1), (0, 1), (0, 1)], "outside +-180"),
        (2, [(10, 1), (75, 1), (0, 1)], "minutes out of range"),
        (2, [(10, 1), (0, 1), (3600, 1)], "seconds out of range"),
        (2, [(10, 1), (0, 1)] * 2, "4 parts"),
    ],
)
def test_out_of_range_rejected_with_reason(
    tmp_path: Path, field, value, reason, meta_of, exif_tools
):
    gps = exif_tools.gps(10.5, 20.25)
    gps[field] = ("rational", value)
    meta = meta_of(gps)
    assert meta.gps is None
    assert reason in meta.gps_reason


def test_null_island_and_void_status_rejected(tmp_path: Path, meta_of, exif_tools):
    zero = exif_tools.gps(0, 0)
    assert "0, 0" in meta_of(zero).gps_reason
    void = exif_tools.gps(10.5, 20.25)
    void[9] = ("ascii", "V")
    assert "void" in meta_of(void).gps_reason


def test_absurd_altitude_dropped_position_kept(tmp_path: Path, meta_of, exif_tools):
    gps = exif_tools.gps(10.5, 20.25)
    gps[6] = ("rational", [(9_000_000, 1)])
    meta = meta_of(gps)
    assert meta.gps.lat == pytest.approx(10.5) and meta.gps.alt is None
    gps[6] = ("rational", [(5, 0)])
    assert meta_of(gps).gps.alt is None


def test_capture_time_placeholders_and_offsets(tmp_path: Path, meta_of, exif_tools):
    placeholder = {0x9003: ("ascii", "0000:00:00 00:00:00")}
    assert meta_of(exif=placeholder).capture_time is None
    with_offset = {0x9003: ("ascii", "2019:07:01 12:00:00"), 0x9011: ("ascii", "+02:00")}
    assert meta_of(exif=with_offset).capture_time == "2019-07-01T12:00:00+02:00"


def test_garbage_exif_block_gives_reason_not_crash(tmp_path: Path, meta_of, exif_tools):
    garbage = b"Exif\0\0II*\0" + b"\xff\xff\xff\x7f" + bytes(range(256)) * 4
    path = exif_tools.photo(tmp_path / "g.jpg", seed=1, exif=garbage)
    meta = read_photo_meta(path)
    assert meta.gps is None and meta.gps_reason


def test_unreadable_and_non_image_files(tmp_path: Path, meta_of, exif_tools):
    missing = read_photo_meta(tmp_path / "nope.jpg")
    assert missing.gps is None and "cannot read" in missing.gps_reason
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    assert read_photo_meta(text).gps is None
