"""The training loop both stages share: batches, Adam + per-step StepLR, validation by
Recall@N, best checkpoint by Recall@5, resume after interruption, mixed precision on GPU.

Checkpoints (our format, through ``sciceapp.model.save_checkpoint``) in ``output_dir``:
``last.pth`` (network plus optimiser, scheduler, epoch and step: what ``--resume`` needs)
and ``best.pth`` (the network with the best validation Recall@5, ready for
``sciceapp model export --checkpoint``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from sciceapp.engine.evaluation import RECALL_VALUES, evaluate, format_recalls, read_split
from sciceapp.errors import CancelledError, DatasetError, SciceappError
from sciceapp.progress import CancelToken, ProgressFn
from sciceapp.training.describe import torch_describer
from sciceapp.training.device import autocast, grad_scaler, select_device
from sciceapp.training.gsv_cities import Place, PlaceDataset, read_places
from sciceapp.training.sampler import PlaceBatchSampler, flatten_batch
from sciceapp.training.stages import set_modes
from sciceapp.training.transforms import train_transform

log = logging.getLogger(__name__)

LAST = "last.pth"
BEST = "best.pth"
SELECTION_RECALL = 5


@dataclass
class TrainOptions:
    """Everything a training run needs besides the networks (defaults: the paper's recipe)."""

    dataset_root: Path
    output_dir: Path
    epochs: int = 10
    lr: float = 1e-4
    lr_halving_epochs: int = 3
    places_per_batch: int = 72
    images_per_place: int = 4
    cities: list[str] | None = None
    max_steps: int | None = None
    val_dataset_root: Path | None = None
    val_dataset: str | None = None
    val_split: str = "val"
    val_batch_size: int = 32
    recall_values: tuple[int, ...] = RECALL_VALUES
    patience: int = 10
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    checkpoint_every_steps: int = 500
    resume: bool = False
    random_init: bool = False  # the backbone has random weights: the result is a demo only

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class TrainReport:
    stage: str
    steps: int
    epochs_done: int
    losses: list[float] = field(default_factory=list)  # total loss per step, this run
    recalls: list[dict[int, float]] = field(default_factory=list)  # per validation
    best_recall5: float | None = None
    best_path: Path | None = None
    last_path: Path | None = None


def _save(path: Path, network: torch.nn.Module, **extra: object) -> None:
    """``save_checkpoint`` writes atomically: an interruption never leaves half a file."""
    from sciceapp.model import save_checkpoint

    save_checkpoint(path, network, **extra)


def _attach_log_file(output_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(output_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("sciceapp")
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def fit(
    stage: object,
    options: TrainOptions,
    image_size: int,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    places: list[Place] | None = None,
) -> TrainReport:
    """Train ``stage.network`` (a TeacherStage or StudentStage) as ``options`` say.

    ``places``: the GSV-Cities places when the caller has read them already.
    """
    if places is None:
        places = read_places(options.dataset_root, options.cities, options.images_per_place)
    out = Path(options.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    handler = _attach_log_file(out)
    try:
        return _fit(stage, options, image_size, places, out, progress, cancel)
    finally:
        logging.getLogger("sciceapp").removeHandler(handler)
        handler.close()


def step_seed(seed: int, global_step: int) -> int:
    """The torch seed of one training step: a function of the run's seed and the step."""
    return (seed * 1_000_003 + global_step) % 2**63


def _fit(stage, options, image_size, places, out, progress, cancel) -> TrainReport:  # noqa: C901
    from sciceapp.model import trainable_parameters

    device = select_device(options.device)
    network = stage.network.to(device)
    if hasattr(stage, "teacher"):
        stage.teacher.to(device)
    trainable = trainable_parameters(network, stage.name)
    log.info("stage %s: options %s", stage.name, options.to_json())
    log.info("trainable parameters: %d", sum(p.numel() for p in trainable))

    dataset = PlaceDataset(
        places, train_transform(image_size), options.images_per_place, options.seed
    )
    sampler = PlaceBatchSampler(len(places), options.places_per_batch, options.seed)
    steps_per_epoch = len(sampler)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=options.num_workers
    )
    val_split = None
    if options.val_dataset_root and options.val_dataset:
        val_split = read_split(options.val_dataset_root, options.val_dataset, options.val_split)
    else:
        log.warning("no validation set given: best.pth is the last epoch's network")

    optimizer = torch.optim.Adam(trainable, lr=options.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=options.lr_halving_epochs * steps_per_epoch, gamma=0.5
    )
    scaler = grad_scaler(device)
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_recall5": None, "stale": 0}
    report = TrainReport(stage=stage.name, steps=0, epochs_done=0)
    last_path, best_path = out / LAST, out / BEST
    if options.resume:
        state = _resume(last_path, network, optimizer, scheduler, stage.name, state)

    def save_last(epoch: int, step_in_epoch: int) -> None:
        _save(
            last_path,
            network,
            stage=stage.name,
            epoch=epoch,
            step_in_epoch=step_in_epoch,
            global_step=state["global_step"],
            best_recall5=state["best_recall5"],
            stale_epochs=state["stale"],
            optimizer_state_dict=optimizer.state_dict(),
            scheduler_state_dict=scheduler.state_dict(),
            options=options.to_json(),
            random_init=options.random_init,
        )
        report.last_path = last_path

    total_steps = options.epochs * steps_per_epoch
    if options.max_steps is not None:
        total_steps = min(total_steps, options.max_steps)
    running: dict[str, float] = {}
    for epoch in range(state["epoch"], options.epochs):
        if state["global_step"] >= total_steps:
            break
        start_batch = state["step_in_epoch"] if epoch == state["epoch"] else 0
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch, start_batch)
        set_modes(network, stage.frozen)
        step_in_epoch = start_batch
        try:
            for images, labels in loader:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                images, labels = flatten_batch(images, labels)
                images, labels = images.to(device), labels.to(device)
                # Dropout draws from the global generator: seed it per step, so a resumed run
                # repeats the steps the interrupted one would have taken.
                torch.manual_seed(step_seed(options.seed, state["global_step"]))
                with autocast(device):
                    losses = stage.losses(images, labels)
                values = {key: float(tensor.detach()) for key, tensor in losses.items()}
                if not math.isfinite(values["loss"]):
                    # stop before the weights are spoilt; last.pth keeps the last good state
                    raise SciceappError(
                        f"The loss became {values['loss']} at step {state['global_step'] + 1}; "
                        "lower --lr and resume with --resume."
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(losses["loss"]).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step_in_epoch += 1
                state["global_step"] += 1
                report.steps += 1
                report.losses.append(values["loss"])
                for key, value in values.items():
                    running[key] = 0.9 * running.get(key, value) + 0.1 * value
                message = " ".join(f"{k}={v:.4f}" for k, v in running.items())
                log.debug("step %d: %s", state["global_step"], message)
                if progress is not None:
                    progress(state["global_step"], total_steps, message)
                if state["global_step"] % options.checkpoint_every_steps == 0:
                    save_last(epoch, step_in_epoch)
                if state["global_step"] >= total_steps:
                    break
            log.info("epoch %d: %d steps, running %s", epoch, step_in_epoch, running)
            recalls = None
            if val_split is not None:
                describe = torch_describer(
                    network, image_size, options.val_batch_size, device, options.num_workers
                )
                result = evaluate(describe, val_split, options.recall_values, cancel=cancel)
                recalls = result.recalls
                report.recalls.append(recalls)
                log.info("epoch %d validation %s", epoch, format_recalls(recalls))
        except (CancelledError, KeyboardInterrupt):
            # a resumed run redoes only what is missing (at most this epoch's validation)
            save_last(epoch, step_in_epoch)
            log.warning("interrupted at step %d; resume with --resume", state["global_step"])
            raise
        finished_epoch = step_in_epoch >= steps_per_epoch
        score = recalls.get(SELECTION_RECALL, recalls[max(recalls)]) if recalls else None
        improved = score is None or state["best_recall5"] is None or score > state["best_recall5"]
        if improved:
            state["best_recall5"] = score
            state["stale"] = 0
            _save(
                best_path,
                network,
                stage=stage.name,
                epoch=epoch,
                recalls=recalls,
                random_init=options.random_init,
            )
            report.best_path = best_path
        else:
            state["stale"] += 1
        report.epochs_done += 1
        if finished_epoch:
            save_last(epoch + 1, 0)
        else:
            save_last(epoch, step_in_epoch)
        if state["stale"] >= options.patience:
            log.info("no Recall@5 gain for %d epochs: stopping", state["stale"])
            break
    report.best_recall5 = state["best_recall5"]
    if report.best_path is None and best_path.exists():
        report.best_path = best_path
    return report


def _resume(last_path, network, optimizer, scheduler, stage_name, state) -> dict:
    from sciceapp.model import load_checkpoint

    if not last_path.exists():
        log.warning("--resume: %s does not exist yet, starting from the beginning", last_path)
        return state
    checkpoint = torch.load(last_path, map_location="cpu", weights_only=True)
    if checkpoint.get("stage") != stage_name:
        raise DatasetError(
            f"{last_path} was written by the {checkpoint.get('stage')} stage, not {stage_name}; "
            "point --output-dir at this stage's folder."
        )
    load_checkpoint(network, last_path)
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    log.info(
        "resumed from %s: epoch %d, step %d",
        last_path,
        checkpoint["epoch"],
        checkpoint["global_step"],
    )
    return {
        "epoch": int(checkpoint["epoch"]),
        "step_in_epoch": int(checkpoint["step_in_epoch"]),
        "global_step": int(checkpoint["global_step"]),
        "best_recall5": checkpoint.get("best_recall5"),
        "stale": int(checkpoint.get("stale_epochs", 0)),
    }
