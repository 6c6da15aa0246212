"""Index parameters are checked in one place (``index.check_params``) before faiss sees them:
at ``create``, on the values read back from the catalogue, and in every ``VectorIndex``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from sciceapp.cli import main
from sciceapp.engine.index import IndexParams, VectorIndex, check_params
from sciceapp.engine.library import Library
from sciceapp.errors import CollectionError

BAD = [
    ({"nlist": 0}, "nlist"),
    ({"pq_bits": 0}, "pq_bits"),
    ({"pq_bits": 40}, "pq_bits"),
    ({"nprobe": -1}, "nprobe"),
    ({"pq_m": 0}, "pq_m"),
    ({"pca_dim": 0}, "pca_dim"),
    ({"nlist": 2.5}, "nlist"),
    ({"nlist": True}, "nlist"),
]


@pytest.mark.parametrize(("change", "name"), BAD)
def test_out_of_range_values_never_reach_faiss(change, name):
    params = IndexParams(
        **{"pca_dim": 16, "nlist": 2, "pq_m": 16, "pq_bits": 2, "nprobe": 1, **change}
    )
    with pytest.raises(ValueError, match=rf"{name} must be an integer from \d+ to \d+"):
        check_params("ivfpq", 48, params)
    with pytest.raises(ValueError, match=name):
        VectorIndex(48, "ivfpq", params)


@pytest.mark.parametrize(
    "option",
    [
        ["--nlist", "0"],
        ["--pq-bits", "0"],
        ["--pq-bits", "40"],
        ["--nprobe", "-1"],
        ["--pq-m", "0"],
        ["--pca-dim", "-5"],
    ],
)
def test_create_refuses_each_bad_setting_with_its_range(toy_model, option, capsys):
    argv = ["collection", "create", "c", "--model", str(toy_model), "--index-kind", "ivfpq"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--pq-m", "16", *option] if option[0] != "--pq-m" else [*argv, *option])
    assert exit_info.value.code == 2
    assert "from 1 to" in capsys.readouterr().err


def test_engine_create_refuses_what_the_cli_would(data_dir, toy_model):
    with pytest.raises(CollectionError, match="nlist must be an integer from 1 to"):
        Library(data_dir).create_collection("c", toy_model, "ivfpq", IndexParams(nlist=0, pq_m=16))
    assert Library(data_dir).list_collections() == []


def _tamper(data_dir: Path, **values) -> None:
    with closing(sqlite3.connect(data_dir / "catalogue.sqlite")) as conn, conn:
        for column, value in values.items():
            conn.execute(f"UPDATE collections SET {column} = ?", (value,))


@pytest.mark.parametrize(
    "values",
    [
        {
            "index_params": json.dumps(
                {"pca_dim": 16, "nlist": 0, "pq_m": 16, "pq_bits": 2, "nprobe": 1}
            )
        },
        {"index_params": "{not json"},
        {"index_params": json.dumps({"nlist": 4, "colour": "red"})},
        {"index_params": json.dumps([1, 2])},
        {"index_kind": "hnsw"},
    ],
)
def test_damaged_index_settings_in_the_catalogue_are_refused(data_dir, toy_model, values):
    Library(data_dir).create_collection("c", toy_model, "ivfpq", IndexParams(16, 2, 16, 2, 1))
    _tamper(data_dir, **values)
    with pytest.raises(CollectionError, match="catalogue .*is damaged"):
        Library(data_dir).open_collection("c")


@pytest.mark.slow
def test_add_after_a_tampered_nlist_exits_with_a_message_not_a_crash(
    data_dir, toy_model, make_photos
):
    """Before the check this died in faiss with SIGSEGV (exit 139) at the conversion."""
    Library(data_dir).create_collection("c", toy_model, "ivfpq", IndexParams(16, 2, 16, 2, 1))
    _tamper(
        data_dir,
        index_params=json.dumps({"pca_dim": 16, "nlist": 0, "pq_m": 16, "pq_bits": 2, "nprobe": 1}),
    )
    folder = make_photos(3)[0].parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sciceapp",
            "--data-dir",
            str(data_dir),
            "collection",
            "add",
            "c",
            str(folder),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "is damaged" in done.stderr and "Traceback" not in done.stderr
