"""Writing positions into copies of the real sample photos, reading them back, undoing them."""

from __future__ import annotations

import errno
import os
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from geotag_fixtures import copy_sample, exifread_position, exifread_text, sha256_of
from PIL import Image

from sciceapp.engine.exif import read_photo_meta
from sciceapp.engine.geotag import exiftool, writer
from sciceapp.engine.geotag.sidecar import sidecar_path, with_sidecar_position
from sciceapp.engine.geotag.tags import GeoTag, dms_rationals, gps_tags
from sciceapp.engine.geotag.writer import Journal, WriteRequest
from sciceapp.engine.images import load_upright
from sciceapp.errors import GeotagError

SYDNEY = GeoTag(-33.856784, 151.215297, -12.5, "sciceapp: predicted from 3 verified matches")


@pytest.fixture
def jpeg(tmp_path, exif_samples) -> Path:
    return copy_sample(exif_samples / "gps" / "DSCN0010.jpg", tmp_path / "photos")


@pytest.fixture
def journal(data_dir) -> Journal:
    return Journal(data_dir)


def test_written_position_reads_back_with_exifread(journal, jpeg):
    report = journal.write([WriteRequest(jpeg, SYDNEY)], "test")
    assert [o.written for o in report.outcomes] == [True]
    data = jpeg.read_bytes()
    lat, lon, alt = exifread_position(data)
    assert lat == pytest.approx(SYDNEY.lat, abs=1e-7)  # 1/10000 s is about 3 mm
    assert lon == pytest.approx(SYDNEY.lon, abs=1e-7)
    assert alt == pytest.approx(-12.5)
    assert str(exifread_text(data, "GPS GPSMapDatum")).strip() == "WGS-84"
    assert "predicted from 3 verified matches" in exifread_text(data, "GPS GPSProcessingMethod")
    # our own reader agrees, and the picture itself is untouched
    assert read_photo_meta(jpeg).gps.lat == pytest.approx(SYDNEY.lat, abs=1e-7)


def test_pixels_and_other_tags_survive(journal, jpeg, exif_samples):
    original = exif_samples / "gps" / "DSCN0010.jpg"
    journal.write([WriteRequest(jpeg, SYDNEY)], "test")
    assert Image.open(jpeg).tobytes() == Image.open(original).tobytes()
    assert read_photo_meta(jpeg).capture_time == read_photo_meta(original).capture_time


def test_undo_restores_the_exact_bytes_and_timestamps(journal, jpeg):
    before, mtime = sha256_of(jpeg), jpeg.stat().st_mtime_ns
    journal.write([WriteRequest(jpeg, SYDNEY)], "first")
    journal.write([WriteRequest(jpeg, GeoTag(10.0, 20.0))], "second")
    assert sha256_of(jpeg) != before
    assert jpeg.stat().st_mtime_ns == mtime  # timestamps are kept unless asked
    undone = journal.undo(None)
    assert [o.written for o in undone] == [True, True]
    assert sha256_of(jpeg) == before
    assert jpeg.stat().st_mtime_ns == mtime
    history = journal.history()
    assert [c.summary for c in history] == ["second", "first"]
    assert all(c.undone and not c.in_effect for c in history)


def test_undo_one_goes_back_one_change(journal, jpeg):
    journal.write([WriteRequest(jpeg, SYDNEY)], "first")
    after_first = sha256_of(jpeg)
    journal.write([WriteRequest(jpeg, GeoTag(10.0, 20.0))], "second")
    journal.undo(1)
    assert sha256_of(jpeg) == after_first
    assert read_photo_meta(jpeg).gps.lat == pytest.approx(SYDNEY.lat, abs=1e-7)


def test_keep_times_false_lets_the_mtime_change(journal, jpeg):
    old = jpeg.stat().st_mtime_ns - 10**9
    os.utime(jpeg, ns=(old, old))
    journal.write([WriteRequest(jpeg, SYDNEY)], "test", keep_times=False)
    assert jpeg.stat().st_mtime_ns != old


def test_journal_records_old_and_new_tags(journal, jpeg):
    old_tags = gps_tags(jpeg.read_bytes())
    journal.write([WriteRequest(jpeg, SYDNEY)], "test")
    (change,) = journal.history()
    (write,) = change.writes
    assert write.state == "done" and write.backup_kind == "bytes"
    assert write.old_tags == old_tags and "Exif.GPSInfo.GPSLatitude" in write.old_tags
    assert write.new_tags == SYDNEY.to_json()
    assert write.new_sha256 == sha256_of(jpeg)


@pytest.mark.parametrize("style", ["darktable", "digikam"])
def test_sidecar_leaves_the_photo_untouched(journal, jpeg, style):
    before = sha256_of(jpeg)
    journal.write([WriteRequest(jpeg, SYDNEY, sidecar=style)], "test")
    assert sha256_of(jpeg) == before
    sidecar = sidecar_path(jpeg, style)
    assert sidecar.name == ("DSCN0010.jpg.xmp" if style == "darktable" else "DSCN0010.xmp")
    text = sidecar.read_text("utf-8")
    assert 'exif:GPSMapDatum="WGS-84"' in text and "33,51.40" in text and "S" in text
    # the sidecar's position is what sciceapp (and so the next collection update) reads
    meta = with_sidecar_position(jpeg, read_photo_meta(jpeg))
    assert (meta.gps.lat, meta.gps.lon) == pytest.approx((SYDNEY.lat, SYDNEY.lon), abs=1e-6)
    assert meta.gps.alt == pytest.approx(-12.5)
    journal.undo()
    assert not sidecar.exists() and sha256_of(jpeg) == before


def test_heic_without_exiftool_is_refused_with_the_reason_and_takes_a_sidecar(
    journal, tmp_path, exif_samples, monkeypatch
):
    """Where ExifTool is not installed, exiv2 alone cannot write HEIC: the message says why and
    what to do, the photo is untouched, and a sidecar carries the position instead."""
    monkeypatch.setattr(exiftool, "exiftool", lambda: None)
    heic = copy_sample(exif_samples / "phones" / "IMG_5195.HEIC", tmp_path / "phones")
    before = sha256_of(heic)
    in_place, beside = journal.write(
        [WriteRequest(heic, SYDNEY), WriteRequest(heic, SYDNEY, sidecar="darktable")], "test"
    ).outcomes
    assert not in_place.written
    assert "ExifTool is not installed" in in_place.error and "sidecar" in in_place.error
    assert "libimage-exiftool-perl" in in_place.error
    assert beside.written and sha256_of(heic) == before
    existing = sidecar_path(heic, "darktable")
    # a second write updates the existing sidecar and undo gives it back byte for byte
    first = sha256_of(existing)
    journal.write([WriteRequest(heic, GeoTag(1.5, 2.5), sidecar="darktable")], "again")
    journal.undo(1)
    assert sha256_of(existing) == first


needs_exiftool = pytest.mark.skipif(
    exiftool.exiftool() is None,
    reason="ExifTool (the exiftool command, Debian package libimage-exiftool-perl) is not "
    "installed: HEIC in-place writes are untested here; the sidecar path is tested above",
)


@needs_exiftool
def test_heic_is_written_in_place_by_exiftool_and_undo_gives_its_bytes_back(
    data_dir, tmp_path, exif_samples
):
    heic = copy_sample(exif_samples / "phones" / "IMG_5195.HEIC", tmp_path / "phones")
    before = heic.read_bytes()
    pixels = np.asarray(load_upright(heic, None)[0])
    # a backup limit below the file's size: still backed up whole (exiv2 cannot put a
    # metadata block back into a HEIC), so undo stays byte-exact
    journal = Journal(data_dir, backup_limit_bytes=1024)
    (outcome,) = journal.write([WriteRequest(heic, SYDNEY)], "heic").outcomes
    assert outcome.written, outcome.error
    data = heic.read_bytes()
    lat, lon, alt = exifread_position(data)
    assert (lat, lon) == pytest.approx((SYDNEY.lat, SYDNEY.lon), abs=1e-6)
    assert alt == pytest.approx(-12.5)
    found = gps_tags(data)
    assert found["Exif.GPSInfo.GPSMapDatum"] == "WGS-84"
    assert "3 verified matches" in found["Exif.GPSInfo.GPSProcessingMethod"]
    assert "Exif.GPSInfo.GPSHPositioningError" not in found  # the old fix's accuracy went
    assert "Exif.GPSInfo.GPSHPositioningError" in gps_tags(before)
    assert (np.asarray(load_upright(heic, None)[0]) == pixels).all()  # image data untouched
    meta = read_photo_meta(heic)  # what indexing reads
    assert (meta.gps.lat, meta.gps.lon) == pytest.approx((SYDNEY.lat, SYDNEY.lon), abs=1e-6)
    (change,) = journal.history()
    assert [w.backup_kind for w in change.writes] == ["bytes"]
    assert journal.undo()[0].written
    assert heic.read_bytes() == before


@needs_exiftool
def test_a_file_exiftool_cannot_write_fails_clearly(journal, tmp_path, exif_samples):
    heic = copy_sample(exif_samples / "phones" / "IMG_5195.HEIC", tmp_path / "phones")
    heic.write_bytes(heic.read_bytes()[:4096])  # truncated: no image data
    before = sha256_of(heic)
    (outcome,) = journal.write([WriteRequest(heic, SYDNEY)], "test").outcomes
    assert not outcome.written and "IMG_5195.HEIC" in outcome.error
    assert sha256_of(heic) == before and journal.history() == []


def test_read_only_file_fails_clearly_and_changes_nothing(journal, jpeg):
    jpeg.chmod(0o444)
    before = sha256_of(jpeg)
    (outcome,) = journal.write([WriteRequest(jpeg, SYDNEY)], "test").outcomes
    assert not outcome.written and "read-only" in outcome.error
    assert sha256_of(jpeg) == before
    assert all(w.state != "done" for c in journal.history() for w in c.writes)


def test_read_only_medium_fails_clearly(journal, jpeg, monkeypatch):
    """A read-only mount answers the rename with EROFS (root passes every access check)."""
    before = sha256_of(jpeg)
    real_replace = os.replace

    def refuse(source, target):
        if Path(target).parent == jpeg.parent:  # the photos' medium, not the data folder
            raise OSError(errno.EROFS, "Read-only file system")
        real_replace(source, target)

    monkeypatch.setattr("sciceapp.atomic.os.replace", refuse)
    (outcome,) = journal.write([WriteRequest(jpeg, SYDNEY)], "test").outcomes
    assert "read-only" in outcome.error and "Nothing was changed" in outcome.error
    assert sha256_of(jpeg) == before
    assert [w.state for w in journal.history()[0].writes] == ["failed"]
    assert not [p for p in jpeg.parent.iterdir() if p.name.endswith(".tmp")]


def test_undo_refuses_a_file_changed_since(journal, jpeg):
    journal.write([WriteRequest(jpeg, SYDNEY)], "test")
    jpeg.write_bytes(jpeg.read_bytes() + b"edited elsewhere")
    edited = sha256_of(jpeg)
    (outcome,) = journal.undo()
    assert not outcome.written and "changed since" in outcome.error
    assert sha256_of(jpeg) == edited


def test_large_file_keeps_its_metadata_block(data_dir, jpeg, exif_samples):
    """Above the backup limit only EXIF/XMP/IPTC are saved; undo restores them, pixels stay."""
    journal = Journal(data_dir, backup_limit_bytes=1000)
    original = exif_samples / "gps" / "DSCN0010.jpg"
    journal.write([WriteRequest(jpeg, SYDNEY)], "test")
    assert journal.history()[0].writes[0].backup_kind == "metadata"
    journal.undo()
    restored = read_photo_meta(jpeg).gps
    assert (restored.lat, restored.lon) == pytest.approx(
        (read_photo_meta(original).gps.lat, read_photo_meta(original).gps.lon), abs=1e-9
    )
    assert gps_tags(jpeg.read_bytes()) == gps_tags(original.read_bytes())
    assert Image.open(jpeg).tobytes() == Image.open(original).tobytes()


def test_writing_the_same_position_twice_changes_nothing_more(journal, jpeg):
    journal.write([WriteRequest(jpeg, SYDNEY)], "first")
    after = sha256_of(jpeg)
    (outcome,) = journal.write([WriteRequest(jpeg, SYDNEY)], "again").outcomes
    assert not outcome.written and outcome.error is None and sha256_of(jpeg) == after


def test_a_broken_photo_is_reported_and_the_rest_written(journal, jpeg, tmp_path, exif_samples):
    broken = copy_sample(exif_samples / "invalid" / "image01137.jpg", tmp_path / "photos")
    junk = tmp_path / "photos" / "junk.jpg"
    junk.write_bytes(b"not an image")
    outcomes = journal.write(
        [WriteRequest(junk, SYDNEY), WriteRequest(jpeg, SYDNEY), WriteRequest(broken, SYDNEY)],
        "test",
    ).outcomes
    assert outcomes[0].error and "junk.jpg" in outcomes[0].error
    assert outcomes[1].written


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (43.5, "43/1 30/1 0/10000"),
        (-0.0000001, "0/1 0/1 4/10000"),
        (11.99999999, "12/1 0/1 0/10000"),
    ],
)
def test_dms_rationals_carry_rounding(value, text):
    assert dms_rationals(value) == text


@pytest.mark.parametrize("bad", [(91, 0), (0, 181), (float("nan"), 0)])
def test_geotag_refuses_impossible_positions(bad):
    with pytest.raises(GeotagError):
        GeoTag(*bad)


def _made_at_test_time(folder: Path, suffix: str) -> Path:
    """A small photo in another format (TIFF, PNG, WebP, and a DNG: TIFF with DNGVersion)."""
    path = folder / f"made{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (64, 48), (200, 100, 50))
    if suffix == ".dng":
        image.save(path, "TIFF", tiffinfo={50706: b"\x01\x04\x00\x00"})
    else:
        image.save(path, {".tif": "TIFF", ".png": "PNG", ".webp": "WEBP"}[suffix])
    return path


@pytest.mark.parametrize("suffix", [".tif", ".png", ".dng", ".webp"])
def test_other_formats_are_written_in_place_and_undone(journal, tmp_path, suffix):
    photo = _made_at_test_time(tmp_path / "made", suffix)
    before, pixels = sha256_of(photo), Image.open(photo).tobytes()
    (outcome,) = journal.write([WriteRequest(photo, SYDNEY)], "test").outcomes
    assert outcome.written, outcome.error
    if suffix == ".webp":  # exifread does not read WebP: Pillow checks what exiv2 wrote
        gps = Image.open(photo).getexif().get_ifd(0x8825)
        assert gps[1] == "S" and float(gps[2][0]) == 33 and gps[3] == "E"
    else:
        lat, lon, _ = exifread_position(photo.read_bytes())
        assert (lat, lon) == pytest.approx((SYDNEY.lat, SYDNEY.lon), abs=1e-7)
    assert Image.open(photo).tobytes() == pixels
    journal.undo()
    assert sha256_of(photo) == before


def test_odd_file_names_are_written_and_undone(journal, tmp_path, exif_samples):
    photo = copy_sample(
        exif_samples / "gps" / "DSCN0010.jpg", tmp_path / "photos", "caffè [1]*.jpg"
    )
    before = sha256_of(photo)
    (outcome,) = journal.write([WriteRequest(photo, SYDNEY, sidecar="darktable")], "t").outcomes
    assert outcome.written and Path(outcome.target).name == "caffè [1]*.jpg.xmp"
    journal.write([WriteRequest(photo, SYDNEY)], "t")
    journal.undo(None)
    assert sha256_of(photo) == before and sorted(p.name for p in photo.parent.iterdir()) == [
        photo.name
    ]


def test_a_full_disk_for_the_backup_changes_nothing(journal, jpeg, monkeypatch):
    before = sha256_of(jpeg)
    real = writer.write_bytes_atomic

    def full(path, data, before_replace=None):
        if "geotag-backups" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, before_replace)

    monkeypatch.setattr(writer, "write_bytes_atomic", full)
    (outcome,) = journal.write([WriteRequest(jpeg, SYDNEY)], "test").outcomes
    assert not outcome.written and "backup" in outcome.error and "not changed" in outcome.error
    assert sha256_of(jpeg) == before
    assert journal.history() == []  # nothing journalled: nothing to recover or undo


@pytest.mark.parametrize(
    ("content", "state"), [("old", "failed"), ("new", "done"), ("other", "conflict")]
)
def test_recovery_names_what_a_crash_left(data_dir, jpeg, content, state):
    """A write left ``pending`` (the process died): the next journal settles it by hash."""
    from sciceapp.engine.catalogue import geotag_journal as rows
    from sciceapp.engine.geotag.tags import write_in_file

    old = jpeg.read_bytes()
    new = write_in_file(old, SYDNEY)
    journal = Journal(data_dir)
    with closing(journal.connect()) as conn:
        change = rows.start_change(conn, "interrupted")
        rows.add_write(
            conn, change, photo=str(jpeg), target=str(jpeg), sidecar=False, source="t",
            old_tags=None, new_tags=SYDNEY.to_json(), old_sha256=writer.sha256(old),
            new_sha256=writer.sha256(new), backup_kind="none",
        )  # fmt: skip
    jpeg.write_bytes({"old": old, "new": new, "other": b"someone else"}[content])
    (write,) = Journal(data_dir).history()[0].writes
    assert write.state == state and write.note
