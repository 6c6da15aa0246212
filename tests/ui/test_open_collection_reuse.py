"""The window keeps a collection open across lookups (issue 12): the second lookup loads
nothing; a lookup after the collection saved a new generation opens that one, once."""

from __future__ import annotations

from pathlib import Path

from ui_helpers import WAIT_MS, drop_files

from sciceapp.engine import open_index
from sciceapp.engine.library import Library


def _look_up(qtbot, window, photo: Path) -> None:
    with qtbot.waitSignal(window.locating.queries_finished, timeout=WAIT_MS) as located:
        assert drop_files(window, [photo])
    (result,) = located.args[0]
    assert result.error is None and result.matches


def test_two_lookups_in_the_window_load_the_collection_once(
    qtbot, window, gps_collection: str, data_dir: Path, exif_samples: Path, monkeypatch
):
    opened: list[int] = []  # the generation of every store and index actually opened
    real_load = open_index.load

    def counting_load(folder, gen, *args, **kwargs):
        opened.append(gen)
        return real_load(folder, gen, *args, **kwargs)

    monkeypatch.setattr(open_index, "load", counting_load)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.indexing.refresh()
    assert window.current_collection() == gps_collection
    photos = sorted((exif_samples / "gps").glob("*.jpg"))

    _look_up(qtbot, window, photos[0])
    assert len(opened) == 1
    _look_up(qtbot, window, photos[1])
    assert len(opened) == 1  # the second lookup loaded nothing

    # Another process (here: the engine directly) saves a new generation: the next lookup
    # opens it, once, and the one after reuses it again.
    collection = Library(data_dir).open_collection(gps_collection)
    assert collection.remove_folder(exif_samples / "gps").removed == 9
    collection.add([photos[2], photos[3], photos[4]])
    _look_up(qtbot, window, photos[2])
    _look_up(qtbot, window, photos[3])
    assert len(opened) == 2 and opened[1] > opened[0]
