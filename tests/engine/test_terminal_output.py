"""File names with terminal escape sequences are printed escaped by every command, and JSON
output still holds the real name."""

from __future__ import annotations

import json

from sciceapp.cli import main
from sciceapp.terminal import escape

EVIL = "evil\x1b]0;pwned\x07\x1b[2J\u202e"


def _clean(text: str) -> None:
    for bad in ("\x1b", "\x07", "\u202e"):
        assert bad not in text
    assert "\\u001b]0;pwned\\u0007" in text


def test_every_command_escapes_control_characters(make_photos, toy_model, capsys, tmp_path):
    folder = make_photos(3)[0].parent
    (folder / "photo_000.jpg").rename(folder / f"{EVIL}.jpg")
    (folder / f"{EVIL}-broken.jpg").write_bytes(b"not a jpeg")
    assert main(["collection", "create", "c", "--model", str(toy_model)]) == 0
    capsys.readouterr()
    runs = [
        ["collection", "add", "c", str(folder), "-q"],
        ["collection", "show", "c"],
        ["locate", "-c", "c", str(folder / f"{EVIL}.jpg"), "-q"],
        ["review", "-c", "c", str(folder), "-q"],
    ]
    for argv in runs:
        main(argv)
        out, err = capsys.readouterr()
        _clean(out + err)
    assert main(["locate", "-c", "c", str(folder / f"{EVIL}.jpg"), "--json", "-q"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["query"].endswith(f"{EVIL}.jpg")  # JSON keeps the name, escaped its own way


def test_escape_keeps_text_newlines_and_tabs():
    assert escape("a\tb\nc") == "a\tb\nc"
    assert escape("\x9b31m\x7f") == "\\u009b31m\\u007f"
