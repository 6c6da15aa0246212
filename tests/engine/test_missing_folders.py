"""A folder that is missing at `update` (unplugged drive, renamed folder, unmounted share)
keeps its photos, marked "folder not found"; only `remove-folder` or `update --prune-missing`
drop them."""

from __future__ import annotations

import json

from sciceapp.cli import main
from sciceapp.engine.library import Library


def _setup(data_dir, toy_model, make_photos):
    collection = Library(data_dir).create_collection("c", toy_model)
    kept = make_photos(3, folder="kept")[0].parent
    drive = make_photos(2, folder="drive", start=10)[0].parent
    collection.add([kept, drive])
    return collection, kept, drive


def test_a_missing_folder_keeps_its_photos_and_comes_back_without_re_embedding(
    data_dir, toy_model, make_photos, capsys
):
    collection, kept, drive = _setup(data_dir, toy_model, make_photos)
    unplugged = drive.with_name("elsewhere")
    drive.rename(unplugged)
    assert main(["collection", "update", "c", "-q"]) == 0
    out = capsys.readouterr().out
    assert "removed 0" in out and f"folder not found: {drive}" in out
    assert "2 photos kept" in out and "remove-folder" in out
    summary = collection.summary()
    assert summary.indexed == 5 and summary.missing_folders == [str(drive)]
    assert collection.index().ntotal == 5
    assert main(["collection", "show", "c", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing_folders"] == [str(drive)]
    assert main(["collection", "show", "c"]) == 0
    assert f"{drive} (folder not found" in capsys.readouterr().out

    unplugged.rename(drive)  # plugged back in
    report = collection.update()
    assert (report.added, report.removed, report.unchanged) == (0, 0, 5)
    assert collection.summary().missing_folders == []


def test_an_empty_folder_that_had_photos_is_treated_as_not_mounted(
    data_dir, toy_model, make_photos
):
    collection, _, drive = _setup(data_dir, toy_model, make_photos)
    for photo in drive.iterdir():
        photo.unlink()  # what an unmounted share's mount point looks like
    report = collection.update()
    assert report.removed == 0 and report.missing_roots == [str(drive)]
    assert collection.summary().indexed == 5


def test_prune_missing_and_remove_folder_are_the_ways_to_drop_photos(
    data_dir, toy_model, make_photos, capsys
):
    collection, kept, drive = _setup(data_dir, toy_model, make_photos)
    drive.rename(drive.with_name("gone"))
    assert main(["collection", "update", "c", "--prune-missing", "-q"]) == 0
    assert "removed 2" in capsys.readouterr().out
    assert collection.summary().indexed == 3 and collection.summary().missing_folders == []

    assert main(["collection", "remove-folder", "c", str(kept)]) == 0
    assert "removed 3" in capsys.readouterr().out
    assert collection.summary().total == 0 and collection.index().ntotal == 0
    assert collection.update().added == 0  # the folder is no longer part of the collection

    assert main(["collection", "remove-folder", "c", str(kept)]) == 2
    assert "is not a folder of collection 'c'" in capsys.readouterr().err
