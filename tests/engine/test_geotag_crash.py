"""kill -9 in the middle of a write or an undo: the file is old or new, and the journal knows which."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from geotag_fixtures import copy_sample, sha256_of

from sciceapp.engine.geotag.tags import GeoTag
from sciceapp.engine.geotag.writer import Journal, WriteRequest

REPO = Path(__file__).resolve().parents[2]

# The child stops at one step of the write (announcing it on stdout) and waits on stdin, which
# the parent never answers: it is killed there with SIGKILL. No sleeping, no timing.
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import sciceapp.atomic
    from sciceapp.engine.catalogue import geotag_journal as journal_rows
    from sciceapp.engine.geotag.writer import Journal, WriteRequest
    from sciceapp.engine.geotag.tags import GeoTag

    data_dir, photo, stop_at, action = sys.argv[1:5]

    def stop():
        print("stopped", flush=True)
        sys.stdin.read()

    real_replace = sciceapp.atomic.os.replace
    def replace(source, target):
        if stop_at == "before-rename" and Path(target) == Path(photo):
            stop()
        real_replace(source, target)
    sciceapp.atomic.os.replace = replace

    real_set_state = journal_rows.set_state
    def set_state(conn, write_id, state, note=None, **extra):
        if stop_at == "after-rename" and state in ("done", "undone"):
            stop()
        real_set_state(conn, write_id, state, note, **extra)
    journal_rows.set_state = set_state

    journal = Journal(data_dir)
    if action == "write":
        journal.write([WriteRequest(Path(photo), GeoTag(-33.85, 151.21))], "crash test")
    else:
        journal.undo()
    print("finished", flush=True)
    """
)


def run_until_killed(data_dir: Path, photo: Path, stop_at: str, action: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(photo), stop_at, action],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        line = child.stdout.readline().strip()
        assert line == "stopped", f"the child did not reach {stop_at}: {line!r}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()


@pytest.fixture
def photo(tmp_path, exif_samples) -> Path:
    return copy_sample(exif_samples / "gps" / "DSCN0012.jpg", tmp_path / "photos")


def only_write(journal: Journal):
    (change,) = journal.history()
    (write,) = change.writes
    return write


@pytest.mark.slow
def test_killed_before_the_rename_leaves_the_old_file(data_dir, photo):
    before = sha256_of(photo)
    run_until_killed(data_dir, photo, "before-rename", "write")
    assert sha256_of(photo) == before  # a temporary file may be left beside it ...
    journal = Journal(data_dir)  # ... which recovery removes, and records what happened
    write = only_write(journal)
    assert write.state == "failed" and "unchanged" in write.note
    assert sorted(p.name for p in photo.parent.iterdir()) == [photo.name]


@pytest.mark.slow
def test_killed_after_the_rename_leaves_the_new_file_and_it_can_be_undone(data_dir, photo):
    before = sha256_of(photo)
    run_until_killed(data_dir, photo, "after-rename", "write")
    assert sha256_of(photo) != before
    journal = Journal(data_dir)
    write = only_write(journal)
    assert write.state == "done" and write.new_sha256 == sha256_of(photo)
    journal.undo()
    assert sha256_of(photo) == before


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", ["before-rename", "after-rename"])
def test_killed_during_undo(data_dir, photo, stop_at):
    before = sha256_of(photo)
    Journal(data_dir).write([WriteRequest(photo, GeoTag(1.0, 2.0))], "to undo")
    written = sha256_of(photo)
    run_until_killed(data_dir, photo, stop_at, "undo")
    journal = Journal(data_dir)
    write = only_write(journal)
    if stop_at == "before-rename":
        assert sha256_of(photo) == written and write.state == "done"
        journal.undo()
    else:
        assert write.state == "undone" and journal.history()[0].undone is not None
    assert sha256_of(photo) == before
