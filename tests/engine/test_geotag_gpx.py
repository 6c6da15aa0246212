"""GPX correlation against a track written at test time (times with a UTC offset), on copies
of the Arezzo photos (taken 2008-10-22 around 16:30 local time, CEST = UTC+2, no zone in EXIF)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from geotag_fixtures import copy_sample, exifread_position

from sciceapp.engine.geotag.gpx import (
    capture_time,
    correlate,
    find_offset,
    format_offset,
    parse_duration,
    parse_offset,
    parse_timezone,
    read_tracks,
)
from sciceapp.engine.geotag.plans import plan_gpx
from sciceapp.engine.geotag.writer import Journal
from sciceapp.errors import GeotagError

START = datetime(2008, 10, 22, 14, 0, tzinfo=UTC)
ROME = parse_timezone("Europe/Rome")


def track_point(k: float) -> tuple[float, float, float]:
    """Where the synthetic walk is ``k`` minutes after START (linear in every coordinate)."""
    return 43.46 + k * 1e-4, 11.88 + k * 2e-4, 250.0 + k


def write_gpx(path: Path, minutes: list[int]) -> Path:
    """One track point per minute in ``minutes``, times written in local time (+02:00)."""
    points = []
    for k in minutes:
        lat, lon, ele = track_point(k)
        local = (START + timedelta(minutes=k)).astimezone(ROME).isoformat()
        points.append(
            f'<trkpt lat="{lat}" lon="{lon}"><ele>{ele}</ele><time>{local}</time></trkpt>'
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="tests" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>walk</name><trkseg>'
        + "".join(points)
        + "</trkseg></trk></gpx>",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def photos(tmp_path, exif_samples) -> dict[str, Path]:
    names = ("DSCN0010.jpg", "DSCN0021.jpg", "DSCN0042.jpg")
    return {n: copy_sample(exif_samples / "gps" / n, tmp_path / "photos") for n in names}


def minutes_after_start(photo: Path, offset: timedelta = timedelta()) -> float:
    when, _ = capture_time(photo, ROME, offset)
    return (when - START).total_seconds() / 60


def test_time_zone_and_interpolation(tmp_path, photos):
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    assert track.points[0].time == START  # +02:00 in the file read as UTC
    photo = photos["DSCN0010.jpg"]  # 16:28:39 CEST = 14:28:39 UTC
    (match,) = correlate(track, [photo], camera_tz=ROME)
    k = 28 + 39 / 60
    assert match.time == START + timedelta(minutes=k)
    assert (match.point.lat, match.point.lon, match.point.alt) == pytest.approx(track_point(k))


def test_camera_clock_offset(tmp_path, photos):
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    offset = parse_offset("-00:02:30")  # the camera was 2 min 30 s fast
    (match,) = correlate(track, [photos["DSCN0010.jpg"]], camera_tz=ROME, offset=offset)
    k = 28 + 39 / 60 - 2.5
    assert (match.point.lat, match.point.lon) == pytest.approx(track_point(k)[:2])


def test_photos_beyond_the_max_gap_are_left_alone_with_the_reason(tmp_path, photos):
    minutes = [k for k in range(0, 61) if not 35 <= k <= 50]  # the receiver lost its fix
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", minutes)])
    # 14:38:20: the last fix (14:34) is 4 min 20 s before, the next (14:51) 12.7 min after
    inside, _, end = correlate(track, list(photos.values()), camera_tz=ROME)
    assert inside.point is not None
    (near,) = correlate(track, [photos["DSCN0021.jpg"]], camera_tz=ROME)
    assert (near.point.lat, near.point.lon) == pytest.approx(track_point(34)[:2])
    (far,) = correlate(
        track, [photos["DSCN0021.jpg"]], camera_tz=ROME, max_gap=parse_duration("2m")
    )
    assert far.point is None and "4 min away" in far.reason and "2 min" in far.reason
    # 15:00:07 is 7 s after the last point: that point within 5 minutes, nothing within 5 s
    assert (end.point.lat, end.point.lon) == pytest.approx(track_point(60)[:2])
    (after,) = correlate(
        track, [photos["DSCN0042.jpg"]], camera_tz=ROME, max_gap=timedelta(seconds=5)
    )
    assert after.point is None and "7 s away" in after.reason


def test_without_any_time_zone_the_photo_is_left_alone(tmp_path, photos):
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    (match,) = correlate(track, [photos["DSCN0010.jpg"]])
    assert match.point is None and "time zone" in match.reason


def test_offset_time_original_is_used_when_recorded(tmp_path, photos):
    import exiv2

    photo = photos["DSCN0010.jpg"]
    image = exiv2.ImageFactory.open(str(photo))
    image.readMetadata()
    image.exifData()["Exif.Photo.OffsetTimeOriginal"] = "+02:00"
    image.writeMetadata()
    del image
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    (match,) = correlate(track, [photo], camera_tz=parse_timezone("+05:00"))  # recorded wins
    assert match.time == START + timedelta(minutes=28, seconds=39)


def test_offset_found_from_one_photo_with_a_known_place(tmp_path, photos):
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    photo = photos["DSCN0010.jpg"]
    true_k = 20.25  # the user points at where the track was 20 min 15 s after START
    lat, lon, _ = track_point(true_k)
    offset, distance_m = find_offset(track, photo, lat, lon, camera_tz=ROME)
    assert distance_m < 1
    expected = timedelta(minutes=true_k - minutes_after_start(photo))
    assert abs(offset - expected) < timedelta(seconds=1)
    assert format_offset(offset) == "-00:08:24"
    (match,) = correlate(track, [photo], camera_tz=ROME, offset=offset)
    assert (match.point.lat, match.point.lon) == pytest.approx((lat, lon), abs=1e-6)


def test_gpx_plan_written_and_read_back(tmp_path, photos, data_dir):
    track = read_tracks([write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))])
    plan = plan_gpx(correlate(track, list(photos.values()), camera_tz=ROME), track)
    assert len(plan.requests) == 3 and not plan.left
    assert plan.requests[0].tag.source == "sciceapp: from GPX track walk.gpx"
    Journal(data_dir).write(plan.requests, "gpx")
    lat, lon, alt = exifread_position(photos["DSCN0010.jpg"].read_bytes())
    k = 28 + 39 / 60
    assert (lat, lon, alt) == pytest.approx(track_point(k), abs=1e-6)


@pytest.mark.parametrize("content", ["", "<gpx><trk>", "<html>not gpx</html>"])
def test_bad_gpx_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.gpx"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GeotagError, match="bad.gpx"):
        read_tracks([path])


@pytest.mark.parametrize("text", ["1:2:3:4", "+25", "abc", "+01:61"])
def test_bad_offsets_are_refused(text):
    with pytest.raises(GeotagError):
        parse_offset(text)


def test_parsers():
    assert parse_offset("+01:00") == timedelta(hours=1)
    assert parse_offset("-0:00:30") == timedelta(seconds=-30)
    assert parse_duration("5m") == timedelta(minutes=5)
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_timezone("+02:00").utcoffset(None) == timedelta(hours=2)
    with pytest.raises(GeotagError):
        parse_timezone("Mars/Olympus")
