"""Measuring every candidate way of running a model on this CPU, and choosing one.

Each usable candidate (``runtimes.py``) embeds the same real photos; one whose descriptors
fall below ``tuning.MIN_COSINE`` to the reference's (ONNX Runtime on the file as it is) on
any photo is refused. The rest are timed taking turns, call by call, so background load on a
shared machine falls on all alike; images/s is the batch over the median call time. The
fastest at an indexing batch size wins, and that batch size becomes the indexing batch size.
Batch 8 is timed first; candidates under ``PRUNE_BELOW`` of the best there are not timed at
the other batch sizes, which keeps the calibration short.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sciceapp.engine import runtimes, tuning
from sciceapp.engine.int8 import int8_problem, to_int8
from sciceapp.engine.runtimes import Candidate, Runner
from sciceapp.progress import CancelToken, ProgressCallback

log = logging.getLogger(__name__)

INDEXING_BATCH_SIZES = (8, 16)
QUERY_BATCH_SIZE = 1
REPEATS = 3
PAUSE_S = 0.2
"""Idle before each timed call, so the previous runtime's threads have stopped spinning."""
PRUNE_BELOW = 0.6
LARGER_BATCH_GAIN = 1.05
"""A larger indexing batch is taken only when it is this much faster (it costs memory and
makes progress and cancelling coarser)."""

Opener = Callable[[Candidate, Path], Runner]


def calibrate(
    info,
    images: np.ndarray,
    data_dir: Path,
    *,
    reference: Runner | None = None,
    threads: int | None = None,
    spin: bool = False,
    pause_s: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[tuning.Tuning, dict[str, Runner]]:
    """Measure the candidates for ``info``'s model on ``images`` (float32 ``[N, 3, S, S]``,
    real photos as the model sees them), save the record and return it with the open runners
    of the candidates that passed (the caller keeps the one it runs and drops the rest)."""
    pause_s = PAUSE_S if pause_s is None else pause_s
    candidates = runtimes.candidates_for(info.precision)
    problem_of_int8 = int8_problem()
    measured: dict[str, tuning.Measured] = {}
    runners: dict[str, Runner] = {}
    step, steps = 0, len(candidates) + 1 + len(INDEXING_BATCH_SIZES)
    for candidate in candidates:
        _report(progress, step, steps, f"starting {candidate.name}")
        step += 1
        if cancel is not None:
            cancel.raise_if_cancelled()
        why = runtimes.problem(candidate, problem_of_int8)
        if why:
            measured[candidate.name] = tuning.Measured(candidate.name, tuning.UNAVAILABLE, why)
            continue
        try:
            if candidate is candidates[0] and reference is not None:
                runner = reference
            else:
                runner = _open(candidate, info, data_dir, threads, spin)
            runner(images[:1])  # a first call: compiles lazily in some runtimes
        except Exception as exc:  # any runtime failure leaves this candidate out, not the job
            log.warning("%s failed to start", candidate.name, exc_info=True)
            reason = f"failed to start ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
            measured[candidate.name] = tuning.Measured(candidate.name, tuning.FAILED, reason)
            continue
        runners[candidate.name] = runner
    reference_name = candidates[0].name
    if reference_name not in runners:
        raise RuntimeError(f"the reference {reference_name} did not start")
    expected = _descriptors(runners[reference_name], images)
    for name in list(runners):
        cosine = float(np.min(np.sum(expected * _descriptors(runners[name], images), axis=1)))
        measured[name] = tuning.Measured(name, tuning.OK, min_cosine=cosine)
        if cosine < tuning.MIN_COSINE:
            measured[name].status = tuning.REFUSED
            measured[
                name
            ].reason = f"min cosine {cosine:.5f} to {reference_name} is below {tuning.MIN_COSINE}"
            del runners[name]
    order = [INDEXING_BATCH_SIZES[0], QUERY_BATCH_SIZE, *INDEXING_BATCH_SIZES[1:]]
    timed = list(runners)
    for batch_size in order:
        _report(progress, step, steps, f"timing batch {batch_size}")
        step += 1
        batch = _tile(images, batch_size)
        for name, speed in zip(
            timed,
            _time_round_robin([runners[n] for n in timed], batch, pause_s, cancel),
            strict=True,
        ):
            measured[name].images_per_s[batch_size] = speed
        if batch_size == INDEXING_BATCH_SIZES[0]:
            best = max(measured[n].images_per_s[batch_size] for n in timed)
            timed = [n for n in timed if measured[n].images_per_s[batch_size] >= PRUNE_BELOW * best]
    chosen, batch_size = choose(measured.values())
    _report(progress, steps, steps, f"chose {chosen}")
    record = tuning.Tuning(
        model_sha256=info.sha256,
        machine=tuning.machine(),
        runtimes=runtimes.runtime_versions(),
        calibrated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        photos=len(images),
        chosen=chosen,
        batch_size=batch_size,
        candidates=[measured[c.name] for c in candidates],
    )
    tuning.save(data_dir, record)
    tuning.forget_compiled(data_dir, info.sha256)  # compiled for an earlier choice or runtime
    in_use = models_in_use(data_dir)
    if in_use is not None:
        tuning.prune(data_dir, in_use | {info.sha256})
    log.info("calibrated %s:\n%s", info.path.name, "\n".join(record.lines()))
    return record, runners


def models_in_use(data_dir: Path) -> set[str] | None:
    """SHA-256 of every model in the data folder's models and of every collection's model;
    None when the catalogue cannot be read (then nothing may be pruned)."""
    import sqlite3

    from sciceapp.engine import catalogue
    from sciceapp.engine.model_info import model_fingerprint
    from sciceapp.paths import models_dir

    try:
        found = {model_fingerprint(p) for p in models_dir(Path(data_dir)).glob("*.onnx")}
    except OSError:
        log.warning("cannot read every model file; keeping every tuning file")
        return None
    database = Path(data_dir) / catalogue.FILE_NAME
    if not database.exists():
        return found
    try:
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            found |= catalogue.model_fingerprints(db)
    except sqlite3.Error:
        log.warning("cannot read the collections' models; keeping every tuning file")
        return None
    return found


def choose(measured) -> tuple[str, int]:
    """The fastest faithful candidate at an indexing batch size, and that batch size."""

    def indexing_speed(m: tuning.Measured) -> tuple[float, int]:
        best_size = INDEXING_BATCH_SIZES[0]
        for size in INDEXING_BATCH_SIZES[1:]:
            if m.images_per_s.get(size, 0.0) > LARGER_BATCH_GAIN * m.images_per_s.get(
                best_size, 0.0
            ):
                best_size = size
        return m.images_per_s.get(best_size, 0.0), best_size

    passed = [m for m in measured if m.status == tuning.OK and m.images_per_s]
    winner = max(passed, key=lambda m: indexing_speed(m)[0])
    return winner.name, indexing_speed(winner)[1]


def open_candidate(
    candidate: Candidate, info, data_dir: Path, *, threads: int | None, spin: bool
) -> Runner:
    """A runner for ``candidate`` on ``info``'s model (making the int8 copy if it needs one)."""
    return _open(candidate, info, data_dir, threads, spin, cache=True)


def _open(
    candidate: Candidate,
    info,
    data_dir: Path,
    threads: int | None,
    spin: bool,
    cache: bool = False,
) -> Runner:
    """``cache``: keep OpenVINO's compiled model in the data folder (a few hundred MB for the
    base model, so only for the path in use, not for every candidate calibration tries)."""
    path = info.path
    if candidate.int8_copy:
        path = tuning.int8_copy_path(data_dir, info.sha256)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            to_int8(info.path, partial)
            partial.replace(path)
    folder = tuning.compiled_dir(data_dir, info.sha256) if cache else None
    return runtimes.open_runner(candidate, path, threads=threads, spin=spin, cache_dir=folder)


def _descriptors(runner: Runner, images: np.ndarray) -> np.ndarray:
    """Unit descriptors of ``images``, one call per photo (any runtime takes batch 1)."""
    out = np.concatenate([runner(images[i : i + 1]) for i in range(len(images))])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _tile(images: np.ndarray, batch_size: int) -> np.ndarray:
    reps = -(-batch_size // len(images))
    return np.ascontiguousarray(np.concatenate([images] * reps)[:batch_size])


def _time_round_robin(
    runners: list[Runner], batch: np.ndarray, pause_s: float, cancel: CancelToken | None
) -> list[float]:
    for runner in runners:  # warm-up: first calls at a new shape allocate and compile
        runner(batch)
    seconds: list[list[float]] = [[] for _ in runners]
    for _ in range(REPEATS):
        for index, runner in enumerate(runners):
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(pause_s)
            start = time.perf_counter()
            runner(batch)
            seconds[index].append(time.perf_counter() - start)
    return [len(batch) / statistics.median(s) for s in seconds]


def _report(progress: ProgressCallback | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, f"calibrating: {message}")


CALIBRATION_PHOTOS = 8


def calibration_images(info, photo_paths: list[Path]) -> tuple[np.ndarray, list[Path]]:
    """The first ``CALIBRATION_PHOTOS`` decodable photos of ``photo_paths`` (in the order
    given) as the model's input, float32 ``[N, 3, S, S]``, and which they are."""
    from sciceapp.engine.images import load_for_model
    from sciceapp.errors import ImageError

    pixels, used = [], []
    for path in photo_paths:
        try:
            pixels.append(load_for_model(path, info.image_size, info.mean, info.std))
        except (ImageError, OSError):
            continue
        used.append(path)
        if len(used) == CALIBRATION_PHOTOS:
            break
    if not used:
        raise ValueError("none of the photos given can be decoded")
    return np.stack(pixels), used


def collection_photos(data_dir: Path, model_sha256: str) -> list[Path]:
    """The indexed photos of every collection built with this model file (a fixed set: by
    collection name, then by photo id), existing files only."""
    from sciceapp.engine.library import Library

    library = Library(data_dir)
    found: list[Path] = []
    for summary in library.list_collections():
        collection = library.open_collection(summary.name)
        if collection.model_sha256 != model_sha256:
            continue
        for record in sorted(collection.photos("indexed"), key=lambda r: r.id):
            if Path(record.path).is_file():
                found.append(Path(record.path))
            if len(found) >= 4 * CALIBRATION_PHOTOS:
                return found
    return found


def tune(
    info,
    data_dir: Path,
    photo_paths: list[Path] | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuning.Tuning:
    """Calibrate ``info``'s model on ``photo_paths`` (default: the photos of the collections
    built with it) and record the result. Raises ``ValueError`` saying why when there are no
    photos to calibrate on."""
    photos = photo_paths or collection_photos(data_dir, info.sha256)
    if not photos:
        raise ValueError(
            "no photos to calibrate on: no collection uses this model yet (give some photos, "
            f"about {CALIBRATION_PHOTOS} are used)"
        )
    images, _ = calibration_images(info, photos)
    return calibrate(info, images, data_dir, progress=progress, cancel=cancel)[0]
