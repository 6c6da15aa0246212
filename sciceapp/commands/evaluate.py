"""`sciceapp eval`: Recall@N of a training checkpoint or an exported ONNX model on a standard
VPR dataset, and the batch-stability report of checkpoints.

torch, faiss and onnxruntime are imported inside the functions, so `sciceapp --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sciceapp.commands import write_json
from sciceapp.commands.train import RANDOM_LABEL
from sciceapp.errors import ModelError, SciceappError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval``."""
    ev = subparsers.add_parser(
        "eval", help="Recall@N of a checkpoint or ONNX model on a standard VPR dataset"
    )
    ev.add_argument(
        "--model",
        metavar="CKPT|MODEL.onnx",
        nargs="+",
        required=True,
        type=Path,
        help="a training checkpoint or an exported ONNX model (with --batch-stability: "
        "any number of checkpoints, e.g. the teacher and the student)",
    )
    ev.add_argument(
        "--dataset-root", type=Path, required=True, help="holds <dataset>/images/<split>/"
    )
    ev.add_argument("--dataset", required=True, help="folder name below --dataset-root")
    ev.add_argument("--split", default="test", help="split to evaluate (default test)")
    ev.add_argument(
        "--recall-values",
        type=int,
        nargs="+",
        default=[1, 5, 10, 20],
        metavar="N",
        help="report Recall@N for these N (default 1 5 10 20)",
    )
    ev.add_argument("--batch-size", type=int, default=16, help="inference batch size")
    ev.add_argument("--pca-dim", type=int, help="reduce descriptors by PCA to this many values")
    ev.add_argument("--pca-folder", type=Path, help="images to fit the PCA on (training images)")
    ev.add_argument("--json", metavar="OUT.json", type=Path, help="write the results here")
    ev.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the network runs (ONNX: the execution provider)",
    )
    ev.add_argument(
        "--batch-stability",
        action="store_true",
        help="describe the queries at several batch sizes and orders and report how much "
        "each model's Recall@1 moves (checkpoints only)",
    )
    ev.add_argument("--stability-batch-sizes", type=int, nargs="+", default=[1, 4, 16], metavar="B")
    ev.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from sciceapp.engine.evaluation import Pca, evaluate, list_images, read_split
    from sciceapp.progress import TqdmProgress

    split = read_split(args.dataset_root, args.dataset, args.split)
    if args.batch_stability:
        return _stability(args, split)
    if len(args.model) != 1:
        raise SciceappError("Give one --model (several only with --batch-stability).")
    if (args.pca_dim is None) != (args.pca_folder is None):
        raise SciceappError("Give both --pca-dim and --pca-folder, or neither.")
    describe, label = _describer(args.model[0], args.batch_size, args.device)
    print(f"model: {label}")
    print(
        f"dataset: {split.name}: {len(split.database_paths)} database, "
        f"{len(split.query_paths)} query images"
    )
    pca = None
    if args.pca_dim is not None:
        with TqdmProgress("PCA images", unit="img") as bar:
            pca = Pca(describe(list_images(args.pca_folder), bar, None), args.pca_dim)
    with TqdmProgress("describe", unit="img") as bar:
        result = evaluate(describe, split, args.recall_values, pca=pca, progress=bar)
    print(result.table())
    print(f"extraction: {result.extraction_s:.1f} s")
    if args.json is not None:
        payload = {
            "model": str(args.model[0]),
            "label": label,
            "dataset": split.name,
            "pca_dim": args.pca_dim,
            **result.to_json(),
        }
        write_json(args.json, payload)
        print(f"results written to {args.json}")
    return 0


def _describer(path: Path, batch_size: int, device_name: str):
    """A describer and a label for a checkpoint (PyTorch) or an ONNX file (the engine)."""
    if not path.is_file():
        raise ModelError(f"Model file {path} does not exist.")
    if path.suffix.lower() == ".onnx":
        from sciceapp.engine.evaluation import onnx_describer

        describe = onnx_describer(path, batch_size, provider=device_name)
        return describe, describe.info.display_name
    network, label = _load_checkpoint(path)
    from sciceapp.training.describe import torch_describer
    from sciceapp.training.device import select_device

    device = select_device(device_name)
    describe = torch_describer(network.to(device), network.config.image_size, batch_size, device)
    return describe, label


def _load_checkpoint(path: Path):
    from sciceapp import model

    network = model.build_from_checkpoint(path)
    kind = (
        "teacher (cross-image: its results depend on the query batch size and order)"
        if getattr(network, "teacher", False)
        else "student"
    )
    label = f"{path.name}: {kind}"
    if network.random_init:
        label += f" ({RANDOM_LABEL})"
    return network, label


def _stability(args: argparse.Namespace, split) -> int:
    from sciceapp.training.device import select_device
    from sciceapp.training.stability import batch_stability, format_reports

    device = select_device(args.device)
    reports = []
    for path in args.model:
        if path.suffix.lower() == ".onnx":
            raise SciceappError("--batch-stability compares checkpoints; give .pth files.")
        network, label = _load_checkpoint(path)
        print(f"model: {label}")
        reports.append(
            batch_stability(
                f"{path.parent.name}/{path.stem}",
                network,
                network.config.image_size,
                split,
                batch_sizes=args.stability_batch_sizes,
                database_batch_size=args.batch_size,
                device=device,
            )
        )
    print(format_reports(reports))
    if args.json is not None:
        write_json(args.json, [r.to_json() for r in reports])
    sys.stdout.flush()
    return 0
