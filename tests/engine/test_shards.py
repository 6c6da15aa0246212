"""Parquet shards: export and import round trip, idempotent imports, wrong models refused, a
killed import resumes with nothing lost or doubled."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sciceapp.cli import main
from sciceapp.engine import shards
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError


@pytest.fixture
def source(data_dir: Path, toy_model: Path, make_photos):
    """A collection of 7 photos (one without GPS, one unreadable: skipped)."""
    collection = Library(data_dir).create_collection("src", toy_model)
    photos = make_photos(5) + make_photos(1, gps=False, start=50)
    (photos[0].parent / "broken.jpg").write_bytes(b"not a jpeg")
    collection.add([photos[0].parent])
    return collection


def _by_path(collection) -> dict:
    opened = collection.index()
    rows = {}
    for r in collection.photos():
        vector = opened.store.vectors_of([r.id])[0] if r.state == "indexed" else None
        rows[r.path] = (
            r.state,
            r.skip_reason,
            r.lat,
            r.lon,
            r.alt,
            r.gps_reason,
            r.sha256,
            r.size,
            r.mtime_ns,
            r.capture_time,
            vector,
        )
    return rows


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for path in a:
        *meta_a, vec_a = a[path]
        *meta_b, vec_b = b[path]
        assert meta_a == meta_b, path
        assert (vec_a is None) == (vec_b is None)
        if vec_a is not None:
            assert np.array_equal(vec_a, vec_b)


def test_export_import_round_trip_and_second_import_adds_nothing(source, tmp_path, capsys):
    dd = ["--data-dir", str(source.library.data_dir)]
    out = tmp_path / "shards"
    assert (
        main([*dd, "collection", "export-shards", "src", str(out), "--rows-per-shard", "4", "-q"])
        == 0
    )
    files = sorted(out.glob("*.parquet"))
    assert [f.name for f in files] == ["shard-00000.parquet", "shard-00001.parquet"]
    meta = pq.read_schema(files[0]).metadata
    assert meta[b"sciceapp.schema_version"] == b"1"
    assert meta[b"sciceapp.model_sha256"] == source.model_sha256.encode()
    assert meta[b"sciceapp.descriptor_dim"] == str(source.descriptor_dim).encode()
    table = pq.read_table(files[0])
    assert table.schema.field("descriptor").type.list_size == source.descriptor_dim
    assert set(table.column_names) == {
        "path",
        "size",
        "mtime_ns",
        "sha256",
        "lat",
        "lon",
        "alt",
        "taken_at",
        "gps_reason",
        "state",
        "reason",
        "descriptor",
    }

    library = source.library
    target = library.create_collection("dst", source.model_path)
    capsys.readouterr()
    assert main([*dd, "collection", "import", "dst", str(out), "-q"]) == 0
    assert "added 6, updated 0, removed 0, unchanged 0, skipped 1" in capsys.readouterr().out
    _same(_by_path(source), _by_path(target))
    assert main([*dd, "collection", "import", "dst", str(files[1]), str(out), "-q"]) == 0
    assert "added 0, updated 0, removed 0, unchanged 10" in capsys.readouterr().out
    assert target.summary().total == 7
    target.index().store.verify()


def test_a_changed_photo_in_a_shard_replaces_the_old_one(source, tmp_path):
    out = tmp_path / "shards"
    (path,) = source.export_shards(out)
    table = pq.read_table(path)
    rows = table.to_pylist()
    first = next(r for r in rows if r["state"] == "indexed")
    first["sha256"] = "0" * 64
    first["descriptor"] = list(np.eye(source.descriptor_dim, dtype=np.float32)[0])
    changed = tmp_path / "changed.parquet"
    pq.write_table(type(table).from_pylist([first], schema=table.schema), changed)
    report = source.import_shards([changed])
    assert (report.added, report.updated) == (0, 1)
    record = next(r for r in source.photos() if r.path == first["path"])
    assert record.sha256 == "0" * 64
    assert source.index().store.vectors_of([record.id])[0][0] == 1.0
    assert source.summary().total == 7


def test_shard_of_another_model_is_refused_naming_both(source, tmp_path, model_builder):
    other_model = model_builder(
        tmp_path / "other.onnx", model_builder.meta(**{"sciceapp.label": "Other model"})
    )
    other = source.library.create_collection("other", other_model)
    (path,) = source.export_shards(tmp_path / "shards")
    with pytest.raises(CollectionError) as info:
        other.import_shards([path])
    message = str(info.value)
    assert "Toy pooling model" in message and "Other model" in message
    assert source.model_sha256[:12] in message and other.model_sha256[:12] in message
    assert other.summary().total == 0
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nothing")
    with pytest.raises(CollectionError, match="not a readable Parquet shard"):
        other.import_shards([tmp_path / "bad.parquet"])


def test_shard_writer_leaves_no_file_when_interrupted(tmp_path):
    meta = shards.ShardMeta("ab" * 32, 4, "m")
    target = tmp_path / "out" / "s.parquet"
    with pytest.raises(RuntimeError), shards.ShardWriter(target, meta) as writer:
        writer.write(
            [
                shards.ShardRow(
                    "/p", 1, 2, None, None, None, None, None, None, "indexed", None, np.ones(4)
                )
            ]
        )
        raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []


def test_shard_writer_leaves_no_file_when_its_last_row_group_cannot_be_written(tmp_path):
    """The rows still pending are written when the block ends; a row that cannot be written
    (here a state the format does not have; with pyarrow before 25, any skipped photo) fails
    the writer there, and no half-written file may take the shard's place."""
    meta = shards.ShardMeta("ab" * 32, 4, "m")
    target = tmp_path / "out" / "s.parquet"
    row = shards.ShardRow("/p", 1, 2, None, None, None, None, None, None, "lost", None, None)
    with pytest.raises(ValueError, match="state"), shards.ShardWriter(target, meta) as writer:
        writer.write([row])
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_descriptors_are_written_plain_so_that_reading_them_is_not_dictionary_decoding(
    tmp_path, dtype
):
    """Dictionary-encoded, compressed descriptor values made reading a shard 8.6x slower
    (benchmarks/RESULTS.md); the other columns keep pyarrow's defaults."""
    meta = shards.ShardMeta("ab" * 32, 8, "m")
    target = tmp_path / "s.parquet"
    rows = [
        shards.ShardRow(
            f"/p{i}", 1, 2, None, None, None, None, None, None, "indexed", None, np.full(8, i % 3)
        )
        for i in range(40)
    ]
    with shards.ShardWriter(target, meta, dtype) as writer:
        writer.write(rows)
    group = pq.ParquetFile(target).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    descriptor = columns["descriptor.list.element"]
    assert descriptor.compression == "UNCOMPRESSED"
    assert not descriptor.has_dictionary_page
    assert "RLE_DICTIONARY" not in descriptor.encodings
    assert columns["path"].compression == "SNAPPY"
    _, handle = shards.read_meta(target)
    ((_, vectors, valid),) = shards.read_shard(handle, 8)
    assert valid.all() and np.array_equal(vectors[:, 0], [i % 3 for i in range(40)])


KILLED_IMPORT = r"""
import sys
from sciceapp.engine import catalogue
from sciceapp.engine.library import Library
from sciceapp.engine.collection import CollectionOptions
collection = Library(sys.argv[1]).open_collection("dst", CollectionOptions(checkpoint_s=0))
real_commit = catalogue.commit_saved
commits = 0

def commit(*args, **kwargs):
    global commits
    commits += 1
    if commits == 2:
        print("stalled", flush=True)
        sys.stdin.readline()
    real_commit(*args, **kwargs)

catalogue.commit_saved = commit
collection.import_shards([sys.argv[2]])
"""


def test_killed_import_resumes_with_nothing_lost_or_doubled(source, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "ROW_GROUP_ROWS", 2)  # 4 row groups: a checkpoint after each
    out = tmp_path / "shards"
    source.export_shards(out)
    assert pq.ParquetFile(next(out.glob("*.parquet"))).num_row_groups == 4
    library = source.library
    target = library.create_collection("dst", source.model_path)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_IMPORT, str(library.data_dir), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "stalled\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    first_group = pq.ParquetFile(next(out.glob("*.parquet"))).read_row_group(0)
    committed = first_group.column("state").to_pylist().count("indexed")
    assert target.index().store.rows == committed  # only the first row group was committed
    report = target.import_shards([out])
    assert report.unchanged == 2 and report.added + len(report.skipped) == 5
    _same(_by_path(source), _by_path(target))
    target.index().store.verify()
    assert target.index().store.rows == 6  # the torn segment was cut off, not kept twice


def test_import_holds_one_row_group_at_a_time(source, tmp_path, monkeypatch):
    """Memory of an import is bounded by a row group: what pyarrow holds when each group is
    read does not grow with the groups read before it (keeping them would add one each)."""
    import pyarrow as pa

    rows_per_group, groups = 512, 8
    meta = shards.ShardMeta(source.model_sha256, source.descriptor_dim, source.model_label)
    rng = np.random.default_rng(0)
    path = tmp_path / "big.parquet"
    with shards.ShardWriter(path, meta, row_group_rows=rows_per_group) as writer:
        for i in range(rows_per_group * groups):
            vector = rng.standard_normal(source.descriptor_dim).astype(np.float32)
            writer.write(
                [
                    shards.ShardRow(
                        f"/elsewhere/{i:05d}.jpg", 1000 + i, i, f"{i:064x}", 1.0, 2.0, None,
                        None, None, "indexed", None, vector / np.linalg.norm(vector),
                    )
                ]
            )  # fmt: skip
    group_bytes = pq.ParquetFile(path).read_row_group(0).nbytes
    held: list[int] = []
    real_read = pq.ParquetFile.read_row_group

    def reading(self, i, *args, **kwargs):
        held.append(pa.total_allocated_bytes())
        return real_read(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", reading)
    target = source.library.create_collection("dst", source.model_path)
    assert target.import_shards([path]).added == rows_per_group * groups
    assert len(held) == groups
    # The group being written and its copies, whichever group it is: no growth after the
    # first, and far less than the 8 groups the shard holds.
    assert max(held[2:]) - held[1] < group_bytes / 2, (held, group_bytes)
    assert max(held) - held[0] < 4 * group_bytes, (held, group_bytes)
