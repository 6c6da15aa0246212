"""One per-photo function for every reader: a photo read through pyarrow (what the cluster
reads from s3:// or NFS) is described exactly as the local reader of `collection add` does."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import numpy as np
import pytest

from sciceapp.engine import photo_source
from sciceapp.engine.onnx_model import ModelInput, read_model_info
from sciceapp.engine.photo_source import ArrowFile, LocalFile, source_for
from sciceapp.engine.pipeline import describe_photo, prepare, scan


def _arrow(path: Path) -> ArrowFile:
    stat = path.stat()
    return ArrowFile(f"file://{path}", stat.st_size, stat.st_mtime_ns)


def test_pyarrow_reader_describes_photos_as_the_local_reader(exif_samples, toy_model, tmp_path):
    model = ModelInput(read_model_info(toy_model))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    photos = scan([exif_samples]) + [broken]
    described = 0
    for path in photos:
        local, arrow = prepare(path, model), describe_photo(_arrow(path), model)
        assert (arrow.sha256, arrow.size, arrow.mtime_ns) == (
            local.sha256,
            local.size,
            local.mtime_ns,
        )
        assert arrow.error == local.error
        assert arrow.meta == local.meta
        if local.error is None:
            described += 1
            np.testing.assert_array_equal(arrow.model_input, local.model_input)
    assert described > 20  # most samples decode; the broken one does not
    assert prepare(broken, model).error is not None


def test_pyarrow_reader_refuses_files_over_the_limit_as_the_local_one(
    exif_samples, toy_model, monkeypatch
):
    monkeypatch.setattr(photo_source, "MAX_FILE_BYTES", 1000)
    photo = next(iter(scan([exif_samples / "gps"])))
    item = describe_photo(_arrow(photo), ModelInput(read_model_info(toy_model)))
    assert item.error is not None and "too large" in item.error
    assert item.model_input is None


def test_unreadable_uri_is_a_skip_reason_not_a_crash(toy_model, tmp_path):
    missing = ArrowFile(f"file://{tmp_path}/gone.jpg", 10, 0)
    item = describe_photo(missing, ModelInput(read_model_info(toy_model)))
    assert item.error is not None and item.error.startswith("cannot read the file")


def test_sources_by_name(tmp_path):
    assert isinstance(source_for(str(tmp_path / "a.jpg")), LocalFile)
    assert isinstance(source_for("s3://bucket/a.jpg", 5, 6), ArrowFile)
    with pytest.raises(OSError) as raised:
        LocalFile(tmp_path / "gone.jpg").read(hashlib.sha256())
    assert raised.value.errno == errno.ENOENT
