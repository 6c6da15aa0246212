"""Across processes: a run killed with SIGKILL resumes consistently; a second writer is refused."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from sciceapp.engine.library import Library
from sciceapp.errors import CollectionLockedError

# The child indexes a folder with 2-photo batches and stops (blocked on stdin, waiting to be
# killed) at a chosen point: after a batch is committed but before anything is saved
# ("unsaved"), after the second checkpoint appended and fsynced its store segment but before
# the catalogue committed it ("commit"), halfway through appending a batch's vectors to the
# store ("append"), or nowhere (killed at whatever point it has reached: "anywhere").
CHILD = r"""
import sys
from sciceapp.engine import catalogue, store
from sciceapp.engine.library import Library
data, folder, mode = sys.argv[1:4]
from sciceapp.engine.collection import CollectionOptions
options = CollectionOptions(batch_size=2, checkpoint_s=0 if mode != "unsaved" else 1e9)
collection = Library(data).open_collection("c", options)
real_commit = catalogue.commit_saved
real_write = store.StoreWriter._write
commits = 0
writes = 0

def stall(what):
    print(what, flush=True)
    sys.stdin.readline()

def commit(*args, **kwargs):
    global commits
    commits += 1
    if mode == "commit" and commits == 2:
        stall("stalled")
    real_commit(*args, **kwargs)

def write(self, name, data):
    global writes
    writes += 1
    if mode == "append" and name == store.VECTORS_FILE and writes > 4:
        real_write(self, name, data[: len(data) // 2])
        self._files[name].flush()
        stall("stalled")
    real_write(self, name, data)

catalogue.commit_saved = commit
store.StoreWriter._write = write

def progress(done, total, message=""):
    print("progress", done, flush=True)
    if mode == "unsaved" and done >= 4:
        stall("stalled")

collection.add([folder], progress=progress)
print("finished", flush=True)
"""

LOCK_HOLDER = r"""
import sys
from sciceapp.engine.library import Library
from sciceapp.engine.locking import collection_lock
collection = Library(sys.argv[1]).open_collection("c")
with collection_lock(collection.folder, "c"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _wait_for(process: subprocess.Popen, word: str) -> None:
    for line in process.stdout:
        if line.startswith(word):
            return
    raise AssertionError(f"child ended before printing {word!r} (rc {process.wait()})")


@pytest.mark.parametrize("mode", ["unsaved", "commit", "append", "anywhere"])
def test_killed_run_resumes_with_one_entry_per_photo(data_dir, toy_model, make_photos, mode):
    photos = make_photos(9)
    collection = Library(data_dir).create_collection("c", toy_model)
    child = _child(CHILD, str(data_dir), str(photos[0].parent), mode)
    try:
        _wait_for(child, "stalled" if mode != "anywhere" else "progress")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL

    reopened = Library(data_dir).open_collection("c")
    report = reopened.add([photos[0].parent])
    rows = reopened.photos()
    assert sorted(r.path for r in rows) == sorted(str(p) for p in photos)
    assert all(r.state == "indexed" for r in rows)
    opened = reopened.index()
    assert set(opened.ids().tolist()) == {r.id for r in rows}
    live = opened.store.live_ids().tolist()
    assert sorted(live) == sorted(r.id for r in rows)  # nothing lost, nothing twice
    opened.store.verify()
    row_bytes = reopened.descriptor_dim * 4
    assert (
        reopened.folder / "store" / "vectors.bin"
    ).stat().st_size == opened.store.rows * row_bytes
    assert report.added + report.unchanged == 9
    if mode == "unsaved":
        assert report.added == 9  # nothing had been saved: everything is redone
    if mode == "commit":
        assert report.unchanged == 2  # the first checkpoint (one batch) survived
    if mode == "append":
        assert report.unchanged == 4  # two checkpoints survived, the torn batch is redone
    # The photos are found by their own stored vectors.
    (hits,) = reopened.search(opened.store.vectors_of([rows[5].id]), k=1)
    assert hits[0][0].id == rows[5].id
    assert not list(reopened.folder.glob("index-*"))  # a flat collection keeps no index file
    assert collection.summary().indexed == 9


def test_second_writer_is_told_who_holds_the_lock(data_dir, toy_model, make_photos):
    import socket

    collection = Library(data_dir).create_collection("c", toy_model)
    holder = _child(LOCK_HOLDER, str(data_dir))
    try:
        _wait_for(holder, "locked")
        with pytest.raises(CollectionLockedError) as info:
            collection.add(make_photos(2))
        message = str(info.value)
        assert f"process {holder.pid} on {socket.gethostname()}" in message
        assert "Wait for that job to finish" in message
        holder.stdin.close()  # let it go
        assert holder.wait() == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert collection.add(make_photos(2)).added == 2
    assert collection.summary().total == 2
