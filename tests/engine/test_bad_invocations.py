"""What a user's mistake, a bad file, a bad folder or a full disk does to the command line:
exit code 1 or 2, a message that says what is wrong, and never a Python traceback.

Each case runs ``sciceapp.cli.main`` in this process (an exception escaping it is a
traceback), and the cases that could hang or crash the process also run as a subprocess
with a timeout, whose stderr must not contain "Traceback".
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sciceapp.cli import main
from sciceapp.engine.library import Library

HERE = Path(__file__).resolve().parent

BAD_SHARDS = ("junk", "truncated", "version", "dimension", "columns", "types", "no-path")
# {data} the populated data folder, {model} its model, {photo} one photo, {photos} their
# folder, {tmp} a scratch folder with bad files in it (see `bad_files`), {shards} bad shards.
USER_MISTAKES = [
    ["collection", "create", "x", "--model", "{model}", "--index-kind", "ivfpq", "--nlist", "0"],
    ["collection", "create", "x", "--model", "{model}", "--index-kind", "ivfpq", "--pq-bits", "40"],
    ["collection", "create", "x", "--model", "{model}", "--index-kind", "ivfpq", "--nprobe", "-1"],
    ["collection", "create", "x", "--model", "{tmp}/missing.onnx"],
    ["collection", "create", "c", "--model", "{model}"],
    ["collection", "create", "bad\x1b[2Jname", "--model", "{model}"],
    ["collection", "show", "nope"],
    ["collection", "add", "c", "{tmp}/missing-folder"],
    ["collection", "add", "c", "{photos}", "--batch-size", "-3"],
    ["collection", "remove-folder", "c", "{tmp}"],
    ["locate", "-c", "c", "{photo}", "--top-k", "1000000000"],
    ["locate", "-c", "c", "{photo}", "--top-k", "0"],
    ["locate", "-c", "c", "{photo}", "--radius-m", "nan"],
    ["locate", "-c", "c", "{photo}", "--radius-m", "-5"],
    ["locate", "-c", "c", "{tmp}/missing.jpg"],
    ["review", "-c", "c", "{photos}", "--threshold-m", "0"],
    ["review", "-c", "c", "{photos}", "--threshold-m", "-1"],
    ["model", "export", "--preset", "tiny", "--random-init", "--output", "/proc/x.onnx"],
    ["model", "fetch", "dinov2_vits14", "--url", "not a url"],
    ["model", "fetch", "dinov2_vits14", "--url", "http://[::1"],
    ["model", "fetch", "dinov2_vits14", "--dest", "/proc/x"],
    ["model", "fetch", "no-such-model"],
    ["map", "-c", "c", "--output", "{tmp}"],
]
BAD_FILES = [
    ["locate", "-c", "c", "{tmp}/p.jpg"],  # a FIFO
    ["locate", "-c", "c", "{tmp}/zero.jpg"],  # a symlink to /dev/zero
    ["locate", "-c", "c", "{tmp}/sparse.jpg"],  # 3 GB of nothing
    ["locate", "-c", "c", "{tmp}/notes.jpg"],  # text
    ["map", "-c", "c", "--queries", "{tmp}/deep.json", "--output", "{tmp}/m.html"],
    ["map", "-c", "c", "--queries", "{tmp}/notes.jpg", "--output", "{tmp}/m.html"],
    ["map", "-c", "c", "--queries", "{tmp}/p.jpg", "--output", "{tmp}/m.html"],
    ["model", "info", "{tmp}/page.onnx"],
    ["model", "info", "{tmp}/p.jpg"],
    ["model", "import", "{tmp}/page.onnx"],
    ["collection", "create", "y", "--model", "{tmp}/zero.jpg"],
    ["review", "-c", "c", "{photos}", "--csv", "/dev/full"],
    ["locate", "-c", "c", "{photo}", "--output", "/dev/full"],
    # Shards (see `_bad_shards`): not Parquet, cut short, another format version, another
    # descriptor size, a column missing, a column of another type, rows without a path.
    *(["collection", "import", "c", f"{{shards}}/{name}.parquet"] for name in BAD_SHARDS),
]
BAD_FOLDERS = [
    ["--data-dir", "{tmp}/notes.jpg", "collection", "list"],
    ["--data-dir", "{tmp}/notes.jpg/sub", "collection", "list"],
    ["--data-dir", "/proc/sciceapp", "collection", "list"],
    ["--data-dir", "~nosuchuser/x", "collection", "list"],
    ["--data-dir", "{tmp}/read-only", "collection", "list"],
    ["--data-dir", "{tmp}/read-only/inside", "model", "list"],
    ["collection", "add", "c", "{photos}", "--output-dir-is-not-an-option"],
]
# Run as subprocesses too: these hung, aborted or printed tracebacks before.
SUBPROCESS = [
    ["locate", "-c", "c", "{tmp}/p.jpg", "-q"],
    ["locate", "-c", "c", "{tmp}/zero.jpg", "-q"],
    ["--data-dir", "{tmp}/notes.jpg", "collection", "list"],
    ["collection", "create", "x", "--model", "{model}", "--index-kind", "ivfpq", "--nlist", "0"],
    ["collection", "import", "c", "{shards}/truncated.parquet", "-q"],
    ["collection", "import", "c", "{shards}/no-path.parquet", "-q"],
]


def _engine_conftest():
    """tests/engine/conftest.py as a module (its builders, for a module-scoped fixture)."""
    spec = importlib.util.spec_from_file_location("engine_conftest", HERE / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def populated(tmp_path_factory) -> Path:
    engine = _engine_conftest()
    root = tmp_path_factory.mktemp("populated")
    model = engine.build_toy_model(root / "toy.onnx")
    photos = [engine.write_photo(root / "photos" / f"p{i}.jpg", seed=i) for i in range(3)]
    Library(root / "data").create_collection("c", model).add(photos)
    _bad_shards(Library(root / "data").open_collection("c"), root / "shards")
    return root


def _bad_shards(collection, folder: Path) -> None:
    """One shard per name of ``BAD_SHARDS`` in ``folder``, each wrong in one way."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sciceapp.engine.shards import ShardMeta, schema

    (good,) = collection.export_shards(folder / "good")
    table = pq.read_table(good)
    data = good.read_bytes()
    (folder / "junk.parquet").write_bytes(b"PAR1" + b"not parquet at all" * 10)
    (folder / "truncated.parquet").write_bytes(data[: len(data) // 2])

    def write(name: str, table: pa.Table, meta: ShardMeta) -> None:
        pq.write_table(table.replace_schema_metadata(meta.as_metadata()), folder / name)

    meta = ShardMeta(collection.model_sha256, collection.descriptor_dim, collection.model_label)
    write("version.parquet", table, dataclasses.replace(meta, schema_version="2"))
    small = ShardMeta(meta.model_sha256, 7, meta.model_label)
    rows = table.drop_columns(["descriptor"]).to_pylist()
    seven = pa.table(
        {**{n: [r[n] for r in rows] for n in rows[0]}, "descriptor": [[0.5] * 7] * len(rows)},
        schema=schema(small),
    )
    write("dimension.parquet", seven, small)
    write("columns.parquet", table.drop_columns(["sha256"]), meta)
    write(
        "types.parquet", table.set_column(1, "size", table.column("size").cast(pa.string())), meta
    )
    nullable = table.schema.set(0, pa.field("path", pa.string(), nullable=True))
    no_path = table.cast(nullable).set_column(0, "path", pa.array([None] * len(table), pa.string()))
    write("no-path.parquet", no_path, meta)


def _read_only(folder: Path) -> bool:
    """Make ``folder`` unwritable, also for root (the immutable flag); False if impossible."""
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    probe = folder / ".probe"
    try:
        probe.touch()
    except OSError:
        return True
    probe.unlink()
    return False


@pytest.fixture
def bad_files(tmp_path, populated):
    data = tmp_path / "populated-copy"
    shutil.copytree(populated / "data", data)
    tmp = tmp_path / "bad"
    tmp.mkdir()
    os.mkfifo(tmp / "p.jpg")
    (tmp / "zero.jpg").symlink_to("/dev/zero")
    with open(tmp / "sparse.jpg", "wb") as handle:
        handle.truncate(3 * 1024**3)
    (tmp / "notes.jpg").write_text("not a photo")
    depth = 100_000
    (tmp / "deep.json").write_text("[" * depth + "]" * depth)
    (tmp / "page.onnx").write_text("<html><body>404 Not Found</body></html>")
    (tmp / "read-only").mkdir()
    writable_back = not _read_only(tmp / "read-only")
    values = {
        "data": str(data),
        "model": str(populated / "toy.onnx"),
        "photo": str(populated / "photos" / "p0.jpg"),
        "photos": str(populated / "photos"),
        "tmp": str(tmp),
        "shards": str(populated / "shards"),
    }
    yield values, writable_back
    subprocess.run(["chattr", "-i", str(tmp / "read-only")], capture_output=True, check=False)
    (tmp / "read-only").chmod(stat.S_IRWXU)


def _argv(template: list[str], values: dict[str, str]) -> list[str]:
    argv = [part.format(**values) for part in template]
    return argv if argv[0] == "--data-dir" else ["--data-dir", values["data"], *argv]


@pytest.mark.parametrize("template", USER_MISTAKES + BAD_FILES + BAD_FOLDERS, ids=str)
def test_each_bad_invocation_exits_1_or_2_with_a_message(bad_files, template, capsys):
    values, read_only_impossible = bad_files
    if "read-only" in " ".join(template) and read_only_impossible:
        pytest.skip("this file system cannot make a folder read-only for this user")
    try:
        code = main(_argv(template, values))
    except SystemExit as exc:  # argparse: usage error
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert err.strip(), "no message"
    assert "\x1b" not in err  # control characters are escaped (item 15)


@pytest.mark.slow
@pytest.mark.parametrize("template", SUBPROCESS, ids=str)
def test_no_traceback_and_no_hang_in_a_real_process(bad_files, template):
    values, _ = bad_files
    done = subprocess.run(
        [sys.executable, "-m", "sciceapp", *_argv(template, values)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip()


def test_deep_json_is_refused_not_recursed(bad_files, capsys):
    values, _ = bad_files
    argv = _argv(
        ["map", "-c", "c", "--queries", "{tmp}/deep.json", "--output", "{tmp}/m.html"], values
    )
    assert main(argv) == 2
    assert "not a locate result file" in capsys.readouterr().err
    assert json.loads("[1]") == [1]  # the interpreter's recursion limit was left alone


def test_top_k_is_clamped_to_the_collection_size(bad_files):
    values, _ = bad_files
    collection = Library(values["data"]).open_collection("c")
    query = collection.index().stored_vectors()[1][:1]
    (hits,) = collection.search(query, 10**9)  # asked 7.45 GiB of results before
    assert len(hits) == 3


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("junk", "not a readable Parquet shard"),
        ("truncated", "not a readable Parquet shard"),
        ("version", "shard format version '2'"),
        ("dimension", "descriptors of 7 values"),
        ("columns", "no 'sha256' column"),
        ("types", "column 'size' is string, not int64"),
        ("no-path", "rows without path"),
    ],
)
def test_a_bad_shard_is_refused_with_what_is_wrong_and_nothing_imported(
    bad_files, name, said, capsys
):
    values, _ = bad_files
    before = Library(values["data"]).open_collection("c").summary()
    argv = _argv(["collection", "import", "c", f"{{shards}}/{name}.parquet", "-q"], values)
    assert main(argv) == 2
    assert said in capsys.readouterr().err
    after = Library(values["data"]).open_collection("c").summary()
    assert (after.indexed, after.total) == (before.indexed, before.total)
