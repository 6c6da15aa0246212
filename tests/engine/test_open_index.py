"""A long-lived process keeps a collection's index and store open across jobs until a run
saves a new generation: the window's second lookup loads nothing."""

from __future__ import annotations

from pathlib import Path

from sciceapp.engine import open_index
from sciceapp.engine.library import Library
from sciceapp.progress import CancelToken
from sciceapp.ui import jobs


def _locate(data_dir: Path, photos: list[Path]) -> list:
    return jobs.locate_photos(
        data_dir,
        "c",
        [str(p) for p in photos],
        3,
        500.0,
        progress=lambda *a, **k: None,
        cancel=CancelToken(),
    )


def test_second_lookup_in_the_window_loads_nothing(data_dir, toy_model, make_photos, monkeypatch):
    collection = Library(data_dir).create_collection("c", toy_model)
    photos = make_photos(6)
    collection.add(photos)
    opened_files: list[str] = []
    real_store = open_index.DescriptorStore

    def counting_store(*args, **kwargs):
        opened_files.append("store")
        return real_store(*args, **kwargs)

    monkeypatch.setattr("sciceapp.engine.collection.store.DescriptorStore", counting_store)
    first = _locate(data_dir, photos[:2])
    loads = open_index.loads
    assert opened_files == ["store"]
    second = _locate(data_dir, photos[2:4])  # a new job: new Library and Collection objects
    assert open_index.loads == loads and opened_files == ["store"]
    _answered(first + second, photos[:4])

    # Another run saves a new generation: the next job opens it (once).
    Library(data_dir).open_collection("c").add(make_photos(1, start=40))
    third = _locate(data_dir, photos[4:6])
    assert open_index.loads == loads + 1 and opened_files == ["store", "store"]
    _answered(third, photos[4:6])


def _answered(results: list, queries: list[Path]) -> None:
    """Each query is found in the collection and matched to other photos of it (the window
    never counts a photo as its own match)."""
    assert [r.in_collection for r in results] == [True] * len(queries)
    for result, query in zip(results, queries, strict=True):
        assert result.matches and str(query) not in [m.path for m in result.matches]
