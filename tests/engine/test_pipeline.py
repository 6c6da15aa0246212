"""The pipeline: scanning, thread-pool decoding in order, skips, cancellation between batches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sciceapp.engine.images import load_for_model
from sciceapp.engine.onnx_model import Embedder
from sciceapp.engine.pipeline import embed_files, scan
from sciceapp.errors import CancelledError, CollectionError
from sciceapp.progress import CancelToken


def test_scan_is_recursive_sorted_and_filters_extensions(tmp_path: Path, make_photos):
    make_photos(2, folder="a")
    make_photos(1, folder="a/deeper/b", start=5)
    (tmp_path / "a" / "x.HEIC").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("no")
    (tmp_path / "a" / ".hidden").mkdir()
    (tmp_path / "a" / ".hidden" / "h.jpg").write_bytes(b"")
    explicit = tmp_path / "given.dat"
    explicit.write_text("taken as given")
    found = scan([tmp_path / "a", explicit])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == sorted(names)
    assert set(names) == {
        "a/photo_000.jpg",
        "a/photo_001.jpg",
        "a/deeper/b/photo_005.jpg",
        "a/x.HEIC",
        "given.dat",
    }
    with pytest.raises(CollectionError, match="does not exist"):
        scan([tmp_path / "missing"])


def test_batches_keep_order_and_match_direct_embedding(tmp_path: Path, toy_model, make_photos):
    photos = make_photos(7)
    broken = tmp_path / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff")
    paths = [*photos[:3], broken, *photos[3:]]
    embedder = Embedder(toy_model, provider="cpu", batch_size=3)
    info = embedder.info
    seen = []
    batches = list(
        embed_files(
            paths,
            embedder,
            workers=2,
            progress=lambda done, total, message="": seen.append((done, total, message)),
        )
    )
    assert [len(b.items) for b in batches] == [3, 3, 2]
    assert [i.path for b in batches for i in b.items] == paths
    assert seen[-1] == (8, 8, "1 skipped")
    failed = [i for b in batches for i in b.items if i.error]
    assert [i.path for i in failed] == [broken] and "not an image" in failed[0].error
    direct = embedder.embed(
        np.stack([load_for_model(p, info.image_size, info.mean, info.std) for p in photos])
    )
    np.testing.assert_allclose(np.concatenate([b.vectors for b in batches]), direct, atol=1e-6)
    first = batches[0].ok[0]
    assert first.sha256 and first.size == photos[0].stat().st_size and first.meta.gps


def test_cancel_stops_between_batches(toy_model, make_photos):
    photos = make_photos(6)
    embedder = Embedder(toy_model, provider="cpu", batch_size=2)
    token = CancelToken()
    got = []
    with pytest.raises(CancelledError):
        for batch in embed_files(photos, embedder, cancel=token):
            got.append(batch)
            token.cancel()
    assert len(got) == 1 and len(got[0].items) == 2


def test_file_names_that_are_not_utf8_are_left_out_not_fatal(tmp_path: Path, make_photos):
    folder = make_photos(1)[0].parent
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    with open(odd, "wb") as handle:
        handle.write(b"\xff\xd8")
    assert [p.name for p in scan([folder])] == ["photo_000.jpg"]
