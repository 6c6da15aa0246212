"""What every model-building job (``model export``, ``model get``) runs inside: numbered
steps with a cancellation check before each, a private work folder beside the target (whose
leftovers from a killed run are swept away first), and a full disk as a clear error."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sciceapp.atomic import is_disk_full
from sciceapp.errors import ModelError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

WORK_DIR_PREFIX = ".sciceapp-export-"


@contextlib.contextmanager
def work_folder(folder: Path) -> Iterator[Path]:
    """A fresh work folder in ``folder`` (named by this process, so a later run can tell a
    killed run's from a live one's), deleted on the way out; killed runs' folders go first."""
    remove_stale_work_dirs(folder)
    with tempfile.TemporaryDirectory(prefix=f"{WORK_DIR_PREFIX}{os.getpid()}-", dir=folder) as work:
        yield Path(work)


def remove_stale_work_dirs(folder: Path) -> None:
    """Delete work folders of exports whose process was killed (SIGKILL skips cleanup)."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    for work in folder.glob(f"{WORK_DIR_PREFIX}*-*"):
        pid_text = work.name.removeprefix(WORK_DIR_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        log.info("removing %s, left by an export that was killed", work)
        shutil.rmtree(work, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def disk_full_is_a_clear_error(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise ModelError(
                f"The disk holding {folder} is full; nothing was written. Free some space (an "
                "fp32 SciceVPR-B file needs about 400 MB) and export again."
            ) from exc
        raise


class Steps:
    """Progress as numbered steps, with a cancellation check before each one."""

    def __init__(self, total: int, progress: ProgressFn | None, cancel: CancelToken | None):
        self.total, self.progress, self.cancel, self.count = total, progress, cancel, 0

    def next(self, message: str) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        log.info("export step %d/%d: %s", self.count + 1, self.total, message)
        if self.progress is not None:
            self.progress(self.count, self.total, message)
        self.count += 1

    def done(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, message)
