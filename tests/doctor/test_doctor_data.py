"""The doctor's checks of the data folder: writable and its room, its models (corrupt,
demo) and its collections (missing or replaced model, damaged catalogue)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from sciceapp.commands.doctor import data
from sciceapp.commands.doctor.report import OK, PROBLEM, WARNING


def test_data_folder_ok_reports_free_space(data_dir: Path):
    check = data.check_data_folder(data_dir)
    assert check.status == OK
    assert check.details["free_bytes"] == shutil.disk_usage(data_dir).free
    assert str(data_dir) in check.summary


def test_data_folder_that_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    check = data.check_data_folder(blocker / "data")
    assert check.status == PROBLEM
    assert "cannot be written" in check.summary
    assert "--data-dir" in check.advice


@pytest.mark.parametrize(
    ("free_bytes", "status"),
    [(10 * 2**20, PROBLEM), (1 * 2**30, WARNING), (50 * 2**30, OK)],
)
def test_data_folder_free_space_levels(data_dir: Path, monkeypatch, free_bytes, status):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(data.shutil, "disk_usage", lambda _: usage(2**40, 0, free_bytes))
    assert data.check_data_folder(data_dir).status == status


# --- models -----------------------------------------------------------------------------------


def test_models_none_yet(data_dir: Path):
    check = data.check_models(data_dir)
    assert check.status == WARNING
    assert "no ONNX model" in check.summary


def test_models_corrupt_file_is_a_problem(data_dir: Path):
    models = data_dir / "models"
    models.mkdir()
    (models / "broken.onnx").write_bytes(b"this is not an onnx file")
    check = data.check_models(data_dir)
    assert check.status == PROBLEM
    assert "broken.onnx" in check.summary
    assert check.details["models"][0]["usable"] is False


# --- collections ------------------------------------------------------------------------------


def test_models_demo_model_is_flagged(data_dir: Path, tiny_onnx_model: Path):
    models = data_dir / "models"
    models.mkdir()
    shutil.copy2(tiny_onnx_model, models / "tiny.onnx")
    check = data.check_models(data_dir)
    assert check.status == WARNING
    assert "demo" in check.summary
    (entry,) = check.details["models"]
    assert entry["usable"] is True and entry["random_init"] is True


def test_collections_none_yet(data_dir: Path):
    check = data.check_collections(data_dir)
    assert check.status == OK
    assert check.details["collections"] == []


def test_collections_listed_and_a_missing_model_found(data_dir: Path, tiny_onnx_model: Path):
    from sciceapp.engine.library import Library

    model = data_dir / "tiny.onnx"
    shutil.copy2(tiny_onnx_model, model)
    Library(data_dir).create_collection("arezzo", model)
    check = data.check_collections(data_dir)
    assert check.status == WARNING  # built with a random-weight model
    assert "arezzo" in check.summary and "demo, not accurate" in check.summary
    assert check.details["collections"][0]["indexed"] == 0

    model.unlink()
    check = data.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "arezzo" in check.summary and "missing" in check.summary


def test_collections_with_a_replaced_model(data_dir: Path, tiny_onnx_model: Path):
    from sciceapp.engine.library import Library

    model = data_dir / "tiny.onnx"
    shutil.copy2(tiny_onnx_model, model)
    Library(data_dir).create_collection("arezzo", model)
    with model.open("ab") as handle:  # same name, different file
        handle.write(b"\0")
    check = data.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "not the one collection 'arezzo' was built with" in check.summary


def test_collections_in_an_unreadable_catalogue(data_dir: Path):
    from sciceapp.engine.catalogue import FILE_NAME

    (data_dir / FILE_NAME).write_bytes(b"this is not a SQLite database" * 100)
    check = data.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "is damaged" in check.summary and ".recover" in check.summary
