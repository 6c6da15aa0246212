"""`sciceapp collection`: create, fill, update, import, export, list, show and remove
reference collections.

Indexing shows a tqdm bar; Ctrl-C stops after the batch in progress and keeps everything
finished before it (the next `add` or `update` goes on from there).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sciceapp.commands.arguments import integer
from sciceapp.engine.defaults import AUTO_TWOSTAGE_FROM, INDEX_CODES, INDEX_PARAM_RANGES

SKIPPED_SHOWN = 20
MAX_BATCH_SIZE = 4096


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``collection create|add|update|import|export-shards|list|show|remove``."""
    group = subparsers.add_parser("collection", help="build and inspect reference collections")
    sub = group.add_subparsers(dest="collection_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="a new, empty collection bound to one model")
    create.add_argument("name")
    create.add_argument(
        "--model",
        metavar="MODEL.onnx|classical",
        required=True,
        help="an exported ONNX model, or `classical`: RootSIFT-VLAD (classical, training-free: "
        "no download, learns its vocabulary from the collection's first photos)",
    )
    create.add_argument(
        "--index-kind",
        choices=("auto", "flat", "pca", "ivfpq", "twostage"),
        default="auto",
        help="auto (default): exact search while it is the faster, the two-stage kind from "
        f"{AUTO_TWOSTAGE_FROM} photos. flat: always exact. twostage: a compressed shortlist "
        "re-ranked exactly from the stored descriptors, for large collections. pca / ivfpq: "
        "compressed only, smaller and less exact. The collection stays exact until it has "
        "enough photos to train them, and `show` says which kind is in use, why, and its "
        "recall against exact search",
    )
    create.add_argument(
        "--store-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="type of the stored descriptors: float32 (default) or float16 (half the disk)",
    )
    create.add_argument(
        "--local-features",
        choices=("on", "off"),
        default="on",
        help="store SIFT features of every photo, so that matches can be verified "
        "geometrically (default on; about 264 KB and a few hundred ms of indexing per photo)",
    )
    tuning = create.add_argument_group("compressed index settings (pca, ivfpq, twostage)")
    for option, text in (
        ("--pca-dim", "reduced descriptor size (default 1024)"),
        ("--nlist", "ivfpq, twostage: inverted lists (default 256)"),
        ("--pq-m", "ivfpq, twostage with --code pq: bytes per photo (default 128)"),
        ("--pq-bits", "ivfpq, twostage with --code pq: bits per code (default 8)"),
        ("--nprobe", "ivfpq, twostage: lists searched (default 256: all of the default lists)"),
        ("--shortlist", "twostage: photos re-ranked exactly per query (default 1024)"),
    ):
        low, high = INDEX_PARAM_RANGES[option[2:].replace("-", "_")]
        tuning.add_argument(option, type=integer(low, high), help=f"{text}; {low} to {high}")
    tuning.add_argument(
        "--code",
        choices=INDEX_CODES,
        help="twostage: the shortlist's codes: pq4, 4-bit fast-scan codes, one per 2 reduced "
        "values (default; pca-dim/4 bytes per photo), sq8, 8 bits per reduced value (pca-dim "
        "bytes, about 8x slower to scan), or pq, pq-m bytes per photo (less recall)",
    )
    create.set_defaults(func=_create)

    add = sub.add_parser("add", help="add photo files or folders (recursively) and embed them")
    add.add_argument("name")
    add.add_argument("paths", nargs="+", metavar="PATH")
    _add_run_options(add)
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
    _add_run_options(update)
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
    _add_run_options(drop)
    drop.set_defaults(func=_remove_folder)

    rebuild = sub.add_parser(
        "rebuild", help="embed every photo again into a new index (for a damaged index file)"
    )
    rebuild.add_argument("name")
    _add_run_options(rebuild)
    rebuild.set_defaults(func=_rebuild)

    listing = sub.add_parser("list", help="every collection with its counts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    show = sub.add_parser("show", help="counts, model and skipped files of one collection")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    remove = sub.add_parser("remove", help="delete a collection (the photos themselves stay)")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
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


def _library(args: argparse.Namespace) -> Any:
    from sciceapp.engine.library import Library
    from sciceapp.paths import data_dir

    return Library(data_dir(args.data_dir))


def _create(args: argparse.Namespace) -> int:
    from sciceapp.engine.index import IndexParams

    chosen = {
        key: getattr(args, key)
        for key in ("pca_dim", "nlist", "pq_m", "pq_bits", "nprobe", "shortlist", "code")
        if getattr(args, key) is not None
    }
    params = IndexParams(**chosen) if chosen else None
    collection = _library(args).create_collection(
        args.name,
        args.model,
        index_kind=args.index_kind,
        index_params=params,
        store_dtype=args.store_dtype,
        local_features=args.local_features == "on",
    )
    print(f"Created collection {collection.name!r} with {collection.model_label}.")
    summary = collection.summary()
    if summary.index_flat_reason:
        print(f"Index: exact (flat) for now: {summary.index_flat_reason}.")
    return 0


def _index(args: argparse.Namespace, job: str) -> int:
    from sciceapp.engine.collection import CollectionOptions

    options = CollectionOptions(provider=args.provider, batch_size=args.batch_size)
    collection = _library(args).open_collection(args.name, options)
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
    collection = _library(args).open_collection(args.name)
    return _reporting(
        args, f"import {collection.name}", "row", collection.import_shards, args.shards
    )


def _export(args: argparse.Namespace) -> int:
    from sciceapp.progress import TqdmProgress

    collection = _library(args).open_collection(args.name)
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


def _summary_dict(summary: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(summary)


def _list(args: argparse.Namespace) -> int:
    summaries = _library(args).list_collections()
    if args.json:
        print(json.dumps([_summary_dict(s) for s in summaries], indent=2))
        return 0
    if not summaries:
        print("No collections yet (create one with `sciceapp collection create NAME --model M`).")
    for s in summaries:
        print(
            f"{s.name}: {s.indexed} indexed ({s.without_gps} without GPS), {s.skipped} skipped"
            f" - {s.model_label}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    collection = _library(args).open_collection(args.name)
    summary = collection.summary()
    skipped = [(p.path, p.skip_reason) for p in collection.photos(state="skipped")]
    if args.json:
        data = _summary_dict(summary)
        data["skipped_files"] = [{"path": path, "reason": reason} for path, reason in skipped]
        print(json.dumps(data, indent=2))
        return 0
    print(f"Collection: {summary.name} (created {summary.created})")
    print(f"Model:      {summary.model_label}")
    print(f"            {summary.model_path} (sha256 {summary.model_sha256[:16]}...)")
    if summary.model_random_init:
        print("Warning:    this model has random weights: results are a demo, not accurate.")
    print(f"Index:      {_index_text(summary)}")
    print(f"Features:   {_features_text(summary)}")
    print(
        f"Photos:     {summary.indexed} indexed, {summary.without_gps} of them without GPS "
        "(they match but cannot vote for a location)"
    )
    for folder in summary.missing_folders:
        print(f"Folder:     {folder} (folder not found at the last update; its photos are kept)")
    print(f"Skipped:    {summary.skipped}")
    for path, reason in skipped:
        print(f"  {path}: {reason}")
    return 0


def _features_text(summary: Any) -> str:
    if not summary.local_features:
        return (
            "off: matches are not verified (`sciceapp collection update NAME --local-features "
            "on` adds them without re-embedding)"
        )
    return (
        f"on, {summary.features_photos} of {summary.indexed} photos; "
        f"{summary.features_bytes_per_photo / 1024:.0f} KB per photo, "
        f"{summary.features_ms_per_photo:.0f} ms extra indexing time per photo"
    )


def _index_text(summary: Any) -> str:
    exact = "flat (exact inner-product search over the stored descriptors)"
    if summary.index_kind == "flat":
        return f"{exact}, as chosen"
    if summary.index_kind_used == "flat":
        return f"{summary.index_kind} requested, {exact} in use: {summary.index_flat_reason}"
    recall = summary.index_recall_at_10
    measured = f"{recall:.3f}" if recall is not None else "not measured"
    what = (
        f"{summary.index_settings}, re-ranked exactly with the stored descriptors"
        if summary.index_kind_used == "twostage"
        else f"compressed: {summary.index_settings}"
    )
    return (
        f"{summary.index_kind_used} ({what}), {summary.index_reason}; recall@10 against exact "
        f"search {measured}, measured on this collection's own photos when it converted"
    )


def _remove(args: argparse.Namespace) -> int:
    _library(args).remove_collection(args.name)
    print(f"Removed collection {args.name!r} (the photo files are untouched).")
    return 0
