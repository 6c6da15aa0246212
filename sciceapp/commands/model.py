"""`sciceapp model`: export, fetch, list, inspect and import models.

``export`` and ``fetch`` take ``--json``: one JSON object per line on stdout
(``{"event": "progress", "done", "total", "message"}``, then ``{"event": "done", ...}`` or
``{"event": "error", "message"}``), so the GUI can run them in a subprocess and show progress.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sciceapp.commands.arguments import http_url, output_file, output_folder
from sciceapp.errors import ModelError, SciceappError

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

    listing = sub.add_parser("list", help="known models and the ones on this machine")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    info = sub.add_parser("info", help="check an ONNX model file and show its metadata")
    info.add_argument("path", metavar="MODEL.onnx")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

    imp = sub.add_parser("import", help="check a model file and copy it into the data folder")
    imp.add_argument("path", metavar="MODEL.onnx")
    imp.set_defaults(func=_import)

    from sciceapp.commands import tune

    tune.register(sub)


def _emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _json_progress(done: int, total: int | None, message: str = "") -> None:
    _emit("progress", done=done, total=total, message=message)


def _step_lines(done: int, total: int | None, message: str = "") -> None:
    """``[3/5] checking ...`` while working (step numbers from 1), then the final message."""
    step = f"[{done + 1}/{total}] " if total is not None and done < total else ""
    print(f"{step}{message}", file=sys.stderr, flush=True)


def _run_reporting_errors(as_json: bool, job: Callable[[], int]) -> int:
    """Run ``job``; with ``--json`` an error is also written as an ``error`` event.

    SIGTERM (how the GUI stops a subprocess) cancels the job like Ctrl-C, so temporary files
    are removed and nothing half-written is left under the final name.
    """
    previous = _cancel_on_sigterm()
    try:
        return job()
    except SciceappError as exc:
        if as_json:
            _emit("error", message=str(exc), kind=type(exc).__name__)
        raise
    except KeyboardInterrupt:
        if as_json:
            _emit("error", message="Stopped on request.", kind="CancelledError")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _cancel_on_sigterm():
    if threading.current_thread() is not threading.main_thread():
        return None

    def cancel(signum: int, frame: object) -> None:
        # KeyboardInterrupt, not an Exception: library code that catches Exception (the torch
        # exporter wraps errors) must not swallow the stop.
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, cancel)


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
            progress=_json_progress if args.json else _step_lines,
            **({"opset": args.opset} if args.opset is not None else {}),
        )
        if args.json:
            _emit("done", **report.to_json())
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

    return _run_reporting_errors(args.json, job)


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
            progress=_json_progress if args.json else _StepsAndBytes(),
        )
        if args.json:
            _emit("done", **report.to_json())
            return 0
        print(f"wrote {report.output} ({report.size_bytes / 1e6:.1f} MB, {report.precision})")
        print(f"  {model_text(report.label, False)}, from {report.weights.name}")
        if report.precision_cosine is not None:
            print(f"  {report.precision} vs fp32: min cosine {report.precision_cosine:.6f}")
        print(f"  SHA-256 {report.sha256}; ready for `sciceapp collection create NAME --model ...`")
        return 0

    return _run_reporting_errors(args.json, job)


class _StepsAndBytes:
    """CLI progress of ``model get``: one line per step, a byte counter while downloading."""

    def __init__(self) -> None:
        self.message, self.bar = "", None

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        from sciceapp.progress import TqdmProgress

        if message.endswith("(bytes)"):
            if self.bar is None:
                self.bar = TqdmProgress("download", unit="B")
            self.bar(done, total)
            return
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        if message != self.message:
            print(message, file=sys.stderr, flush=True)
            self.message = message


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
            path = fetch(_json_progress)
            _emit("done", path=str(path), name=target.name)
            return 0
        with TqdmProgress(f"{target.name}", unit="B") as bar:
            path = fetch(bar)
        print(f"saved {path} (checked: the {target.name} backbone, tensors only)")
        return 0

    return _run_reporting_errors(args.json, job)


def _list(args: argparse.Namespace) -> int:
    from sciceapp.engine.labels import RANDOM_WEIGHTS_NOTE
    from sciceapp.engine.manifests import list_local_models, list_manifests
    from sciceapp.paths import data_dir, models_dir

    folder = models_dir(data_dir(args.data_dir))
    local = list_local_models(folder.parent)
    rows = []
    manifests = list_manifests()
    for manifest in manifests:
        built = [m for m in local if m.info is not None and m.info.variant == manifest.preset]
        backbone = f"{manifest.backbone}_pretrain.pth" if manifest.backbone else None
        rows.append(
            {
                "name": manifest.name,
                "label": manifest.label,
                "descriptor_dim": manifest.descriptor_dim,
                "description": manifest.description,
                "weights": manifest.weights,
                "backbone_downloaded": bool(backbone and (folder / backbone).is_file()),
                "built": [_local_json(m) for m in built],
            }
        )
    presets = {manifest.preset for manifest in manifests}
    others = [m for m in local if m.info is None or m.info.variant not in presets]
    if args.json:
        print(json.dumps({"manifests": rows, "other_local": [_local_json(m) for m in others]}))
        return 0
    print(f"Known models (built files in {folder}):")
    for row in rows:
        backbone = "  backbone downloaded" if row["backbone_downloaded"] else ""
        print(f"  {row['name']:<14} {row['label']} ({row['descriptor_dim']}-d){backbone}")
        if not row["built"]:
            print("      not built")
        for built in row["built"]:
            demo = f"  {RANDOM_WEIGHTS_NOTE}" if built["random_init"] else ""
            print(f"      built: {Path(built['path']).name} {built['precision']}{demo}")
    if others:
        print("Other model files:")
        for m in others:
            print(f"  {m.path.name}: {m.display_name}")
    return 0


def _local_json(local) -> dict:
    if local.info is None:
        return {"path": str(local.path), "error": local.error}
    info = local.info
    return {
        "path": str(local.path),
        "display_name": info.display_name,
        "variant": info.variant,
        "precision": info.precision,
        "random_init": bool(info.random_init),
        "sha256": info.sha256,
    }


def _info(args: argparse.Namespace) -> int:
    from sciceapp.export.inspect import check_model_file

    check = check_model_file(args.path)
    info = check.info
    fields = {
        "path": str(args.path),
        "display_name": info.display_name,
        "variant": info.variant,
        "label": info.label,
        "random_init": bool(info.random_init),
        "precision": info.precision,
        "descriptor_dim": int(info.descriptor_dim),
        "image_size": int(info.image_size),
        "sha256": info.sha256,
        "input_shape": [str(d) for d in check.input_shape],
        "output_shape": [str(d) for d in check.output_shape],
        "mean": list(info.mean),
        "std": list(info.std),
        "weights_sha256": info.weights_sha256,
        "exporter": info.exporter,
    }
    if args.json:
        print(json.dumps(fields, default=str))
        return 0
    for key, value in fields.items():
        print(f"{key:>16}: {value}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from sciceapp.commands import writing
    from sciceapp.engine.manifests import import_model
    from sciceapp.paths import data_dir, models_dir

    folder = data_dir(args.data_dir)
    with writing(models_dir(folder) / Path(args.path).name):
        local = import_model(args.path, folder)
    print(f"imported {local.display_name} as {local.path}")
    for name in local.external_files:
        print(f"  with its external weights {name}")
    return 0
