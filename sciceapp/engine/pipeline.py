"""The indexing pipeline: files -> (read, hash, EXIF, decode, resize in a thread pool) -> batches
-> the model (ONNX Runtime, or the classical model) -> descriptors.

Decoding runs ahead of inference in worker threads (Pillow, hashlib and ONNX Runtime all
release the GIL), so while the model embeds one batch the next ones are being decoded.
``embed_files`` knows nothing of catalogues or indexes: it is what ``library.py`` consumes for
one collection. :func:`describe_photo` is the per-photo step, shared with the cluster's decode
tasks (``sciceapp/cluster/``), which read through a ``photo_source``.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sciceapp.engine.exif import PhotoMeta, read_photo_meta
from sciceapp.engine.images import is_image_path, load_upright
from sciceapp.engine.local_features import DEFAULT_MAX_SIDE_PX, LocalFeatures, timed_extract
from sciceapp.engine.photo_source import LocalFile, PhotoSource
from sciceapp.errors import CollectionError, ImageError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

INVALID_DESCRIPTOR = (
    "the model gave an invalid descriptor (NaN or infinity) for this photo; the model file "
    "may be damaged: check it with `sciceapp model info`"
)
PREFETCH_BATCHES = 2
"""Batches decoded ahead of the one being embedded: enough to hide decoding behind
inference, few enough that memory stays at a few batches of pixels."""


class GlobalModel(Protocol):
    """What the pipeline needs of a model kind (``model_kinds.py``): an ONNX network or the
    classical model. Each photo is decoded once, upright, with both sides at least
    ``decode_side`` px where it is bigger; ``prepare_input`` turns that image (and the
    upright original's (width, height)) into the model's input in the decode threads (pixels,
    or local features); ``embed_inputs`` runs once per batch (-> float32 ``[B, D]``)."""

    batch_size: int
    decode_side: int

    def prepare_input(self, image: Image.Image, original_size: tuple[int, int]) -> Any: ...

    def embed_inputs(self, inputs: list[Any]) -> np.ndarray: ...


@dataclass
class Prepared:
    """One file after the thread-pool step; ``error`` says why it cannot be embedded."""

    path: Path
    size: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    meta: PhotoMeta | None = None
    model_input: Any = None  # what the model's prepare_input made (float32 [3, S, S] pixels...)
    error: str | None = None
    features: LocalFeatures | None = None  # local features, when asked for
    features_ms: float = 0.0  # time their extraction took


@dataclass
class EmbeddedBatch:
    items: list[Prepared]  # in input order, failed ones included
    vectors: np.ndarray  # float32 [n_ok, D]: one row per item whose error is None, in order
    ok: list[Prepared] = field(default_factory=list)


def require_paths(paths: Iterable[str | os.PathLike[str]]) -> None:
    """``CollectionError`` for the first path that is neither a file nor a folder."""
    for given in paths:
        path = Path(given).expanduser().absolute()
        if not (path.is_file() or path.is_dir()):
            raise CollectionError(f"{path} does not exist (or is not a file or folder).")


def scan(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Image files under ``paths`` (files taken as given, folders recursively), sorted, absolute.

    Raises ``CollectionError`` for a path that does not exist.
    """
    paths = list(paths)
    require_paths(paths)
    found: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser().absolute()
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.update(Path(root, name) for name in files if is_image_path(name))
    unnamed = {path for path in found if not _utf8(path)}
    for path in unnamed:
        log.warning("ignoring %r: its name is not valid UTF-8 (rename the file)", path)
    return sorted(found - unnamed)


def _utf8(path: Path) -> bool:
    """Whether a path can be stored in the catalogue (file names with undecodable bytes cannot)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe_photo(
    source: PhotoSource,
    model: GlobalModel,
    local_features: bool = False,
    features_decode: bool | None = None,
    *,
    decode: bool = True,
) -> Prepared:
    """What indexing knows of one photo before the model runs, read once: identity (size,
    mtime, SHA-256), EXIF (and a sidecar's GPS), and the model's input (upright, draft-decoded,
    resized and normalised by ``model.prepare_input``); or why it is skipped (``error``).
    With ``local_features``, also its local features from the same decoded image.

    The one per-photo function: ``collection add`` (through :func:`prepare`) and the cluster's
    decode tasks (``sciceapp/cluster/``) both call it, so a photo is described the same way
    wherever it is (ARCHITECTURE.md, "Scale beyond one machine").

    ``features_decode`` (default: ``local_features``) decodes at the size local features
    need, as a collection with them does for every photo, so that a query's model input is
    made exactly as the collection's were, whether or not its features are extracted.
    ``decode=False`` (the cluster's GPU decoding) leaves the file's bytes in ``model_input``
    for a GPU worker to decode.
    """
    item = Prepared(Path(source.name))
    digest = hashlib.sha256()
    try:
        data, item.size, item.mtime_ns = source.read(digest)
    except OSError as exc:
        item.error = f"cannot read the file: {exc.strerror or exc}"
        return item
    item.sha256 = digest.hexdigest()
    if not decode:
        item.model_input = data
    else:
        try:
            # Local features want a longer side near 1024 px: decode that much, once.
            big = local_features if features_decode is None else features_decode
            side = model.decode_side
            image, original = load_upright(data, max(side, DEFAULT_MAX_SIDE_PX) if big else side)
            started = time.perf_counter()
            item.model_input = model.prepare_input(image, original)
            input_ms = (time.perf_counter() - started) * 1000.0
        except ImageError as exc:
            item.error = str(exc)
            return item
        if local_features:
            if isinstance(item.model_input, LocalFeatures):  # the classical model's input
                item.features, item.features_ms = item.model_input, input_ms
            else:
                item.features, item.features_ms = timed_extract(np.asarray(image), original)
    item.meta = source.with_sidecar(read_photo_meta(data))
    return item


def prepare(
    path: Path,
    model: GlobalModel,
    local_features: bool = False,
    features_decode: bool | None = None,
) -> Prepared:
    """:func:`describe_photo` of a local file."""
    return describe_photo(LocalFile(path), model, local_features, features_decode)


def embed_files(
    paths: list[Path],
    embedder: GlobalModel,
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    local_features: bool = False,
    features_decode: bool | None = None,
) -> Iterator[EmbeddedBatch]:
    """Yield ``EmbeddedBatch``es of ``embedder.batch_size`` files, in order (with
    ``local_features``, each item's ``features`` extracted in the same decode;
    ``features_decode`` as for :func:`prepare`).

    Raises ``CancelledError`` between batches once ``cancel`` is set; every batch yielded
    before that is complete.
    """
    total = len(paths)
    # One decode thread per CPU: with a GPU embedding 1700 photos/s, decoding is the limit.
    # On a 16-CPU H100 machine 16 threads decoded 218 photos/s, 8 threads 125, 32 threads 183
    # (benchmarks/bench_decode.py, RESULTS.md). Threads beyond the prefetch window just wait.
    workers = workers or max(2, min(32, os.cpu_count() or 2))
    done = skipped = 0
    pending: deque[Future[Prepared]] = deque()
    queue = iter(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:

        def top_up() -> None:
            while len(pending) < max(1, embedder.batch_size) * (PREFETCH_BATCHES + 1):
                path = next(queue, None)
                if path is None:
                    return
                pending.append(
                    pool.submit(prepare, path, embedder, local_features, features_decode)
                )

        try:
            top_up()
            while pending:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                # Read each time: calibration at the first batch may choose another size.
                batch_size = max(1, embedder.batch_size)
                items = [pending.popleft().result() for _ in range(min(batch_size, len(pending)))]
                top_up()
                ok = [item for item in items if item.error is None]
                if ok:
                    vectors = embedder.embed_inputs([item.model_input for item in ok])
                    finite = np.isfinite(vectors).all(axis=1)
                    if not finite.all():  # never let NaN into an index or a ranking
                        for item in itertools.compress(ok, ~finite):
                            item.error = INVALID_DESCRIPTOR
                        ok = list(itertools.compress(ok, finite))
                        vectors = vectors[finite]
                else:
                    vectors = np.zeros((0, 0), dtype=np.float32)
                for item in ok:
                    item.model_input = None  # the batch is embedded; free the memory
                done += len(items)
                skipped += len(items) - len(ok)
                yield EmbeddedBatch(items, vectors, ok)
                if progress is not None:
                    progress(done, total, f"{skipped} skipped" if skipped else "")
        finally:
            for future in pending:
                future.cancel()


def extract_files(
    paths: list[Path],
    model: GlobalModel,
    *,
    workers: int | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[Prepared]:
    """Local features for photos indexed before their collection had them (no model run):
    one ``Prepared`` per path, in order, read exactly as indexing reads them, with
    ``features`` set or ``error``. Raises ``CancelledError`` between photos once ``cancel``
    is set."""
    workers = workers or max(2, min(32, os.cpu_count() or 2))
    pending: deque[Future[Prepared]] = deque()
    queue = iter(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="features") as pool:
        try:
            while True:
                while len(pending) < 2 * workers and (path := next(queue, None)) is not None:
                    pending.append(pool.submit(prepare, path, model, True))
                if not pending:
                    return
                if cancel is not None:
                    cancel.raise_if_cancelled()
                item = pending.popleft().result()
                item.model_input = None
                yield item
        finally:
            for future in pending:
                future.cancel()
