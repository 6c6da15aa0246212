"""Only regular files are read, their size checked (stat) before reading: a FIFO, a link to
/dev/zero or a sparse 3 GB ".jpg" is skipped with a reason, and the rest is indexed."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys

import pytest

from sciceapp.engine.library import Library
from sciceapp.reading import open_regular, read_regular, sha256_file


@pytest.fixture
def hostile(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    os.mkfifo(folder / "p.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    for name in ("sparse1.jpg", "sparse2.jpg"):
        with open(folder / name, "wb") as handle:
            handle.truncate(3 * 1024**3)
    return folder


def test_add_skips_pipes_devices_and_huge_files_and_indexes_the_rest(
    data_dir, toy_model, make_photos, hostile
):
    make_photos(2, folder="photos")
    Library(data_dir).create_collection("c", toy_model)
    # A subprocess with a timeout: before the fix the FIFO blocked the add for ever.
    code = (
        "import resource, sys; from sciceapp.engine.library import Library;"
        "r = Library(sys.argv[1]).open_collection('c').add([sys.argv[2]]);"
        "print(r.added, sorted((p.rsplit('/', 1)[1], why) for p, why in r.skipped));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), str(hostile)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts, peak_kib = done.stdout.splitlines()
    assert counts.startswith("2 ")
    assert "'p.jpg', 'cannot read the file: a named pipe (FIFO), not a regular file'" in counts
    assert "'zero.jpg', 'cannot read the file: a character device, not a regular file'" in counts
    assert counts.count("too large (3,221 MB; files over 537 MB are not read)") == 2
    assert int(peak_kib) < 3_000_000  # less than one sparse file: neither was read (6.4 GB before)


def test_the_reader_checks_before_reading_and_hashes_while_reading(tmp_path, hostile):
    with pytest.raises(OSError) as info:
        read_regular(hostile / "p.jpg", 100)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        read_regular(hostile / "sparse1.jpg", 1000)
    assert info.value.errno == errno.EFBIG
    with pytest.raises(OSError, match="a folder"), open_regular(tmp_path):
        pass
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "f.bin").write_bytes(data)
    digest = hashlib.sha256()
    assert read_regular(tmp_path / "f.bin", len(data), digest) == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == sha256_file(tmp_path / "f.bin")
