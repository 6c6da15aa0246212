"""`sciceapp model tune MODEL`: measure the ways this CPU can run a model and pick one.

Calibrates on real photos (``--photos``, else those of the collections built with the
model), prints every candidate's images/s and cosine, and records the choice that the app
then uses for this model on this machine; ``--use NAME`` overrides it, ``--use auto`` goes
back to the measured one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sciceapp.errors import ModelError


def register(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser(
        "tune", help="measure the fastest faithful way to run a model on this CPU and use it"
    )
    tune.add_argument("model", metavar="MODEL", help="a .onnx file, or a model in the data folder")
    tune.add_argument(
        "--photos",
        nargs="+",
        metavar="PATH",
        help="photos or folders to calibrate on (default: the photos of the collections built "
        "with this model)",
    )
    tune.add_argument(
        "--use",
        metavar="NAME",
        help="run this candidate instead of the measured choice ('auto': the measured choice)",
    )
    tune.add_argument("--json", action="store_true", help="the record as JSON")
    tune.set_defaults(func=run)


def resolve_model(name: str, data: Path) -> Path:
    """``name`` as a path, else as a file (with or without .onnx) in the data folder's models."""
    from sciceapp.paths import models_dir

    for candidate in (Path(name), models_dir(data) / name, models_dir(data) / f"{name}.onnx"):
        if candidate.is_file():
            return candidate
    raise ModelError(f"No model {name!r}: give a .onnx file or a name from `sciceapp model list`.")


def run(args: argparse.Namespace) -> int:
    from sciceapp.engine import calibration, tuning
    from sciceapp.engine.onnx_model import Embedder
    from sciceapp.engine.pipeline import scan
    from sciceapp.paths import data_dir
    from sciceapp.progress import CancelToken, TqdmProgress

    data = data_dir(args.data_dir)
    info = Embedder(resolve_model(args.model, data), provider="cpu").info  # checks the file
    if args.use:
        try:
            record = tuning.set_override(
                data, info.sha256, None if args.use == "auto" else args.use
            )
        except ValueError as exc:
            raise ModelError(f"{exc} Run `sciceapp model tune {args.model}` first.") from exc
        return _print(record, args.json)
    photos = scan(args.photos) if args.photos else None
    try:
        with TqdmProgress("calibrating", unit="step") as progress:
            record = calibration.tune(info, data, photos, progress=progress, cancel=CancelToken())
    except ValueError as exc:
        raise ModelError(f"Cannot calibrate: {exc}; use --photos FOLDER.") from exc
    return _print(record, args.json)


def _print(record, as_json: bool) -> int:
    if as_json:
        print(json.dumps(record.to_json(), indent=2))
    else:
        print("\n".join(record.lines()))
    return 0
