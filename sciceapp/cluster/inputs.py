"""What a cluster run covers: the photos under its inputs, cut into shards whose names say
which photos they hold.

Local folders are listed by the engine's own scanner (``pipeline.scan``: the same files
``collection add`` would take); any other filesystem pyarrow reads (``s3://``, ``gs://``,
``hdfs://``) by pyarrow with the same rules (image extensions, no hidden folders). The listing
is sorted and cut into runs of ``shard_photos``; a shard is named by its place in the listing
and a digest of the model and of its photos' names, sizes and modification times
(``photos-0000000-0000999-<digest>.parquet``). A re-run over the same inputs computes the
same names, so a shard already written is kept and only the missing ones are made; a photo
that changed, or another model, gives a new name.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sciceapp.cluster import SHARD_PHOTOS
from sciceapp.engine.images import SUPPORTED_TEXT, is_image_path
from sciceapp.engine.photo_source import is_uri
from sciceapp.errors import CollectionError

SHARD_NAME = re.compile(r"^photos-(\d{7})-(\d{7})-([0-9a-f]{12})\.parquet$")


@dataclass(frozen=True)
class InputFile:
    name: str  # a local absolute path, or a URI
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ShardPlan:
    name: str  # the file name in the output folder
    files: tuple[InputFile, ...]


def _list_local(given: str) -> list[InputFile]:
    from sciceapp.engine.pipeline import scan

    found = []
    for path in scan([given]):
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished since the scan
        found.append(InputFile(str(path), stat.st_size, stat.st_mtime_ns))
    return found


def _hidden(relative: str) -> bool:
    parts = relative.split("/")
    return any(part.startswith(".") for part in parts[:-1])


def _list_arrow(uri: str) -> list[InputFile]:
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        filesystem, base = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            raise CollectionError(f"{uri} does not exist (or is not a file or folder).")
        scheme = uri.split("://", 1)[0]
        if info.type == pafs.FileType.File:
            infos = [info]
        else:
            infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    except pa.ArrowException as exc:
        raise CollectionError(f"Cannot list {uri}: {exc}") from exc
    except OSError as exc:  # pyarrow raises plain OSErrors for missing credentials, networks
        raise CollectionError(f"Cannot list {uri}: {exc}") from exc
    found = []
    for entry in infos:
        relative = entry.path[len(base) :].lstrip("/")
        if entry.type != pafs.FileType.File or not is_image_path(entry.path):
            continue
        if info.type != pafs.FileType.File and _hidden(relative):
            continue
        found.append(InputFile(f"{scheme}://{entry.path}", entry.size, entry.mtime_ns or 0))
    return found


def list_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[InputFile]:
    """Every photo under ``inputs``, sorted by name, each once. ``CollectionError`` for an
    input that does not exist or cannot be listed, and when there are no photos at all."""
    inputs = [os.fspath(given) for given in inputs]
    if not inputs:
        raise CollectionError("Give at least one folder, file or URI to index.")
    found: dict[str, InputFile] = {}
    for given in inputs:
        if given.startswith("file://"):
            given = given[len("file://") :]
        listed = _list_arrow(given) if is_uri(given) else _list_local(given)
        found.update((entry.name, entry) for entry in listed)
    if not found:
        raise CollectionError(
            f"No photos found in {', '.join(inputs)} (looked for {SUPPORTED_TEXT} files)."
        )
    return [found[name] for name in sorted(found)]


def _digest(model_sha256: str, files: Iterable[InputFile]) -> str:
    digest = hashlib.sha256(model_sha256.encode())
    for entry in files:
        digest.update(f"\0{entry.name}\0{entry.size}\0{entry.mtime_ns}".encode())
    return digest.hexdigest()[:12]


def plan_shards(
    files: list[InputFile], model_sha256: str, shard_photos: int = SHARD_PHOTOS
) -> list[ShardPlan]:
    """``files`` (sorted) cut into shards of ``shard_photos``, named as the module says."""
    if shard_photos < 1:
        raise ValueError("shard_photos must be at least 1")
    plans = []
    for start in range(0, len(files), shard_photos):
        chunk = tuple(files[start : start + shard_photos])
        end = start + len(chunk) - 1
        name = f"photos-{start:07d}-{end:07d}-{_digest(model_sha256, chunk)}.parquet"
        plans.append(ShardPlan(name, chunk))
    return plans


def foreign_shards(output: Path, plans: list[ShardPlan]) -> list[str]:
    """Shards in ``output`` that this run would not write (other inputs, changed photos,
    another model): ``collection import`` of the folder would read them too."""
    if not output.is_dir():
        return []
    ours = {plan.name for plan in plans}
    return sorted(
        entry.name
        for entry in output.iterdir()
        if SHARD_NAME.match(entry.name) and entry.name not in ours
    )
