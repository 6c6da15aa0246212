"""Text bound for a terminal, with its control characters made visible.

A file name can hold escape sequences (``\\033]0;title\\007`` sets the window title,
``\\033[2J`` clears the screen). The CLI prints paths, EXIF text and error messages that come
from files, so everything it writes goes through :func:`escape`: each control character
(C0 but newline and tab, DEL, C1, and the bidirectional overrides that reorder what is shown)
becomes ``\\uXXXX``, which is also what a JSON string would hold, so ``--json`` output stays
valid JSON. Standard library only.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape(text: str) -> str:
    """``text`` with every control character shown as ``\\uXXXX``."""
    return CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class EscapingStream:
    """A text stream that escapes what it is given; ``raw`` is the stream underneath (for
    the progress bar, whose carriage returns are its own)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(escape(text))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


def raw(stream: TextIO) -> TextIO:
    """The stream under an :class:`EscapingStream` (``stream`` itself otherwise)."""
    return stream.raw if isinstance(stream, EscapingStream) else stream


@contextmanager
def escaped_output() -> Iterator[None]:
    """Escape everything written to ``sys.stdout`` and ``sys.stderr`` inside the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(saved[0]), EscapingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
