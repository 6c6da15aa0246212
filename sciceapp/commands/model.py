"""`sciceapp model`: export, get, fetch, list, inspect, import and tune models.

This module holds the commands that make a model file: ``export`` (from PyTorch), ``get``
(built without torch) and ``fetch`` (a backbone download). They take ``--json``: one JSON
object per line on stdout (``{"event": "progress", "done", "total", "message"}``, then
``{"event": "done", ...}`` or ``{"event": "error", "message"}``; ``model_progress``), so the
GUI can run them in a subprocess and show progress. ``list``, ``info`` and ``import`` are in
``model_files``, ``tune`` in ``tune``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sciceapp.commands.arguments import http_url, output_file, output_folder
from sciceapp.commands.model_progress import (
    StepsAndBytes,
    emit,
    json_progress,
    run_reporting_errors,
    step_lines,
)
from sciceapp.errors import ModelError

PRECISIONS = ("fp32", "fp16", "int8")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``model export|fetch|list|info|import|tune``."""
    group = subparsers.add_parser("model", help="build, download and inspect models")
    sub = group.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    export = sub.add_parser("export", help="export a SciceVPR network to an ONNX model file")
    # Optional with --checkpoint: our own checkpoints record their network.
    source = export.add_mutually_exclusive_group()
    source.add_argument("--preset", metavar="NAME", help="a known network (see `model list`)")
    source.add_argument("--config", metavar="FILE.json", help="a network configuration file")
    export.add_argument("--checkpoint", metavar="CKPT", help="trained SciceVPR weights")
    export.add_argument("--backbone-weights", metavar="DINOV2.pth", help="official DINOv2 file")
    export.add_argument(
        "--random-init",
        action="store_true",
        help="allow random weights for what no file provides (demo model, not accurate)",
    )
    export.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for random weights (default 0; recorded in the model's metadata)",
    )
    export.add_argument("--precision", choices=PRECISIONS, default="fp32")
    export.add_argument(
        "--opset",
        type=int,
        choices=range(18, 24),
        metavar="18..23",
        help="ONNX opset (default 23: one fused Attention node per block, which needs "
        "onnxruntime >= 1.31 to run on CUDA; 18 for older runtimes)",
    )
    export.add_argument("--output", "-o", metavar="OUT.onnx", type=output_file, required=True)
    export.add_argument("--json", action="store_true", help="machine-readable progress")
    export.set_defaults(func=_export)

    get = sub.add_parser(
        "get",
        help="download and build a real model in one step (no PyTorch needed)",
        description="Download the official DINOv2 backbone of a training-free model (resumed, "
        "checked), build its ONNX graph without PyTorch, convert it to the precision that runs "
        "fastest here and put it into the data folder. With --checkpoint, build from a local "
        "file instead: an official backbone (.pth or .safetensors) or, for scicevpr-b/-l, "
        "the authors' trained checkpoint.",
    )
    get.add_argument("name", metavar="NAME", help="dinov2-gem-b, dinov2-gem-s, or a preset")
    get.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="auto: int8 on a CPU, fp16 on a GPU (the measured fastest)",
    )
    get.add_argument("--url", help="download the backbone from this address (a mirror)")
    get.add_argument("--checkpoint", metavar="FILE", help="build from this local weight file")
    get.add_argument("--output", "-o", metavar="OUT.onnx", help="default: the data folder")
    get.add_argument("--json", action="store_true", help="machine-readable progress")
    get.set_defaults(func=_get)

    fetch = sub.add_parser("fetch", help="download an official DINOv2 backbone file")
    fetch.add_argument("name", metavar="NAME", help="dinov2_vitb14, ..._reg4, or a model name")
    fetch.add_argument("--url", type=http_url, help="download from this address instead (a mirror)")
    fetch.add_argument(
        "--dest",
        metavar="DIR",
        type=output_folder,
        help="folder (default: the data folder's models)",
    )
    fetch.add_argument("--json", action="store_true", help="machine-readable progress")
    fetch.set_defaults(func=_fetch)

    from sciceapp.commands import model_files, tune

    model_files.register(sub)
    tune.register(sub)


def _export(args: argparse.Namespace) -> int:
    from sciceapp.engine.labels import model_text
    from sciceapp.export import export_onnx

    def job() -> int:
        report = export_onnx(
            args.output,
            preset=args.preset,
            config=args.config,
            checkpoint=args.checkpoint,
            backbone_weights=args.backbone_weights,
            random_init=args.random_init,
            seed=args.seed,
            precision=args.precision,
            progress=json_progress if args.json else step_lines,
            **({"opset": args.opset} if args.opset is not None else {}),
        )
        if args.json:
            emit("done", **report.to_json())
            return 0
        print(f"wrote {report.output} ({report.size_bytes / 1e6:.1f} MB, {report.precision})")
        print(f"  {model_text(report.label, report.random_init)}")
        print(
            f"  ONNX vs PyTorch: max abs diff {report.max_abs_diff:.2e}, "
            f"min cosine {report.min_cosine:.7f}"
        )
        if report.precision_cosine is not None:
            print(f"  {report.precision} vs fp32: min cosine {report.precision_cosine:.6f}")
        print(f"  SHA-256 {report.sha256}")
        return 0

    return run_reporting_errors(args.json, job)


def _get(args: argparse.Namespace) -> int:
    from sciceapp.engine.labels import model_text
    from sciceapp.export.get import get_model
    from sciceapp.paths import data_dir

    def job() -> int:
        report = get_model(
            args.name,
            data_dir=data_dir(args.data_dir),
            precision=args.precision,
            url=args.url,
            weights=args.checkpoint,
            output=args.output,
            progress=json_progress if args.json else StepsAndBytes(),
        )
        if args.json:
            emit("done", **report.to_json())
            return 0
        print(f"wrote {report.output} ({report.size_bytes / 1e6:.1f} MB, {report.precision})")
        print(f"  {model_text(report.label, False)}, from {report.weights.name}")
        if report.precision_cosine is not None:
            print(f"  {report.precision} vs fp32: min cosine {report.precision_cosine:.6f}")
        print(f"  SHA-256 {report.sha256}; ready for `sciceapp collection create NAME --model ...`")
        return 0

    return run_reporting_errors(args.json, job)


def _fetch_target(name: str):
    from sciceapp.engine.manifests import DINOV2_BACKBONES, backbone_file, find_manifest

    if name in DINOV2_BACKBONES:
        return backbone_file(name)
    manifest = find_manifest(name)
    if manifest is not None and manifest.backbone:
        return backbone_file(manifest.backbone)
    raise ModelError(
        f"Nothing to download for {name!r}. Choose a backbone ({', '.join(DINOV2_BACKBONES)}) "
        "or a model whose manifest names one (see `sciceapp model list`)."
    )


def _fetch(args: argparse.Namespace) -> int:
    from sciceapp.engine.download import download
    from sciceapp.export.weights import check_backbone_file, record_accepted
    from sciceapp.paths import data_dir, models_dir
    from sciceapp.progress import TqdmProgress

    def job() -> int:
        target = _fetch_target(args.name)
        folder = Path(args.dest) if args.dest else models_dir(data_dir(args.data_dir))
        dest = folder / target.filename
        # A mirror may serve another build of the file: check its hash only at the official URL.
        sha256 = target.sha256 if not args.url else None
        size = target.size_bytes if not args.url else None
        url = args.url or target.url

        def check(path: Path) -> None:  # the file must be this backbone, tensors only
            check_backbone_file(path, target.name)

        def fetch(progress) -> Path:
            path = download(url, dest, sha256, size, progress=progress, check=check)
            record_accepted(path, url=url, checked=f"names and shapes of {target.name}")
            return path

        if args.json:
            path = fetch(json_progress)
            emit("done", path=str(path), name=target.name)
            return 0
        with TqdmProgress(f"{target.name}", unit="B") as bar:
            path = fetch(bar)
        print(f"saved {path} (checked: the {target.name} backbone, tensors only)")
        return 0

    return run_reporting_errors(args.json, job)
