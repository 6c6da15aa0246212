"""`sciceapp cluster index` refuses bad input with a message, before any Ray starts; shard
names say which photos they cover."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from sciceapp.cli import main
from sciceapp.cluster.inputs import InputFile, foreign_shards, list_inputs, plan_shards


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["cluster", "index", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_without_ray_it_says_to_install_the_cluster_extra(capsys, monkeypatch, toy_model, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    code, text = _run(capsys, "--model", str(toy_model), "--output", str(tmp_path), str(tmp_path))
    assert code == 2
    assert "pip install 'sciceapp[cluster]'" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "problem", ["bad model", "empty input", "missing input", "provider", "file output", "address"]
)
def test_bad_input_is_a_message_not_a_traceback(capsys, toy_model, tmp_path, exif_samples, problem):
    import ray

    empty = tmp_path / "empty"
    empty.mkdir()
    model, output, inputs = str(toy_model), str(tmp_path / "shards"), [str(exif_samples / "gps")]
    extra: list[str] = []
    expected = {
        "bad model": "not a usable sciceapp model",
        "empty input": "No photos found",
        "missing input": "does not exist",
        "provider": "Unknown provider 'gpu-please'",
        "file output": "must be a folder",
        "address": "No Ray cluster answers at 127.0.0.1:1",
    }[problem]
    if problem == "bad model":
        model = str(tmp_path / "model.onnx")
        Path(model).write_bytes(b"this is not an ONNX file")
    elif problem == "empty input":
        inputs = [str(empty)]
    elif problem == "missing input":
        inputs = [str(tmp_path / "nowhere")]
    elif problem == "address":  # nothing listens on port 1: refused at once, not retried
        extra = ["--address", "127.0.0.1:1"]
    elif problem == "provider":
        extra = ["--provider", "gpu-please"]
    else:
        output = str(tmp_path / "a-file")
        Path(output).write_text("x")
    code, text = _run(capsys, "--model", model, "--output", output, *extra, *inputs)
    assert code == 2, text
    assert expected in text and "Traceback" not in text
    assert not ray.is_initialized()  # refused before any Ray was started


def _files(count: int) -> list[InputFile]:
    return [InputFile(f"/photos/{i:03d}.jpg", 1000 + i, 10**18 + i) for i in range(count)]


def test_shard_names_say_which_photos_they_cover_and_change_with_them():
    files = _files(7)
    plans = plan_shards(files, "a" * 64, shard_photos=3)
    assert [p.name[:23] for p in plans] == [
        "photos-0000000-0000002-",
        "photos-0000003-0000005-",
        "photos-0000006-0000006-",
    ]
    assert [len(p.files) for p in plans] == [3, 3, 1]
    assert plan_shards(files, "a" * 64, shard_photos=3) == plans  # a re-run finds them again
    touched = list(files)
    touched[4] = InputFile(files[4].name, files[4].size, files[4].mtime_ns + 1)
    again = plan_shards(touched, "a" * 64, shard_photos=3)
    assert [a.name == b.name for a, b in zip(plans, again, strict=True)] == [True, False, True]
    other_model = plan_shards(files, "b" * 64, shard_photos=3)
    assert not {p.name for p in plans} & {p.name for p in other_model}


def test_shards_of_other_runs_are_pointed_out(tmp_path):
    plans = plan_shards(_files(4), "a" * 64, shard_photos=2)
    (tmp_path / plans[0].name).write_bytes(b"")
    stale = plan_shards(_files(5), "a" * 64, shard_photos=2)[2].name
    (tmp_path / stale).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a shard")
    assert foreign_shards(tmp_path, plans) == [stale]


def test_local_listing_is_the_scanner_of_collection_add(exif_samples, tmp_path):
    from sciceapp.engine.pipeline import scan

    hidden = tmp_path / ".thumbnails"
    hidden.mkdir()
    (hidden / "x.jpg").write_bytes(b"")
    (tmp_path / "y.jpg").write_bytes(b"")
    listed = list_inputs([exif_samples, tmp_path, f"file://{exif_samples}"])
    assert [f.name for f in listed] == [str(p) for p in scan([exif_samples, tmp_path])]
    assert all(f.size == Path(f.name).stat().st_size for f in listed)


def test_a_pyarrow_filesystem_is_listed_by_the_scanner_s_rules(exif_samples, tmp_path):
    """What an s3:// or gs:// input gets, through pyarrow's local filesystem: the same photos
    as the local scanner finds (image extensions, no hidden folders), with sizes and times."""
    from sciceapp.cluster.inputs import _list_arrow
    from sciceapp.engine.pipeline import scan

    shutil.copytree(exif_samples, tmp_path / "photos")
    (tmp_path / "photos" / ".cache").mkdir()
    (tmp_path / "photos" / ".cache" / "thumb.jpg").write_bytes(b"")
    (tmp_path / "photos" / "notes.txt").write_text("not a photo")
    listed = sorted(_list_arrow(f"file://{tmp_path / 'photos'}"), key=lambda f: f.name)
    local = scan([tmp_path / "photos"])
    assert [f.name for f in listed] == [f"file://{p}" for p in local]
    assert [(f.size, f.mtime_ns) for f in listed] == [
        (p.stat().st_size, p.stat().st_mtime_ns) for p in local
    ]
