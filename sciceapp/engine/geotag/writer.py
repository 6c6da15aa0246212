"""Writing a position into photos (or their sidecars), journalled and undoable.

The order of one write, and why a crash anywhere leaves a state the journal can name:

1. read the target (the photo, or its sidecar: absent means "none"), compute the new bytes in
   memory and their SHA-256; nothing is written if they equal the old ones;
2. save the backup: the original bytes (files up to ``backup_limit_bytes``) or, above it, the
   metadata block (EXIF, XMP, IPTC as an exiv2 ``.exv``), in ``<data>/geotag-backups/``;
3. journal the write as ``pending`` (old and new SHA-256, old tags, mode and timestamps) and
   commit;
4. write a temporary file in the target's folder with the original's mode and timestamps,
   fsync it, rename it over the target, fsync the folder (``sciceapp.atomic``);
5. mark the write ``done`` and the photo stale in every collection (re-read by ``update``).

A kill between 3 and 5 leaves a ``pending`` row; :func:`recover` (run before every journal
operation) hashes the target and records ``done`` (new bytes), ``failed`` (old bytes) or
``conflict`` (neither), and removes the temporary file a kill left behind. Undo follows the same
order with ``undoing``/``undone``; it refuses a file that changed since sciceapp wrote it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sciceapp import paths as app_paths
from sciceapp.atomic import fsync_dir, write_bytes_atomic
from sciceapp.engine import catalogue
from sciceapp.engine.catalogue import geotag_journal as journal
from sciceapp.engine.catalogue.geotag_journal import ChangeRecord, WriteRecord
from sciceapp.engine.geotag import tags, target_files
from sciceapp.engine.geotag.sidecar import sidecar_path
from sciceapp.engine.geotag.tags import GeoTag
from sciceapp.errors import CancelledError, GeotagError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

BACKUP_LIMIT_BYTES = 64 * 1024 * 1024
"""Files up to this size are backed up whole (undo gives the same bytes back); bigger ones
(large raw files) keep their metadata block only (undo restores every tag, the pixels are never
touched, but exiv2 may lay the metadata out differently)."""


@dataclass(frozen=True)
class WriteRequest:
    """Write ``tag`` for ``photo``: into the file, or into its sidecar of ``sidecar`` style."""

    photo: Path
    tag: GeoTag
    sidecar: str | None = None  # None: into the photo itself; else a style of sidecar.py


@dataclass
class WriteOutcome:
    photo: str
    target: str
    written: bool
    error: str | None = None  # why nothing was written (the rest of the job goes on)


@dataclass
class BatchReport:
    change_id: int | None
    outcomes: list[WriteOutcome] = field(default_factory=list)

    @property
    def written(self) -> list[WriteOutcome]:
        return [o for o in self.outcomes if o.written]

    @property
    def failed(self) -> list[WriteOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def target_of(request: WriteRequest) -> Path:
    return sidecar_path(request.photo, request.sidecar) if request.sidecar else request.photo


class Journal:
    """The geotag journal of one data folder, with the writes and undos it records."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        backup_limit_bytes: int = BACKUP_LIMIT_BYTES,
    ) -> None:
        self.data_dir = app_paths.data_dir(data_dir)
        self.backup_limit_bytes = backup_limit_bytes
        with closing(self.connect()) as conn:
            self.recover(conn)

    def connect(self) -> sqlite3.Connection:
        return catalogue.connect(self.data_dir)

    # -- writing ---------------------------------------------------------------------------
    def write(
        self,
        requests: Sequence[WriteRequest],
        summary: str,
        keep_times: bool = True,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> BatchReport:
        """Write every request as one change; a file that fails is reported, the rest go on."""
        report = BatchReport(None)
        with closing(self.connect()) as conn:
            self.recover(conn)
            for done, request in enumerate(requests):
                if cancel is not None and cancel.cancelled:
                    raise CancelledError(
                        f"Cancelled after {len(report.written)} of {len(requests)} photos; those "
                        "are journalled and can be undone."
                    )
                if progress is not None:
                    progress(done, len(requests), str(request.photo))
                target = target_of(request)
                try:
                    written = self._write_one(conn, report, summary, request, target, keep_times)
                    report.outcomes.append(WriteOutcome(str(request.photo), str(target), written))
                except GeotagError as exc:
                    report.outcomes.append(
                        WriteOutcome(str(request.photo), str(target), False, str(exc))
                    )
            if progress is not None:
                progress(len(requests), len(requests), "")
        return report

    def _write_one(
        self,
        conn: sqlite3.Connection,
        report: BatchReport,
        summary: str,
        request: WriteRequest,
        target: Path,
        keep_times: bool,
    ) -> bool:
        photo = Path(request.photo).expanduser().absolute()
        target = Path(target).expanduser().absolute()
        if not photo.is_file():
            raise GeotagError(f"{photo} is not a file.")
        target_files.check_writable(target)
        try:
            old = target.read_bytes() if target.exists() else None
            stat = target.stat() if old is not None else None
        except OSError as exc:
            raise GeotagError(target_files.os_message(exc, target, "read")) from exc
        what = str(target)
        by_exiftool = request.sidecar is None and photo.suffix.lower() in tags.IN_PLACE_UNSUPPORTED
        if request.sidecar is None:
            new = tags.write_in_file(old, request.tag, what, photo.suffix)
        else:
            new = tags.write_sidecar(old, request.tag, what)
        if old is not None and new == old:
            return False  # already holds exactly this position
        # exiv2 cannot put a metadata block back into what ExifTool wrote: keep the whole file.
        backup_kind, backup_sha = self._backup(old, what, whole=by_exiftool)
        if report.change_id is None:  # the change is recorded with its first write
            report.change_id = journal.start_change(conn, summary)
        write_id = journal.add_write(
            conn,
            report.change_id,
            photo=str(photo),
            target=str(target),
            sidecar=request.sidecar is not None,
            source=request.tag.source,
            old_tags=tags.gps_tags(old, what) or None,
            new_tags=request.tag.to_json(),
            old_sha256=None if old is None else sha256(old),
            old_size=None if stat is None else stat.st_size,
            old_mode=None if stat is None else stat.st_mode,
            old_atime_ns=None if stat is None else stat.st_atime_ns,
            old_mtime_ns=None if stat is None else stat.st_mtime_ns,
            new_sha256=sha256(new),
            backup_kind=backup_kind,
            backup_sha256=backup_sha,
        )
        times = (stat.st_atime_ns, stat.st_mtime_ns) if stat is not None and keep_times else None
        try:
            target_files.replace_file(target, new, None if stat is None else stat.st_mode, times)
        except OSError as exc:
            journal.set_state(
                conn, write_id, "failed", target_files.os_message(exc, target, "write")
            )
            raise GeotagError(target_files.os_message(exc, target, "write")) from exc
        journal.set_state(conn, write_id, "done")
        journal.mark_photo_stale(conn, str(photo))
        log.info("wrote %s (%s)", target, request.tag.source)
        return True

    def _backup(self, old: bytes | None, what: str, whole: bool = False) -> tuple[str, str | None]:
        if old is None:
            return "none", None
        kind, data = "bytes", old
        if len(old) > self.backup_limit_bytes and not whole:
            kind, data = "metadata", tags.metadata_block(old, what)
        digest = sha256(data)
        path = journal.backup_path(self.data_dir, digest)
        try:
            if not (path.is_file() and path.stat().st_size == len(data)):
                write_bytes_atomic(path, data)
        except OSError as exc:
            raise GeotagError(
                f"The backup of {what} cannot be saved in {path.parent} ({exc.strerror or exc}), "
                "so the file was not changed."
            ) from exc
        return kind, digest

    # -- the record --------------------------------------------------------------------------
    def history(self, limit: int | None = None) -> list[ChangeRecord]:
        with closing(self.connect()) as conn:
            self.recover(conn)
            return journal.changes(conn, limit)

    def recover(self, conn: sqlite3.Connection) -> list[WriteRecord]:
        """Settle writes and undos a crash interrupted (module docstring); returns them."""
        settled = journal.writes_in(conn, "pending", "undoing")
        for write in settled:
            target = Path(write.target)
            target_files.remove_temp_files(target)
            try:
                current = sha256(target.read_bytes()) if target.exists() else None
            except OSError:
                continue  # unreadable now (unmounted medium?): settle it next time
            forward = write.state == "pending"
            before = write.old_sha256 if forward else write.new_sha256
            after = write.new_sha256 if forward else write.undo_sha256
            if current == after:
                state, note = ("done" if forward else "undone"), "completed before a crash"
            elif current == before:
                state = "failed" if forward else "done"
                note = "interrupted before the file was replaced; it is unchanged"
            else:
                state, note = "conflict", "the file changed outside sciceapp during a crash"
            journal.set_state(conn, write.id, state, note)
            if state in ("done", "undone"):
                journal.mark_photo_stale(conn, write.photo)
            journal.settle_change(conn, write.change_id)
            log.warning("geotag journal: %s %s: %s", target, state, note)
        return settled

    # -- undo --------------------------------------------------------------------------------
    def undo(self, count: int | None = 1, progress: ProgressFn | None = None) -> list[WriteOutcome]:
        """Undo the last ``count`` changes still in effect (None: all), newest first."""
        outcomes: list[WriteOutcome] = []
        with closing(self.connect()) as conn:
            self.recover(conn)
            todo = [c for c in journal.changes(conn) if c.in_effect]
            todo = todo if count is None else todo[:count]
            for change in todo:
                for write in reversed(change.writes):
                    if write.state != "done":
                        continue
                    try:
                        self._undo_one(conn, write)
                        outcomes.append(WriteOutcome(write.photo, write.target, True))
                    except GeotagError as exc:
                        outcomes.append(WriteOutcome(write.photo, write.target, False, str(exc)))
                    if progress is not None:
                        progress(len(outcomes), None, write.target)
                journal.settle_change(conn, change.id)
        return outcomes

    def _undo_one(self, conn: sqlite3.Connection, write: WriteRecord) -> None:
        target = Path(write.target)
        try:
            current = target.read_bytes() if target.exists() else None
        except OSError as exc:
            raise GeotagError(target_files.os_message(exc, target, "read")) from exc
        if current is None or sha256(current) != write.new_sha256:
            raise GeotagError(
                f"{target} changed since sciceapp wrote it (or was removed), so it is left as it "
                "is; its original is still in the backups."
            )
        target_files.check_writable(target)
        restored = self._restored_bytes(write, current)
        undo_sha = None if restored is None else sha256(restored)
        journal.set_state(conn, write.id, "undoing", undo_sha256=undo_sha)
        try:
            if restored is None:
                target.unlink()
                fsync_dir(target.parent)
            else:
                times = (write.old_atime_ns, write.old_mtime_ns)
                target_files.replace_file(
                    target, restored, write.old_mode, times if None not in times else None
                )
        except OSError as exc:
            journal.set_state(conn, write.id, "done", target_files.os_message(exc, target, "undo"))
            raise GeotagError(target_files.os_message(exc, target, "restore")) from exc
        journal.set_state(conn, write.id, "undone")
        journal.mark_photo_stale(conn, write.photo)
        log.info("restored %s", target)

    def _restored_bytes(self, write: WriteRecord, current: bytes) -> bytes | None:
        if write.backup_kind == "none":
            return None  # the sidecar did not exist: remove it
        path = journal.backup_path(self.data_dir, write.backup_sha256 or "")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GeotagError(
                f"The backup of {write.target} ({path}) cannot be read: {exc.strerror or exc}."
            ) from exc
        if sha256(data) != write.backup_sha256:
            raise GeotagError(f"The backup {path} is damaged; {write.target} is left as it is.")
        if write.backup_kind == "bytes":
            return data
        return tags.restore_metadata(current, data, write.target)
