"""A small real collection for the search tests: the Arezzo GPS photos plus one HEIC phone
photo, embedded with the tiny random-weight model. Built once per test module."""

from __future__ import annotations

from pathlib import Path

import pytest


def build_collection(data_dir: Path, model: Path, sources: list[Path], name: str = "arezzo"):
    from sciceapp.engine.library import Library

    collection = Library(data_dir).create_collection(name, model)
    collection.add(sources)
    return collection


@pytest.fixture(scope="module", name="arezzo")
def arezzo_fixture(tmp_path_factory, tiny_onnx_model, exif_samples):
    """``(data_dir, collection)``: the 9 geotagged Arezzo photos and the Jolla phone JPEG
    (which has no GPS), indexed with the tiny model."""
    data_dir = tmp_path_factory.mktemp("search-data")
    sources = [exif_samples / "gps", exif_samples / "phones" / "jolla.jpg"]
    return data_dir, build_collection(data_dir, tiny_onnx_model, sources)
