"""`sciceapp geotag` and `sciceapp review --apply` through the CLI, on copies of the samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from geotag_fixtures import copy_sample, exifread_position, sha256_of
from test_review import ROME, save_with_gps

from sciceapp.cli import main
from sciceapp.engine.geo import haversine_m
from sciceapp.engine.geotag.plans import plan_review
from sciceapp.engine.library import Library
from sciceapp.engine.locate import LocateResult, Match
from sciceapp.engine.review import row_from_result


def run(data_dir: Path, *argv: str) -> int:
    return main(["--data-dir", str(data_dir), *argv])


@pytest.fixture
def photos(tmp_path, exif_samples) -> list[Path]:
    names = ("DSCN0010.jpg", "DSCN0012.jpg")
    return [copy_sample(exif_samples / "gps" / n, tmp_path / "photos") for n in names]


def test_set_history_undo(data_dir, photos, capsys):
    before = [sha256_of(p) for p in photos]
    assert run(data_dir, "geotag", "set", *map(str, photos), "--lat", "-33.85", "--lon",
               "151.21", "--alt", "40", "-q") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("wrote ") == 2 and "change 1" in out
    for photo in photos:
        assert exifread_position(photo.read_bytes()) == pytest.approx((-33.85, 151.21, 40))
    assert run(data_dir, "geotag", "history", "--json") == 0
    (change,) = json.loads(capsys.readouterr().out)
    assert [w["target"] for w in change["writes"]] == [str(p) for p in photos]
    assert all(w["state"] == "done" and w["backup"] == "bytes" for w in change["writes"])
    assert run(data_dir, "geotag", "undo") == 0
    assert capsys.readouterr().out.count("restored ") == 2
    assert [sha256_of(p) for p in photos] == before
    assert run(data_dir, "geotag", "undo") == 0
    assert "nothing to undo" in capsys.readouterr().out
    assert run(data_dir, "geotag", "history") == 0
    assert "undone" in capsys.readouterr().out


def test_dry_run_and_sidecar(data_dir, photos, capsys):
    before = sha256_of(photos[0])
    assert run(data_dir, "geotag", "set", str(photos[0]), "--lat", "1", "--lon", "2",
               "--sidecar", "--dry-run") == 0  # fmt: skip
    assert "would write" in capsys.readouterr().out and not list(photos[0].parent.glob("*.xmp"))
    # a folder stands for the photos in it
    assert run(data_dir, "geotag", "set", str(photos[0].parent), "--lat", "1", "--lon", "2",
               "--dry-run") == 0  # fmt: skip
    assert capsys.readouterr().out.count("would write") == 2
    assert run(data_dir, "geotag", "set", str(photos[0]), "--lat", "1", "--lon", "2",
               "--sidecar", "digikam", "-q") == 0  # fmt: skip
    assert (photos[0].parent / "DSCN0010.xmp").is_file() and sha256_of(photos[0]) == before


def test_read_only_photo_is_a_clear_error(data_dir, photos, capsys):
    photos[0].chmod(0o444)
    before = sha256_of(photos[0])
    code = run(data_dir, "geotag", "set", *map(str, photos), "--lat", "1", "--lon", "2", "-q")
    captured = capsys.readouterr()
    assert code == 1 and "read-only" in captured.err and "Traceback" not in captured.err
    assert sha256_of(photos[0]) == before
    assert exifread_position(photos[1].read_bytes())[:2] == pytest.approx((1, 2))


@pytest.mark.parametrize(
    "argv",
    [
        ["set", "x.jpg", "--lat", "95", "--lon", "0"],
        ["undo", "0"],
        ["gpx", "only.gpx"],
        ["gpx", "t.gpx", "x.jpg", "--offset", "soon"],
    ],
)
def test_bad_arguments_are_clear_errors(data_dir, argv, capsys):
    assert run(data_dir, "geotag", *argv) == 2
    assert "error:" in capsys.readouterr().err


def test_gpx_command_with_offset_finder(data_dir, tmp_path, photos, capsys):
    from test_geotag_gpx import track_point, write_gpx

    gpx = write_gpx(tmp_path / "walk.gpx", list(range(0, 61)))
    lat, lon, _ = track_point(20.25)
    assert run(data_dir, "geotag", "offset", str(gpx), "--photo", str(photos[0]), "--lat",
               str(lat), "--lon", str(lon), "--camera-tz", "Europe/Rome") == 0  # fmt: skip
    assert "offset -00:08:24" in capsys.readouterr().out
    assert run(data_dir, "geotag", "gpx", str(gpx), str(photos[0].parent), "--camera-tz",
               "Europe/Rome", "--offset=-00:08:24", "--max-gap", "2m", "-q") == 0  # fmt: skip
    assert exifread_position(photos[0].read_bytes())[:2] == pytest.approx((lat, lon), abs=1e-6)
    capsys.readouterr()
    assert run(data_dir, "geotag", "history", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert "from GPX track walk.gpx" in history[0]["writes"][0]["new_tags"]["source"]


def _row(path: str, flagged: bool, verified: bool, confidence: float):
    match = Match("ref.jpg", 0.9, 43.46, 11.88, verified=verified)
    result = LocateResult(path, (43.46, 11.88), confidence, [match], query_gps=ROME,
                          error_m=5e5 if flagged else 10.0, cluster=[0], verified=verified)  # fmt: skip
    return row_from_result(result, 1000)


def test_review_plan_takes_verified_confident_predictions_only():
    rows = [
        _row("a.jpg", flagged=True, verified=True, confidence=0.9),
        _row("b.jpg", flagged=True, verified=False, confidence=0.9),
        _row("c.jpg", flagged=True, verified=True, confidence=0.2),
        _row("d.jpg", flagged=False, verified=True, confidence=0.9),
    ]
    plan = plan_review(rows, "arezzo", "flagged", min_confidence=0.5)
    assert [str(r.photo) for r in plan.requests] == ["a.jpg"]
    assert plan.requests[0].tag.source == (
        "sciceapp: predicted from 1 verified match in collection arezzo"
    )
    assert [p for p, _ in plan.left] == ["b.jpg", "c.jpg"]
    everything = plan_review(rows, "arezzo", "all", include_unverified=True)
    assert [str(r.photo) for r in everything.requests] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


@pytest.mark.slow
def test_review_apply_end_to_end(tmp_path, tiny_onnx_model, exif_samples, capsys):
    """A flagged survey photo (DSCN0021's pixels, GPS moved to Rome): the dry run changes
    nothing; without local features the prediction is unverified and left alone unless asked;
    with them it is verified and written by default; undo gives the bytes back."""
    data_dir = tmp_path / "data"
    reference = tmp_path / "reference"
    for source in sorted((exif_samples / "gps").iterdir()):
        copy_sample(source, reference)
    collection = Library(data_dir).create_collection("arezzo", tiny_onnx_model)
    collection.add([reference])
    survey = tmp_path / "survey"
    survey.mkdir()
    moved = survey / "moved.jpg"
    save_with_gps(exif_samples / "gps" / "DSCN0021.jpg", moved, ROME)
    before = sha256_of(moved)
    argv = ["review", str(survey), "-c", "arezzo", "--threshold-m", "500", "-q",
            "--apply", "flagged"]  # fmt: skip
    assert run(data_dir, *argv, "--include-unverified", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would write {moved}" in out and sha256_of(moved) == before
    assert run(data_dir, *argv) == 0
    out = capsys.readouterr().out
    assert "not geometrically verified" in out and sha256_of(moved) == before
    assert run(data_dir, *argv, "--include-unverified") == 0
    assert f"wrote       {moved}" in capsys.readouterr().out
    lat, lon, _ = exifread_position(moved.read_bytes())
    assert haversine_m(lat, lon, 43.467, 11.882) < 2000  # back in Arezzo, not Rome
    assert run(data_dir, "geotag", "undo") == 0
    assert sha256_of(moved) == before

    collection.set_local_features(True)  # now matches are verified geometrically
    assert run(data_dir, *argv) == 0
    out = capsys.readouterr().out
    assert f"wrote       {moved}" in out and "not geometrically verified" not in out
    history = json.loads((run(data_dir, "geotag", "history", "--json"), capsys.readouterr().out)[1])
    assert " verified match" in history[0]["writes"][0]["new_tags"]["source"]
    assert "unverified" not in history[0]["writes"][0]["new_tags"]["source"]
    assert run(data_dir, "geotag", "undo") == 0
    assert sha256_of(moved) == before


@pytest.mark.slow
def test_reference_photos_are_reread_by_the_next_update(tmp_path, tiny_onnx_model, exif_samples):
    data_dir = tmp_path / "data"
    reference = tmp_path / "reference"
    photo = copy_sample(exif_samples / "gps" / "DSCN0010.jpg", reference)
    heic = copy_sample(exif_samples / "phones" / "IMG_5195.HEIC", reference)
    collection = Library(data_dir).create_collection("refs", tiny_onnx_model)
    collection.add([reference])
    assert run(data_dir, "geotag", "set", str(photo), "--lat", "10", "--lon", "20", "-q") == 0
    assert run(data_dir, "geotag", "set", str(heic), "--lat", "-5", "--lon", "-6", "--sidecar",
               "-q") == 0  # fmt: skip
    report = collection.update()
    assert report.updated == 2
    positions = {Path(r.path).name: (r.lat, r.lon) for r in collection.photos()}
    assert positions["DSCN0010.jpg"] == pytest.approx((10, 20))
    assert positions["IMG_5195.HEIC"] == pytest.approx((-5, -6))
    assert run(data_dir, "geotag", "undo", "--all") == 0
    collection.update()
    positions = {Path(r.path).name: (r.lat, r.lon) for r in collection.photos()}
    assert positions["DSCN0010.jpg"] == pytest.approx((43.4674, 11.8851), abs=1e-3)


def test_file_names_reach_the_terminal_escaped_one_way(data_dir, tmp_path, exif_samples, capsys):
    """A name with an escape sequence is printed as the rest of the CLI prints it (\\u001b),
    never raw: geotag uses sciceapp.terminal's escaping, not a look-alike of its own."""
    photo = copy_sample(exif_samples / "gps" / "DSCN0010.jpg", tmp_path, "a\x1b[2Jb.jpg")
    assert run(data_dir, "geotag", "set", str(photo), "--lat", "1", "--lon", "2",
               "--dry-run") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "\x1b" not in out and "a\\u001b[2Jb.jpg" in out
