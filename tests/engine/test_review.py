"""Survey review against the Arezzo collection: agreement, flags, photos without GPS, exports."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from PIL import Image
from search_fixtures import arezzo_fixture  # noqa: F401  (the `arezzo` fixture)

from sciceapp.engine.geo import haversine_m
from sciceapp.engine.review import CSV_COLUMNS, review, write_csv, write_geojson
from sciceapp.errors import CollectionError

ROME = (41.9028, 12.4964)
GPS_IFD = 0x8825


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return (degrees, minutes, round(((value - degrees) * 60 - minutes) * 60, 4))


def save_with_gps(source, dest, position):
    """Re-save ``source``'s pixels as a JPEG at ``dest`` with ``position`` (or no EXIF)."""
    image = Image.open(source)
    exif = Image.Exif()
    if position is not None:
        lat, lon = position
        # Set as a whole: Pillow 11.0 and older drop an IFD filled in through get_ifd().
        exif[GPS_IFD] = {
            1: "N" if lat >= 0 else "S",
            2: _dms(lat),
            3: "E" if lon >= 0 else "W",
            4: _dms(lon),
        }
    image.save(dest, "JPEG", quality=95, exif=exif.tobytes())


@pytest.fixture(scope="module")
def survey(tmp_path_factory, exif_samples):
    folder = tmp_path_factory.mktemp("survey")
    source = exif_samples / "gps" / "DSCN0021.jpg"
    shutil.copy(source, folder / "a_true.jpg")
    save_with_gps(source, folder / "b_moved_to_rome.jpg", ROME)
    save_with_gps(source, folder / "c_no_gps.jpg", None)
    (folder / "d_broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    return folder


@pytest.fixture(scope="module")
def rows(arezzo, survey):
    _, collection = arezzo
    return review(collection, [survey], threshold_m=500)


def test_each_photo_gets_one_row_with_the_right_status(rows, survey):
    assert [r.path for r in rows] == sorted(str(p) for p in survey.iterdir())
    assert [r.status for r in rows] == ["checked", "checked", "no_gps", "error"]
    assert rows[2].note and rows[3].note
    assert rows[2].recorded is None and rows[2].distance_m is None and not rows[2].flagged


def test_a_photo_whose_gps_disagrees_is_flagged(rows, exif_samples):
    true, moved = rows[0], rows[1]
    # a_true.jpg is a copy of a reference photo: by its content it is not its own match, and
    # its distance is measured against the other photos of the collection.
    assert true.result.in_collection
    assert not any(m.path.endswith("DSCN0021.jpg") for m in true.result.matches)
    assert true.distance_m is not None and true.distance_m < 2_000  # somewhere in Arezzo
    assert moved.flagged
    assert moved.recorded == pytest.approx(ROME, abs=1e-4)
    assert moved.distance_m == pytest.approx(haversine_m(*moved.predicted, *ROME))
    assert moved.distance_m > 150_000  # Arezzo to Rome


def test_threshold_decides_the_flag(arezzo, survey):
    _, collection = arezzo
    lenient = review(collection, [survey / "b_moved_to_rome.jpg"], threshold_m=1_000_000)
    assert [r.flagged for r in lenient] == [False]


def test_review_does_not_count_the_photo_itself(arezzo, exif_samples):
    _, collection = arezzo
    reference = exif_samples / "gps" / "DSCN0021.jpg"
    (row,) = review(collection, [reference])
    assert str(reference) not in [m.path for m in row.result.matches]


def test_a_missing_folder_is_a_clear_error(arezzo, tmp_path):
    _, collection = arezzo
    with pytest.raises(CollectionError, match="does not exist"):
        review(collection, [tmp_path / "nowhere"])


def test_csv_export_has_one_line_per_photo(rows, tmp_path):
    path = write_csv(rows, tmp_path / "review.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == CSV_COLUMNS
    assert [t["status"] for t in table] == [r.status for r in rows]
    assert [t["flagged"] for t in table] == ["0", "1", "0", "0"]
    assert float(table[1]["recorded_lat"]) == pytest.approx(ROME[0], abs=1e-4)
    assert table[2]["recorded_lat"] == "" and table[2]["note"]
    # Place names (offline): the Rome tag is named as Rome, the prediction as Arezzo.
    assert table[1]["recorded_place"].startswith("Rome") and "Lazio" in table[1]["recorded_place"]
    assert table[1]["predicted_place"] == "Arezzo, Tuscany, Italy"
    assert table[2]["recorded_place"] == "" and table[3]["predicted_place"] == ""


def test_csv_defuses_spreadsheet_formulas(tmp_path):
    from sciceapp.engine.review import ReviewRow

    row = ReviewRow("=HYPERLINK(1)", "no_gps", None, None, None, 0.0, False, "@x")
    text = write_csv([row], tmp_path / "r.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in text and "'@x" in text


def test_geojson_export_is_valid_with_lon_lat_order(rows, tmp_path):
    data = json.loads(write_geojson(rows, tmp_path / "review.geojson").read_text("utf-8"))
    assert data["type"] == "FeatureCollection"
    for feature in data["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -90 <= lat <= 90 and -180 <= lon <= 180
    moved = [f for f in data["features"] if f["properties"]["photo"] == rows[1].path]
    roles = {f["properties"]["role"]: f["geometry"]["coordinates"] for f in moved}
    assert roles["recorded"] == pytest.approx([ROME[1], ROME[0]], abs=1e-4)
    assert roles["predicted"] == pytest.approx([rows[1].predicted[1], rows[1].predicted[0]])
    assert moved[0]["properties"]["flagged"] is True
    no_gps = [f for f in data["features"] if f["properties"]["photo"] == rows[2].path]
    assert [f["properties"]["role"] for f in no_gps] == ["predicted"]


def test_a_folder_without_photos_is_a_clear_error(arezzo, tmp_path):
    _, collection = arezzo
    (tmp_path / "notes.txt").write_text("no photos here", encoding="utf-8")
    with pytest.raises(CollectionError, match="No photos found"):
        review(collection, [tmp_path])


def test_reread_position_sees_a_written_location_and_its_sidecar(tmp_path, exif_samples):
    """After sciceapp writes a photo's location, a view re-reads it: the file's new GPS, or a
    sidecar's, which wins as it does when the photo is located."""
    from sciceapp.engine.geotag.sidecar import sidecar_path
    from sciceapp.engine.geotag.tags import GeoTag, write_in_file, write_sidecar
    from sciceapp.engine.locate import LocateResult
    from sciceapp.engine.review import reread_position

    photo = tmp_path / "p.jpg"
    shutil.copyfile(exif_samples / "gps" / "DSCN0021.jpg", photo)
    located = LocateResult(str(photo), (43.467, 11.882), 0.5, [], (43.467, 11.882), 0.0)
    photo.write_bytes(write_in_file(photo.read_bytes(), GeoTag(41.9028, 12.4964)))
    moved = reread_position(located)
    assert moved.query_gps == pytest.approx((41.9028, 12.4964), abs=1e-6)
    assert moved.error_m == pytest.approx(haversine_m(43.467, 11.882, 41.9028, 12.4964))
    assert moved.predicted == located.predicted and located.query_gps == (43.467, 11.882)
    sidecar_path(photo).write_bytes(write_sidecar(None, GeoTag(45.0, 7.0)))
    assert reread_position(located).query_gps == pytest.approx((45.0, 7.0), abs=1e-6)
