"""Argument types for the command line: each checks its value (and range) when it is parsed, so
a user's mistake gets argparse's usage message and exit code 2 before any work starts.

No heavy imports: ``sciceapp --help`` loads this module.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path


def integer(low: int, high: int) -> Callable[[str], int]:
    """An ``int`` from ``low`` to ``high`` (inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def number(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """A finite ``float`` in ``[low, high]`` (``(low, high]`` with ``above_low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if above_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            side = "more than" if above_low else "from"
            raise argparse.ArgumentTypeError(
                f"must be {side} {low:g} and at most {high:g}, got {text}"
            )
        return value

    parse.__name__ = "number"
    return parse


def http_url(text: str) -> str:
    """An ``http://`` or ``https://`` address with a host."""
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid address ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// address")
    return text


def _writable_folder(folder: Path) -> None:
    """``folder``, or the nearest folder above it that exists (the rest is created when the
    file is written), must be a folder we can write in."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass  # the only sure test: permissions, read-only mounts and /proc all say no here
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot write in {existing}: {exc.strerror or exc}"
        ) from None


def output_file(text: str) -> str:
    """A file to write (replaced all at once): a regular file or a new name, in a folder we
    can write in. Never a device such as /dev/full, which replacing would destroy."""
    path = Path(text).expanduser().absolute()
    if path.exists() and not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file")
    _writable_folder(path.parent)
    return text


def output_folder(text: str) -> str:
    """A folder to write files into (created if needed)."""
    path = Path(text).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    _writable_folder(path)
    return text
