"""`sciceapp cluster index` on a local Ray (2 CPUs): its shards make the same collection as
`collection add`, a re-run writes only what is missing, and a worker that dies is retried."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sciceapp.cli import main
from sciceapp.cluster.job import IndexOptions, index
from sciceapp.cluster.tasks import EmbedWorker

pytestmark = pytest.mark.slow

COMPARED = ("size", "mtime_ns", "sha256", "lat", "lon", "alt", "taken_at", "gps_reason")


def _rows(folder: Path) -> dict[str, tuple[dict, np.ndarray | None]]:
    """path -> (row, descriptor or None) of every shard in ``folder``."""
    from sciceapp.engine.shards import read_meta, read_shard, shard_files

    found = {}
    for path in shard_files([folder]):
        meta, handle = read_meta(path)
        for rows, vectors, valid in read_shard(handle, meta.descriptor_dim):
            for row, vector, has in zip(rows, vectors, valid, strict=True):
                assert row["path"] not in found, f"{row['path']} is in two shards"
                found[row["path"]] = (row, vector.copy() if has else None)
    return found


def _bad_photos(folder: Path, good: Path) -> Path:
    """Files `collection add` skips, each for its own reason."""
    folder.mkdir()
    (folder / "not-an-image.jpg").write_bytes(b"\xff\xd8\xff\xe0 but nothing after")
    (folder / "empty.jpg").write_bytes(b"")
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    os.mkfifo(folder / "pipe.jpg")
    return folder


def _cli(*args: str) -> None:
    assert main(list(args)) == 0, args


def _assert_same(got: dict, expected: dict, what: str) -> None:
    assert got.keys() == expected.keys(), what
    for path, (row, vector) in expected.items():
        other, other_vector = got[path]
        assert {k: other[k] for k in COMPARED} == {k: row[k] for k in COMPARED}, path
        assert (other["state"], other["reason"]) == (row["state"], row["reason"]), path
        if vector is None:
            assert other_vector is None, path
        else:
            np.testing.assert_allclose(other_vector, vector, atol=1e-6, err_msg=path)


def test_shards_import_into_the_collection_collection_add_makes(
    local_ray, toy_model, exif_samples, real_places, tmp_path, capsys
):
    bad = _bad_photos(tmp_path / "bad", exif_samples / "gps" / "DSCN0010.jpg")
    inputs = [str(exif_samples), str(real_places), str(bad)]
    shards = tmp_path / "shards"
    _cli("cluster", "index", "--model", str(toy_model), "--output", str(shards),
         "--shard-photos", "25", "--batch-size", "8", *inputs)  # fmt: skip
    summary = capsys.readouterr().out
    cluster = _rows(shards)
    assert len(list(shards.glob("photos-*.parquet"))) == -(-len(cluster) // 25) > 2
    skipped_here = sum(row["reason"] is not None for row, _ in cluster.values())
    assert f"{skipped_here} skipped" in summary and "photos/s" in summary
    assert "Workers: model on CPUExecutionProvider" in summary

    common = ("--model", str(toy_model), "--local-features", "off")
    _cli("collection", "create", "added", *common)
    _cli("collection", "add", "added", "--quiet", *inputs)
    _cli("collection", "export-shards", "added", str(tmp_path / "added"), "--quiet")
    _cli("collection", "create", "imported", *common)
    _cli("collection", "import", "imported", str(shards), "--quiet")
    _cli("collection", "export-shards", "imported", str(tmp_path / "imported"), "--quiet")
    added = _rows(tmp_path / "added")

    _assert_same(cluster, added, "the cluster's shards against collection add")
    _assert_same(_rows(tmp_path / "imported"), added, "the imported collection")
    skipped = {Path(p).name: row["reason"] for p, (row, _) in added.items() if row["reason"]}
    assert set(skipped) == {"not-an-image.jpg", "empty.jpg", "truncated.jpg", "pipe.jpg"}
    assert sum(row["lat"] is not None for row, _ in added.values()) >= 9  # the GPS samples


def test_a_rerun_after_a_lost_shard_writes_only_that_shard(
    local_ray, toy_model, exif_samples, tmp_path
):
    shards = tmp_path / "shards"
    options = IndexOptions(shard_photos=3, batch_size=2)
    first = index(toy_model, shards, [str(exif_samples / "gps")], options)
    assert len(first.written) == 3 and first.photos == 9
    lost = sorted(first.written)[1]
    before = {p.name: p.stat() for p in shards.iterdir() if p.name != lost}
    (shards / lost).unlink()

    again = index(toy_model, shards, [str(exif_samples / "gps")], options)
    assert again.written == [lost] and again.photos == 3
    assert sorted(again.kept) == sorted(before)
    for name, stat in before.items():
        now = (shards / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), name
    assert len(_rows(shards)) == 9
    assert index(toy_model, shards, [str(exif_samples / "gps")], options).written == []


def _dies_once(marker: Path) -> type:
    """A worker that kills its own process at its first batch (once: ``marker`` remembers)."""

    class DiesOnce(EmbedWorker):
        def __call__(self, batch):  # noqa: ANN001, ANN204
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)  # the worker process dies as a crashed or killed one does
            return super().__call__(batch)

    return DiesOnce


def test_a_worker_that_dies_is_restarted_and_nothing_is_lost(
    local_ray, toy_model, exif_samples, tmp_path
):
    marker = tmp_path / "died"
    shards = tmp_path / "shards"
    photos = exif_samples / "orientation"
    options = IndexOptions(shard_photos=5, batch_size=3)
    report = index(toy_model, shards, [str(photos)], options, worker_class=_dies_once(marker))
    assert marker.exists()  # a worker did die mid-run
    expected = index(toy_model, tmp_path / "reference", [str(photos)], options)
    assert report.photos == expected.photos == len(_rows(shards)) > 10
    _assert_same(_rows(shards), _rows(tmp_path / "reference"), "after a worker died")
