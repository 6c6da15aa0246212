"""`sciceapp cluster index`: describe photos on a Ray cluster (or a local Ray) into Parquet
shards for `sciceapp collection import` (docs/cluster.md).

Needs the ``cluster`` extra (ray[data]); without it the command says how to install it.
"""

from __future__ import annotations

import argparse
import sys

from sciceapp.commands.arguments import integer, number

SKIPPED_SHOWN = 20
INSTALL_HINT = (
    "'sciceapp cluster' needs Ray Data, which is not installed here. Install the cluster "
    "extra: pip install 'sciceapp[cluster]' (the desktop app does not include it)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cluster index``."""
    from sciceapp.cluster import DECODES, SHARD_PHOTOS

    group = subparsers.add_parser(
        "cluster", help="index photos on a Ray cluster into shards (docs/cluster.md)"
    )
    sub = group.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    index = sub.add_parser(
        "index",
        help="describe photos with Ray Data into Parquet shards for `collection import`",
        description="Describe every photo under INPUT (local folders or files, or URIs that "
        "pyarrow reads: s3://, gs://, hdfs://) with the model, on Ray Data: CPU tasks decode, "
        "an actor pool runs the model. Writes one shard per --shard-photos photos into "
        "--output; a run over the same inputs again writes only the shards that are missing.",
    )
    index.add_argument("inputs", nargs="+", metavar="INPUT")
    index.add_argument("--model", metavar="MODEL.onnx", required=True, help="an exported model")
    index.add_argument("--output", metavar="SHARD_DIR", required=True, help="folder for shards")
    index.add_argument(
        "--address",
        metavar="ADDRESS",
        help="an existing Ray cluster (ray://host:10001 or host:6379; default $RAY_ADDRESS, "
        "else a local Ray on every CPU of this machine)",
    )
    index.add_argument(
        "--workers",
        type=integer(1, 100_000),
        help="model workers (actors), each with its own ONNX Runtime session (default: one "
        "per --gpus-per-worker GPUs of the cluster, or 1 without GPUs)",
    )
    index.add_argument(
        "--gpus-per-worker",
        type=number(0, 64),
        default=0.0,
        help="GPUs each worker holds (default 0: the model runs on the CPU; 1 for one worker "
        "per GPU, 0.5 for two)",
    )
    index.add_argument(
        "--batch-size",
        type=integer(1, 4096),
        help="photos per model call (default: what the desktop uses for the provider)",
    )
    index.add_argument(
        "--provider",
        default="auto",
        help="ONNX Runtime provider on the workers, chosen and falling back as on the desktop "
        "(default auto: the best one each worker can start; `sciceapp doctor` lists them)",
    )
    index.add_argument(
        "--decode",
        choices=DECODES,
        default=DECODES[0],
        help="where JPEGs are decoded: cpu (decode tasks, as `collection add`; default) or "
        "gpu (nvImageCodec on the model workers; falls back to the CPU, saying why)",
    )
    index.add_argument(
        "--shard-photos",
        type=integer(1, 10_000_000),
        default=SHARD_PHOTOS,
        help=f"photos per shard (default {SHARD_PHOTOS})",
    )
    index.set_defaults(func=_index)


def _index(args: argparse.Namespace) -> int:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("ray", "pandas", "pyarrow"):
            raise
        print(f"sciceapp: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from sciceapp.cluster.job import IndexOptions, index

    options = IndexOptions(
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        provider=args.provider,
        decode=args.decode,
        shard_photos=args.shard_photos,
        address=args.address,
    )
    report = index(args.model, args.output, args.inputs, options)
    print(
        f"{report.photos} photos described in {report.seconds:.1f} s "
        f"({report.photos_per_s:.1f} photos/s): {report.indexed} indexed, "
        f"{len(report.skipped)} skipped."
    )
    print(
        f"Shards in {args.output}: {len(report.written)} written, {len(report.kept)} already "
        "there (kept)."
    )
    for note in sorted(report.workers):
        print(f"Workers: {note}")
    for reason, count in report.reasons().most_common():
        print(f"  skipped {count}: {reason}")
    for name, reason in report.skipped[:SKIPPED_SHOWN]:
        print(f"  {name}: {reason}")
    if len(report.skipped) > SKIPPED_SHOWN:
        print(f"  ... and {len(report.skipped) - SKIPPED_SHOWN} more")
    if report.foreign:
        print(
            f"Note: {len(report.foreign)} other shards in {args.output} come from other inputs "
            "or another model; `sciceapp collection import` of the folder reads them too."
        )
    print(f"Bring them into a collection with: sciceapp collection import NAME {args.output}")
    return 0
