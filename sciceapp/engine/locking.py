"""One writer per collection, across processes, and a message that names the holder.

The lock is an OS file lock (``filelock``): the kernel drops it when its process dies, even
by kill -9, so a crashed run never leaves a collection locked. Beside it the holder writes
who it is (pid, host, since when), which is what a second process reports when it is refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from sciceapp.engine.catalogue import now_iso
from sciceapp.errors import CollectionLockedError

log = logging.getLogger(__name__)

LOCK_NAME = "write.lock"
OWNER_NAME = "write.lock.owner"


def _describe_owner(folder: Path) -> str:
    try:
        owner = json.loads((folder / OWNER_NAME).read_text())
        return f"process {owner['pid']} on {owner['host']} (since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not said which yet)"


@contextmanager
def collection_lock(folder: Path, name: str, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold the write lock of the collection stored in ``folder`` for the ``with`` block.

    Raises ``CollectionLockedError`` naming the holder when another process has it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / LOCK_NAME), timeout=timeout_s, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise CollectionLockedError(
            f"Collection {name!r} is being changed by {_describe_owner(folder)}. Wait for that "
            "job to finish (or stop it), then try again."
        ) from exc
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}
        (folder / OWNER_NAME).write_text(json.dumps(owner))
        yield
    finally:
        try:
            (folder / OWNER_NAME).unlink(missing_ok=True)
        except OSError:
            log.debug("could not remove the lock owner note", exc_info=True)
        lock.release()
