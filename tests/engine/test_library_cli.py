"""`sciceapp collection ...` end to end through the CLI entry point (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

from sciceapp.cli import main


def test_collection_commands(data_dir: Path, toy_model: Path, make_photos, capsys):
    folder = make_photos(3)[0].parent
    (folder / "broken.jpg").write_bytes(b"")
    make_photos(1, folder="nogps", gps=False, start=7)
    dd = ["--data-dir", str(data_dir)]

    assert main([*dd, "collection", "create", "walk", "--model", str(toy_model)]) == 0
    assert "demo, not accurate" in capsys.readouterr().out
    assert (
        main([*dd, "collection", "add", "walk", str(folder), str(folder.parent / "nogps"), "-q"])
        == 0
    )
    out = capsys.readouterr().out
    assert "added 4" in out and "skipped 1" in out and "empty file" in out

    assert main([*dd, "collection", "show", "walk", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["indexed"], shown["without_gps"], shown["skipped"]) == (4, 1, 1)
    assert shown["model_random_init"] is True
    assert shown["skipped_files"] == [
        {"path": str(folder / "broken.jpg"), "reason": "empty file (0 bytes)"}
    ]

    assert main([*dd, "collection", "show", "walk"]) == 0
    text = capsys.readouterr().out
    assert "random weights" in text and "1 of them without GPS" in text

    (folder / "photo_000.jpg").unlink()
    assert main([*dd, "collection", "update", "walk", "-q"]) == 0
    assert "removed 1" in capsys.readouterr().out

    assert main([*dd, "collection", "list", "--json"]) == 0
    assert [c["indexed"] for c in json.loads(capsys.readouterr().out)] == [3]

    assert main([*dd, "collection", "remove", "walk"]) == 0
    capsys.readouterr()
    assert main([*dd, "collection", "show", "walk"]) == 2
    assert "No collection named 'walk'" in capsys.readouterr().err
