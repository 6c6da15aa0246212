"""`sciceapp train teacher|student`: the two SciceVPR training stages (`sciceapp eval`, which
measures what they made, is ``evaluate.py``).

torch, faiss and onnxruntime are imported inside the functions, so `sciceapp --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sciceapp.commands import write_json
from sciceapp.engine.labels import DEMO_NOTE
from sciceapp.errors import ModelError, SciceappError

log = logging.getLogger(__name__)

RANDOM_LABEL = f"random backbone weights: {DEMO_NOTE}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train teacher`` and ``train student``."""
    train = subparsers.add_parser("train", help="train SciceVPR: teacher (stage 1), then student")
    stages = train.add_subparsers(dest="train_stage", metavar="STAGE", required=True)

    teacher = stages.add_parser(
        "teacher", help="stage 1: train the cross-image teacher (Super-CricaVPR)"
    )
    shape = teacher.add_mutually_exclusive_group()
    shape.add_argument("--preset", default=None, help="network preset (default scicevpr-b)")
    shape.add_argument("--config", metavar="FILE.json", help="network configuration file")
    weights = teacher.add_mutually_exclusive_group(required=True)
    weights.add_argument(
        "--backbone-weights", metavar="DINOV2.pth", help="official DINOv2 backbone file"
    )
    weights.add_argument(
        "--random-init",
        action="store_true",
        help="random backbone weights (tests and demos only: the result is not accurate)",
    )
    _common_options(teacher, epochs=10)
    teacher.set_defaults(func=_train_teacher)

    student = stages.add_parser(
        "student", help="stage 2: distil the stable student (SciceVPR) from a trained teacher"
    )
    student.add_argument(
        "--teacher", metavar="TEACHER.pth", required=True, type=Path, help="stage-1 best.pth"
    )
    student.add_argument("--gamma", type=float, default=1.0, help="weight of the MS loss")
    student.add_argument("--eta", type=float, default=1.0, help="weight of the distillation loss")
    _common_options(student, epochs=1)
    student.set_defaults(func=_train_student)


def _common_options(parser: argparse.ArgumentParser, epochs: int) -> None:
    add = parser.add_argument
    add(
        "--dataset-root",
        type=Path,
        required=True,
        help="the GSV-Cities folder (Dataframes/, Images/)",
    )
    add("--cities", nargs="+", metavar="CITY", help="train on these cities only (default: all)")
    add(
        "--output-dir",
        type=Path,
        required=True,
        help="checkpoints, config.json and train.log go here",
    )
    add("--epochs", type=int, default=epochs, help=f"passes over all places (default {epochs})")
    add(
        "--lr",
        type=float,
        default=1e-4,
        help="Adam learning rate, halved every 3 epochs (default 1e-4)",
    )
    add(
        "--places-per-batch",
        type=int,
        default=72,
        help="places per batch, 4 photos each (default 72)",
    )
    add("--max-steps", type=int, help="stop after this many steps (quick runs)")
    add("--val-dataset-root", type=Path, help="root of a standard VPR dataset for validation")
    add("--val-dataset", metavar="NAME", help="dataset folder below it, e.g. pitts30k")
    add("--val-split", default="val", help="split to validate on (default val)")
    add("--val-batch-size", type=int, default=32, help="inference batch size (default 32)")
    add(
        "--patience",
        type=int,
        default=10,
        help="stop after this many epochs without a better Recall@5 (default 10)",
    )
    add(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: the GPU when there is one; mixed precision on CUDA only",
    )
    add("--num-workers", type=int, default=4, help="image decoding processes (default 4)")
    add(
        "--seed",
        type=int,
        default=0,
        help="seed of batch order, photo choice, augmentation, dropout and new weights: "
        "the same seed repeats a run on the same machine and libraries",
    )
    add(
        "--checkpoint-every",
        type=int,
        default=500,
        metavar="STEPS",
        help="also save last.pth every STEPS steps (default 500)",
    )
    add("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pth where it stopped")


def _options(args: argparse.Namespace, random_init: bool):
    from sciceapp.training.trainer import TrainOptions

    if (args.val_dataset_root is None) != (args.val_dataset is None):
        raise SciceappError("Give both --val-dataset-root and --val-dataset, or neither.")
    return TrainOptions(
        dataset_root=args.dataset_root,
        output_dir=args.output_dir,
        epochs=args.epochs,
        lr=args.lr,
        places_per_batch=args.places_per_batch,
        cities=args.cities,
        max_steps=args.max_steps,
        val_dataset_root=args.val_dataset_root,
        val_dataset=args.val_dataset,
        val_split=args.val_split,
        val_batch_size=args.val_batch_size,
        patience=args.patience,
        device=args.device,
        num_workers=args.num_workers,
        seed=args.seed,
        checkpoint_every_steps=args.checkpoint_every,
        resume=args.resume,
        random_init=random_init,
    )


def _read_places(args: argparse.Namespace):
    """Read the dataset before building a network, so that a wrong folder fails at once."""
    from sciceapp.training.gsv_cities import read_places

    return read_places(args.dataset_root, args.cities)


def _run(stage, options, image_size: int, label: str, places) -> int:
    from sciceapp.engine.evaluation import format_recalls
    from sciceapp.progress import TqdmProgress
    from sciceapp.training.trainer import fit

    with TqdmProgress(f"train {label}", unit="step") as bar:
        report = fit(stage, options, image_size, progress=bar, places=places)
    print(f"{label}: {report.steps} steps, {report.epochs_done} epoch(s) in this run")
    for recalls in report.recalls:
        print(f"  validation {format_recalls(recalls)}")
    if options.random_init:
        print(f"  ({RANDOM_LABEL})")
    print(f"best checkpoint: {report.best_path}")
    print(f"last checkpoint: {report.last_path}")
    return 0


def _train_teacher(args: argparse.Namespace) -> int:
    from sciceapp import model
    from sciceapp.training.stages import TeacherStage

    places = _read_places(args)
    try:
        config = model.get_config(args.config or args.preset or "scicevpr-b")
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    network = model.build(config, teacher=True, seed=args.seed)
    if args.backbone_weights is not None:
        model.load_checkpoint(network, args.backbone_weights)
    _write_config(args.output_dir, config)
    stage = TeacherStage(network)
    options = _options(args, args.random_init)
    return _run(stage, options, config.image_size, "teacher", places)


def _train_student(args: argparse.Namespace) -> int:

    from sciceapp import model
    from sciceapp.training.stages import StudentStage, copy_frozen_parts

    places = _read_places(args)
    teacher = model.build_from_checkpoint(args.teacher)
    if not getattr(teacher, "teacher", False):
        raise ModelError(f"{args.teacher} holds a student; --teacher needs a stage-1 checkpoint.")
    random_init = teacher.random_init
    student = model.build(teacher.config, teacher=False, seed=args.seed)
    copy_frozen_parts(student, teacher)
    _write_config(args.output_dir, teacher.config)
    stage = StudentStage(student, teacher, _weights(args))
    options = _options(args, random_init)
    return _run(stage, options, teacher.config.image_size, "student", places)


def _weights(args: argparse.Namespace):
    from sciceapp.training.losses import LossWeights

    return LossWeights(gamma=args.gamma, eta=args.eta)


def _write_config(output_dir: Path, config) -> None:
    """config.json beside the checkpoints: `sciceapp model export --config` takes it."""
    write_json(output_dir / "config.json", config.to_dict())
