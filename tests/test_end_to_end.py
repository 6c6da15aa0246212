"""Issue 3's "Done when": from a tiny random-weight model to a located photo, all through the CLI.

The query is a mildly altered copy of one Arezzo photo: the central 90 % of the frame, 8 %
brighter, saved as a new JPEG *without* EXIF, so the prediction can only come from the match
(the query carries no GPS of its own to fall back on).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageEnhance

from sciceapp.cli import main
from sciceapp.engine.exif import read_photo_meta
from sciceapp.engine.geo import haversine_m

QUERY_SOURCE = "DSCN0027.jpg"
CROP = 0.9
BRIGHTNESS = 1.08
MAX_ERROR_M = 50.0


def altered_copy(source, dest):
    image = Image.open(source).convert("RGB")
    width, height = image.size
    left, top = round(width * (1 - CROP) / 2), round(height * (1 - CROP) / 2)
    image = image.crop((left, top, width - left, height - top))
    ImageEnhance.Brightness(image).enhance(BRIGHTNESS).save(dest, "JPEG", quality=90)
    return dest


def test_index_the_samples_and_locate_an_altered_arezzo_photo(
    tiny_onnx_model, exif_samples, data_dir, tmp_path, capsys
):
    def cli(*argv):
        code = main(["--data-dir", str(data_dir), *argv])
        out = capsys.readouterr().out
        assert code == 0, f"sciceapp {' '.join(argv)} failed"
        return out

    cli("collection", "create", "samples", "--model", str(tiny_onnx_model))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "empty.jpg").write_bytes(b"")
    (broken / "notes.jpg").write_text("not a photo", encoding="utf-8")
    whole = (exif_samples / "gps" / "DSCN0010.jpg").read_bytes()
    (broken / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    sources = [exif_samples / name for name in ("gps", "phones", "invalid")] + [broken]
    cli("collection", "add", "samples", "--quiet", *map(str, sources))
    shown = json.loads(cli("collection", "show", "samples", "--json"))

    from sciceapp.engine.library import Library

    photos = {Path(p.path): p for p in Library(data_dir).open_collection("samples").photos()}
    for path in [*(exif_samples / "gps").iterdir(), exif_samples / "phones" / "IMG_5195.HEIC"]:
        assert photos[path].state == "indexed", f"{path.name}: {photos[path].skip_reason}"
        assert photos[path].lat is not None, f"{path.name}: {photos[path].gps_reason}"
    skipped = {Path(item["path"]).name: item["reason"] for item in shown["skipped_files"]}
    assert set(skipped) == {"empty.jpg", "notes.jpg", "truncated.jpg"}
    assert all(reason.strip() for reason in skipped.values())
    # The samples in invalid/ have broken EXIF blocks but decodable pixels: they are indexed,
    # without GPS, each with the reason it has none.
    for path in (exif_samples / "invalid").iterdir():
        record = photos[path]
        assert (
            record.state == "skipped"
            and record.skip_reason
            or (record.lat is None and record.gps_reason)
        ), path.name

    original = exif_samples / "gps" / QUERY_SOURCE
    query = altered_copy(original, tmp_path / "altered.jpg")
    assert read_photo_meta(query).gps is None
    (result,) = json.loads(cli("locate", str(query), "--collection", "samples", "--json", "-q"))

    ranking = [(m["path"], round(m["score"], 4)) for m in result["matches"]]
    assert result["matches"][0]["path"] == str(original), f"ranking: {ranking}"
    truth = read_photo_meta(original).gps
    predicted = result["predicted"]
    error_m = haversine_m(predicted["lat"], predicted["lon"], truth.lat, truth.lon)
    assert error_m < MAX_ERROR_M, f"prediction {predicted} is {error_m:.0f} m off; {ranking}"
    assert result["query_gps"] is None and result["error_m"] is None
    assert 0 < result["confidence"] <= 1
