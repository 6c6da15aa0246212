"""`sciceapp collection`: create, fill, update, import, export, list, show and remove
reference collections. This module holds the commands that change a collection; ``create``
is in ``collection_create``, ``list`` and ``show`` in ``collection_show``.

Indexing shows a tqdm bar; Ctrl-C stops after the batch in progress and keeps everything
finished before it (the next `add` or `update` goes on from there).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sciceapp.commands.arguments import integer

SKIPPED_SHOWN = 20
MAX_BATCH_SIZE = 4096


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``collection create|add|update|import|export-shards|list|show|remove``."""
    group = subparsers.add_parser("collection", help="build and inspect reference collections")
    sub = group.add_subparsers(dest="collection_command", metavar="ACTION", required=True)

    from sciceapp.commands import collection_create, collection_show

    collection_create.register(sub)

    add = sub.add_parser("add", help="add photo files or folders (recursively) and embed them")
    add.add_argument("name")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add_run_options(add)
    add.set_defaults(func=_add)

    update = sub.add_parser("update", help="re-scan: embed new and changed photos, drop deleted")
    update.add_argument("name")
    update.add_argument(
        "--prune-missing",
        action="store_true",
        help="also drop the photos of folders that are not found (by default they are kept: "
        "an unplugged drive or unmounted share comes back)",
    )
    update.add_argument(
        "--local-features",
        choices=("on", "off"),
        help="switch local features on (extracted for every photo, without re-embedding) or "
        "off (their file is deleted)",
    )
    add_run_options(update)
    update.set_defaults(func=_update)

    importing = sub.add_parser(
        "import", help="add photos described elsewhere, from Parquet shards (docs/shards.md)"
    )
    importing.add_argument("name")
    importing.add_argument("shards", nargs="+", metavar="SHARD", help="shard files or folders")
    importing.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    importing.set_defaults(func=_import)

    export = sub.add_parser(
        "export-shards", help="write the collection as Parquet shards (backup, moving machines)"
    )
    export.add_argument("name")
    export.add_argument("folder", metavar="DIR")
    export.add_argument("--rows-per-shard", type=int, default=100_000)
    export.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    export.set_defaults(func=_export)

    drop = sub.add_parser("remove-folder", help="stop tracking a folder and drop its photos")
    drop.add_argument("name")
    drop.add_argument("path", metavar="PATH", help="a file or folder given to `add`")
    add_run_options(drop)
    drop.set_defaults(func=_remove_folder)

    rebuild = sub.add_parser(
        "rebuild", help="embed every photo again into a new index (for a damaged index file)"
    )
    rebuild.add_argument("name")
    add_run_options(rebuild)
    rebuild.set_defaults(func=_rebuild)

    collection_show.register(sub)

    remove = sub.add_parser("remove", help="delete a collection (the photos themselves stay)")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--provider``, ``--batch-size`` and ``--quiet``: how a job runs (``search`` too)."""
    parser.add_argument(
        "--provider",
        choices=("auto", "cpu", "cuda", "tensorrt"),
        default="auto",
        help="ONNX Runtime execution provider (default: the best available)",
    )
    parser.add_argument(
        "--batch-size",
        type=integer(1, MAX_BATCH_SIZE),
        default=None,
        help=f"images per model call (1 to {MAX_BATCH_SIZE})",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def library(args: argparse.Namespace) -> Any:
    """The library of the data folder the command line names."""
    from sciceapp.engine.library import Library
    from sciceapp.paths import data_dir

    return Library(data_dir(args.data_dir))


def _index(args: argparse.Namespace, job: str) -> int:
    from sciceapp.engine.collection import CollectionOptions

    options = CollectionOptions(provider=args.provider, batch_size=args.batch_size)
    collection = library(args).open_collection(args.name, options)
    what = f"{job} {collection.name}"
    switch = getattr(args, "local_features", None)
    if job == "add":
        done = _reporting(args, what, "photo", collection.add, args.paths)
    elif job == "update" and switch is not None:
        done = _reporting(args, what, "photo", collection.set_local_features, switch == "on")
        print(f"Local features {switch} for {collection.name!r}.")
    elif job == "update":
        done = _reporting(args, what, "photo", collection.update, prune_missing=args.prune_missing)
    elif job == "remove-folder":
        done = _reporting(args, what, "photo", collection.remove_folder, args.path)
    else:
        done = _reporting(args, what, "photo", collection.rebuild)
    # Said after the job: the model session starts while the first photos are decoded, and on
    # a CPU its first use measures which way of running it is fastest here.
    print(collection.embedder().provider_report.splitlines()[0], file=sys.stderr)
    return done


def _reporting(
    args: argparse.Namespace, what: str, unit: str, job: Any, *job_args: Any, **job_kw: Any
) -> int:
    """Run ``job(*job_args, **job_kw, progress=, cancel=)`` under a tqdm bar and print its
    report (also the part a cancel kept)."""
    from sciceapp.errors import CancelledError
    from sciceapp.progress import CancelToken, TqdmProgress

    try:
        with TqdmProgress(what, unit=unit, disable=args.quiet) as bar:
            report = job(*job_args, **job_kw, progress=bar, cancel=CancelToken())
    except CancelledError as exc:
        partial = getattr(exc, "report", None)
        if partial is not None:
            _print_report(partial)
        raise
    _print_report(report)
    return 0


def _print_report(report: Any) -> None:
    print(
        f"added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}, skipped {len(report.skipped)}"
    )
    for path, reason in report.skipped[:SKIPPED_SHOWN]:
        print(f"  skipped {path}: {reason}")
    if len(report.skipped) > SKIPPED_SHOWN:
        print(f"  ... and {len(report.skipped) - SKIPPED_SHOWN} more (see `collection show`)")
    for root in report.missing_roots:
        print(f"folder not found: {root}")
    if report.missing_roots:
        print(
            f"  {report.missing_photos} photos kept (an unplugged drive or unmounted share "
            "comes back with them). To drop them: `sciceapp collection remove-folder NAME "
            "FOLDER`, or `update --prune-missing`."
        )


def _import(args: argparse.Namespace) -> int:
    collection = library(args).open_collection(args.name)
    return _reporting(
        args, f"import {collection.name}", "row", collection.import_shards, args.shards
    )


def _export(args: argparse.Namespace) -> int:
    from sciceapp.progress import TqdmProgress

    collection = library(args).open_collection(args.name)
    with TqdmProgress(f"export {collection.name}", unit="row", disable=args.quiet) as bar:
        written = collection.export_shards(
            args.folder, rows_per_shard=args.rows_per_shard, progress=bar
        )
    print(f"Wrote {len(written)} shard(s) to {args.folder}.")
    return 0


def _add(args: argparse.Namespace) -> int:
    return _index(args, "add")


def _update(args: argparse.Namespace) -> int:
    return _index(args, "update")


def _remove_folder(args: argparse.Namespace) -> int:
    return _index(args, "remove-folder")


def _rebuild(args: argparse.Namespace) -> int:
    return _index(args, "rebuild")


def _remove(args: argparse.Namespace) -> int:
    library(args).remove_collection(args.name)
    print(f"Removed collection {args.name!r} (the photo files are untouched).")
    return 0
