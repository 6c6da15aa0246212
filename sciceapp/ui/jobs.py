"""The work the window hands to workers: plain functions over the engine, no Qt.

Each takes ``progress`` and ``cancel`` keyword arguments (the worker supplies them) and
returns plain data. The engine (onnxruntime, faiss, folium) is imported inside the
functions so the window opens without paying for those imports.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciceapp.errors import SciceappError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger("sciceapp.ui")


@dataclass
class CollectionsState:
    """What the collections panel shows: every collection's summary, and the usable models."""

    summaries: list[Any]
    models: list[Any]


def _library(data_dir: Path) -> Any:
    from sciceapp.engine.library import Library

    return Library(data_dir)


def _open(data_dir: Path, name: str, provider: str = "auto") -> Any:
    """The collection, set to embed with the user's provider preference."""
    collection = _library(data_dir).open_collection(name)
    collection.provider = provider
    return collection


def find_photos(
    paths: list[str | os.PathLike[str]], *, progress: ProgressFn, cancel: CancelToken
) -> list[Path]:
    """Files as given (a missing one gets its own error row), folders replaced by the photos
    inside them (``engine.locate.query_photos``). ``CollectionError`` for a folder without
    photos. A worker job: even a stat can hang on a network drive."""
    from sciceapp.engine.locate import query_photos

    return query_photos(paths)


def load_state(data_dir: Path, *, progress: ProgressFn, cancel: CancelToken) -> CollectionsState:
    summaries = _library(data_dir).list_collections()
    return CollectionsState(summaries=summaries, models=_models(data_dir))


def _models(data_dir: Path) -> list[Any]:
    """The model files in the data folder, then the built-in models."""
    from sciceapp.engine.manifests import builtin_models, list_local_models

    return list_local_models(data_dir) + builtin_models()


def index_folders(
    data_dir: Path,
    name: str,
    folders: list[str],
    model_path: str | None,
    provider: str = "auto",
    index_kind: str = "flat",
    local_features: bool = True,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> Any:
    """Create the collection ``name`` with ``index_kind`` and ``local_features`` (when
    ``model_path`` is given) or open it, then add ``folders``; returns the ``IndexReport``."""
    library = _library(data_dir)
    if model_path:
        collection = library.create_collection(
            name, model_path, index_kind=index_kind, local_features=local_features
        )
    else:
        collection = library.open_collection(name)
    collection.provider = provider
    with _finish_with_update(name):
        return collection.add([str(f) for f in folders], progress=progress, cancel=cancel)


def update_collection(
    data_dir: Path, name: str, provider: str = "auto", *, progress: ProgressFn, cancel: CancelToken
) -> Any:
    collection = _open(data_dir, name, provider)
    with _finish_with_update(name):
        return collection.update(progress=progress, cancel=cancel)


@contextmanager
def _finish_with_update(name: str) -> Iterator[None]:
    """A cancelled indexing job says, in the window's terms, what was kept and how to finish
    (the engine's message names the command line's way)."""
    from sciceapp.errors import CancelledError

    try:
        yield
    except CancelledError as exc:
        report = getattr(exc, "report", None)
        kept = (
            f"{report.added} added and {report.updated} updated photos are kept"
            if report is not None
            else "what was done is kept"
        )
        error = CancelledError(
            f"Indexing of “{name}” cancelled: {kept}. To finish, select “{name}” and press "
            "Update (F5)."
        )
        error.report = report  # type: ignore[attr-defined]
        raise error from exc


def remove_collection(
    data_dir: Path, name: str, *, progress: ProgressFn, cancel: CancelToken
) -> str:
    _library(data_dir).remove_collection(name)
    return name


def skipped_photos(
    data_dir: Path, name: str, *, progress: ProgressFn, cancel: CancelToken
) -> list[Any]:
    return _library(data_dir).open_collection(name).photos(state="skipped")


def locate_photos(
    data_dir: Path,
    name: str,
    paths: list[str],
    top_k: int,
    radius_m: float,
    provider: str = "auto",
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> list[Any]:
    """Locate every photo against the collection; one ``LocateResult`` per photo. A photo
    that is itself in the collection is not its own match (``in_collection``)."""
    from sciceapp.engine.locate import locate

    collection = _open(data_dir, name, provider)
    photos = [Path(p) for p in paths]
    return locate(
        collection, photos, top_k=top_k, radius_m=radius_m, progress=progress, cancel=cancel,
        exclude_self=True,
    )  # fmt: skip


def review_folder(
    data_dir: Path,
    name: str,
    folder: str,
    threshold_m: float,
    top_k: int,
    radius_m: float,
    provider: str = "auto",
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> list[Any]:
    from sciceapp.engine.review import review

    collection = _open(data_dir, name, provider)
    return review(
        collection,
        [folder],
        threshold_m,
        progress=progress,
        cancel=cancel,
        top_k=top_k,
        radius_m=radius_m,
    )


def tile_cache_size(folder: Path, *, progress: ProgressFn, cancel: CancelToken) -> int:
    """Bytes the online tiles kept for offline use take (a walk of many small files)."""
    from sciceapp.engine.tile_cache import TileCache

    return TileCache(folder).size_bytes()


def clear_tile_cache(folder: Path, *, progress: ProgressFn, cancel: CancelToken) -> int:
    """Delete the kept tiles; returns the bytes left (0 unless a file could not be deleted)."""
    from sciceapp.engine.tile_cache import TileCache

    cache = TileCache(folder)
    cache.clear()
    return cache.size_bytes()


def place_name(
    point: tuple[float, float], *, progress: ProgressFn, cancel: CancelToken
) -> str | None:
    """The nearest place's name ("town, region, country"), or None; the first call in a
    process reads the GeoNames table (seconds), which is why it runs in a worker."""
    from sciceapp.engine.places import place_name as nearest_place

    return nearest_place(point)


def explain_match(
    query: str,
    reference: str,
    data_dir: Path | None = None,
    collection: str | None = None,
    photo_id: int | None = None,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> Any:
    """Both photos and their verified correspondences ("Why this match?"), with the matched
    photo's features read from ``collection``'s store when it has them."""
    from sciceapp.engine.match_explanation import explain_match, stored_features

    stored = None
    if data_dir is not None and collection is not None and photo_id is not None:
        try:
            stored = stored_features(_open(data_dir, collection), photo_id, reference)
        except SciceappError as exc:  # a removed collection, a damaged store: extract instead
            log.info("stored features of %s not used: %s", reference, exc)
    return explain_match(
        query, reference, progress=progress, cancel=cancel, reference_features=stored
    )


def import_model_file(
    data_dir: Path, path: str, *, progress: ProgressFn, cancel: CancelToken
) -> Any:
    from sciceapp.engine.manifests import import_model

    return import_model(path, data_dir)


def provider_text(*, progress: ProgressFn, cancel: CancelToken) -> str:
    from sciceapp.engine.onnx_model import provider_report

    return provider_report()


def recommended_precision(requested: str, *, progress: ProgressFn, cancel: CancelToken) -> str:
    from sciceapp.engine.providers import recommended_precision

    return recommended_precision(requested)


def list_models(
    data_dir: Path, *, progress: ProgressFn, cancel: CancelToken
) -> tuple[list[Any], list[Any]]:
    """``(manifests, local models)`` for the model dialog."""
    from sciceapp.engine.manifests import list_manifests

    return list_manifests(), _models(data_dir)


@dataclass
class CpuPaths:
    """How a model runs on this CPU, for the Models dialog."""

    lines: list[str]  # the record's lines, or why there is none
    usable: list[str]  # candidates that can be chosen by hand
    override: str | None


def cpu_paths(
    data_dir: Path, model_path: str, *, progress: ProgressFn, cancel: CancelToken
) -> CpuPaths:
    from sciceapp.engine import tuning
    from sciceapp.engine.onnx_model import read_model_info

    if not str(model_path).endswith(".onnx"):
        return CpuPaths(
            ["Not an ONNX network: it runs as it is, there is nothing to measure."], [], None
        )
    record, why = tuning.load(data_dir, read_model_info(model_path).sha256)
    if record is None:
        return CpuPaths([f"Not measured: {why}. Measured at its first use on this CPU."], [], None)
    usable = [m.name for m in record.candidates if m.status == tuning.OK]
    return CpuPaths(record.lines(), usable, record.override)


def tune_model(
    data_dir: Path, model_path: str, *, progress: ProgressFn, cancel: CancelToken
) -> CpuPaths:
    from sciceapp.engine import calibration
    from sciceapp.engine.onnx_model import read_model_info
    from sciceapp.errors import ModelError

    try:
        calibration.tune(read_model_info(model_path), data_dir, progress=progress, cancel=cancel)
    except ValueError as exc:
        raise ModelError(f"Cannot measure: {exc}.") from exc
    return cpu_paths(data_dir, model_path, progress=progress, cancel=cancel)


def set_cpu_path(
    data_dir: Path, model_path: str, name: str | None, *, progress: ProgressFn, cancel: CancelToken
) -> CpuPaths:
    from sciceapp.engine import tuning
    from sciceapp.engine.onnx_model import read_model_info
    from sciceapp.errors import ModelError

    try:
        tuning.set_override(data_dir, read_model_info(model_path).sha256, name)
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
    return cpu_paths(data_dir, model_path, progress=progress, cancel=cancel)
