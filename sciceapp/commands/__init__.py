"""Sub-command groups of the CLI; each group module has ``register(subparsers)``; a part of a
group (``<group>_<part>.py``) that holds some of its actions adds them with ``register(sub)``."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sciceapp.errors import SciceappError


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a failure to write ``path`` (no folder, no permission, a full disk) into a message
    for the user instead of a traceback."""
    from sciceapp.atomic import is_disk_full

    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise SciceappError(
                f"Cannot write {path}: {exc.strerror or exc}. The disk is full: free some space "
                "and try again (nothing was changed)."
            ) from exc
        raise SciceappError(
            f"Cannot write {path}: {exc.strerror or exc}. Check the folder exists, is writable "
            "and has free space, or choose another path."
        ) from exc


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON, creating the folder; a path that cannot be written is a
    user error with a message, not a traceback."""
    from sciceapp.atomic import write_bytes_atomic

    with writing(path):
        write_bytes_atomic(path, json.dumps(payload, indent=2).encode("utf-8"))
