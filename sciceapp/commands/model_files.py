"""`sciceapp model list|info|import`: the model files on this machine: which known models are
built or have their backbone downloaded, one file's checked metadata, and copying a model
file (with its external weights) into the data folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``model list|info|import``."""
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
