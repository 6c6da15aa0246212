"""`sciceapp collection create`: a new, empty collection bound to one model, with the index
kind, stored descriptor type, local features and compressed index settings it keeps."""

from __future__ import annotations

import argparse

from sciceapp.commands.arguments import integer
from sciceapp.commands.collection import library
from sciceapp.engine.defaults import AUTO_TWOSTAGE_FROM, INDEX_CODES, INDEX_PARAM_RANGES


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``collection create``."""
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


def _create(args: argparse.Namespace) -> int:
    from sciceapp.engine.index import IndexParams

    chosen = {
        key: getattr(args, key)
        for key in ("pca_dim", "nlist", "pq_m", "pq_bits", "nprobe", "shortlist", "code")
        if getattr(args, key) is not None
    }
    params = IndexParams(**chosen) if chosen else None
    collection = library(args).create_collection(
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
