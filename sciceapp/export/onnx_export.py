"""Export the SciceVPR student to an ONNX file that the engine runs (contract 1).

Steps: build the network, load the weights it is given, export a static S x S graph with a
dynamic batch axis, check it against PyTorch with ONNX Runtime on the CPU, optionally convert
it to fp16 or int8 (checked against the fp32 export), write the metadata, and move the file
into place. The file under the final name appears only when every step succeeded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sciceapp.atomic import is_disk_full, replace_atomic
from sciceapp.errors import ModelError, WeightsMissingError
from sciceapp.export import metadata as meta
from sciceapp.export import parity
from sciceapp.export.precision import CONVERTERS, MIN_COSINE
from sciceapp.export.report import ModelFileReport, file_fields
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

# Opset 23 spells each ViT block's attention as one ONNX ``Attention`` node and GELU as one
# ``Gelu`` node, which ONNX Runtime runs as fused kernels (flash / memory-efficient attention
# on CUDA). On an H100 at batch 64 that made fp16 1.46x and fp32 1.21x faster than opset 18's
# MatMul-Softmax-MatMul spelling, and the CPU 7-10% faster (benchmarks/RESULTS.md). It needs
# onnxruntime >= 1.23 for the CPU kernel and a newer one for the CUDA kernel (pyproject.toml).
OPSET = 23
DEFAULT_SEED = 0
"""Seed of random weights when none is given: a demo export is the same every time."""
TRACE_BATCH = 2  # torch.export treats a size-1 axis as fixed; trace with 2 so B stays dynamic
VERIFY_IMAGES = 3
CUSTOM_LABEL = "custom SciceVPR"
TRAINING_FREE_LABEL = "training-free baseline"
TRAINING_FREE_ARCHITECTURE = "dinov2-gem"
WORK_DIR_PREFIX = ".sciceapp-export-"


@dataclass
class ExportReport(ModelFileReport):
    """What an export produced and how well it agrees with PyTorch (and with fp32)."""

    random_init: bool
    image_size: int
    weights_sha256: dict[str, str]
    max_abs_diff: float
    min_cosine: float
    precision_cosine: float | None = None
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    """The network to export and where its weights came from."""

    network: object
    variant: str
    label: str
    config: dict
    random_init: bool
    weights_sha256: dict[str, str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def export_onnx(
    output: str | os.PathLike[str],
    *,
    preset: str | None = None,
    config: str | os.PathLike[str] | dict | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    backbone_weights: str | os.PathLike[str] | None = None,
    random_init: bool = False,
    seed: int = DEFAULT_SEED,
    precision: str = "fp32",
    opset: int = OPSET,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportReport:
    """Build, load, export, verify and (optionally) convert one student network.

    Give at most one of ``preset`` (a name in ``sciceapp.model.PRESETS``) and ``config`` (a
    dict or a JSON file); with neither, ``checkpoint`` must be one of ours, which records its
    network. Without ``checkpoint``/``backbone_weights`` the export is refused
    unless ``random_init`` says a random-weight (demo) model is wanted. ``opset`` is the ONNX
    opset of the graph (default ``OPSET``, see there). Raises ``ModelError``
    when the ONNX graph disagrees with PyTorch (max abs diff > 1e-4 or cosine < 0.99999) or a
    converted model falls below its cosine floor; nothing is left under ``output`` then.
    """
    if preset is not None and config is not None:
        raise ValueError("give at most one of preset and config")
    if precision not in meta.PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(meta.PRECISIONS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with _disk_full_is_a_clear_error(output.parent):
        started = time.perf_counter()
        weight_steps = max(1, sum(p is not None for p in (checkpoint, backbone_weights)))
        total = 4 + weight_steps + (precision != "fp32")
        steps = _Steps(total=total, progress=progress, cancel=cancel)

        steps.next("building the network")
        source = _build(preset, config, checkpoint, backbone_weights, random_init, seed, steps)
        _remove_stale_work_dirs(output.parent)
        work_prefix = f"{WORK_DIR_PREFIX}{os.getpid()}-"
        with tempfile.TemporaryDirectory(prefix=work_prefix, dir=output.parent) as work:
            fp32_path = Path(work) / "fp32.onnx"
            steps.next("exporting to ONNX")
            image_size = int(source.config["image_size"])
            _torch_export(source.network, fp32_path, image_size, opset)

            steps.next("checking the ONNX graph against PyTorch")
            images = parity.random_images(VERIFY_IMAGES, image_size, source.mean, source.std)
            agreement, fp32_out = _verify_against_torch(source.network, fp32_path, images)

            final_path, precision_cosine = fp32_path, None
            if precision != "fp32":
                steps.next(f"converting to {precision}")
                final_path = Path(work) / f"{precision}.onnx"
                precision_cosine = _convert(precision, fp32_path, final_path, images, fp32_out)

            steps.next("writing the model file")
            descriptor_dim = int(fp32_out.shape[1])
            metadata = meta.build_metadata(
                variant=source.variant,
                label=source.label,
                config=source.config,
                descriptor_dim=descriptor_dim,
                image_size=image_size,
                mean=source.mean,
                std=source.std,
                random_init=source.random_init,
                precision=precision,
                weights_sha256=source.weights_sha256,
                seed=seed,
            )
            meta.write_metadata(final_path, metadata)
            replace_atomic(final_path, output)

        report = ExportReport(
            **file_fields(output),
            variant=source.variant,
            label=source.label,
            precision=precision,
            random_init=source.random_init,
            descriptor_dim=descriptor_dim,
            image_size=image_size,
            weights_sha256=source.weights_sha256,
            max_abs_diff=agreement.max_abs_diff,
            min_cosine=agreement.min_cosine,
            precision_cosine=precision_cosine,
            seconds=time.perf_counter() - started,
            metadata=metadata,
        )
        steps.done(f"wrote {output.name}")
        return report


def _convert(precision: str, fp32_path: Path, target: Path, images, fp32_out) -> float:
    """Write the ``precision`` variant; its min cosine to fp32 on ``images``, checked."""
    CONVERTERS[precision](fp32_path, target)
    cosine = parity.compare(fp32_out, parity.run_onnx(target, images)).min_cosine
    if cosine < MIN_COSINE[precision]:
        raise ModelError(
            f"The {precision} model's descriptors agree with fp32 only to cosine {cosine:.5f} "
            f"(< {MIN_COSINE[precision]}); export with --precision fp32 instead."
        )
    return cosine


def _remove_stale_work_dirs(folder: Path) -> None:
    """Delete work folders of exports whose process was killed (SIGKILL skips cleanup)."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    for work in folder.glob(f"{WORK_DIR_PREFIX}*-*"):
        pid_text = work.name.removeprefix(WORK_DIR_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        log.info("removing %s, left by an export that was killed", work)
        shutil.rmtree(work, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def _disk_full_is_a_clear_error(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise ModelError(
                f"The disk holding {folder} is full; nothing was written. Free some space (an "
                "fp32 SciceVPR-B file needs about 400 MB) and export again."
            ) from exc
        raise


class _Steps:
    """Progress as numbered steps, with a cancellation check before each one."""

    def __init__(self, total: int, progress: ProgressFn | None, cancel: CancelToken | None):
        self.total, self.progress, self.cancel, self.count = total, progress, cancel, 0

    def next(self, message: str) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        log.info("export step %d/%d: %s", self.count + 1, self.total, message)
        if self.progress is not None:
            self.progress(self.count, self.total, message)
        self.count += 1

    def done(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, message)


def _build(
    preset: str | None,
    config: str | os.PathLike[str] | dict | None,
    checkpoint: str | os.PathLike[str] | None,
    backbone_weights: str | os.PathLike[str] | None,
    random_init: bool,
    seed: int | None,
    steps: _Steps,
) -> _Source:
    from sciceapp import model
    from sciceapp.engine.manifests import find_manifest

    checkpoint_read = None  # the checkpoint as read for its configuration: not read twice
    try:
        if preset is None and config is None:
            cfg, checkpoint_read = _config_from_checkpoint(model, checkpoint)
        else:
            cfg = model.get_config(preset if preset is not None else _config_arg(config))
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
    # A configuration file that equals a preset is that preset (same label and variant).
    preset = preset if preset is not None else model.preset_name(cfg)
    manifest = find_manifest(preset) if preset is not None else None
    # The training-free baseline has no trained parts: the backbone file is all it needs.
    training_free = cfg.architecture == TRAINING_FREE_ARCHITECTURE
    weights = [Path(p) for p in (backbone_weights, checkpoint) if p is not None]
    # Only a full checkpoint (or the backbone, for a training-free network) gives real weights.
    has_real_weights = checkpoint is not None or (training_free and backbone_weights is not None)
    if not has_real_weights and not random_init:
        raise WeightsMissingError(_missing_weights_message(preset or "custom", training_free))
    for path in weights:
        if not path.is_file():
            raise WeightsMissingError(f"Weight file {path} does not exist; check the path.")

    network = model.build(cfg, teacher=False, seed=seed)
    hashes: dict[str, str] = {}
    # A checkpoint trained on a random-weight backbone (`sciceapp train --random-init`) holds
    # trained parts, but is no more accurate than its backbone: still a demo model.
    trained_on_random = False
    for path in weights:
        steps.next(f"loading {path.name}")
        read = checkpoint_read if path == Path(checkpoint or "") else None
        report = model.load_checkpoint(network, path, read=read)
        hashes[path.name] = report.sha256
        trained_on_random |= bool(report.extra.get("random_init"))
    if not weights:
        steps.next("random weights (demo, not accurate)")
    network.eval()
    if manifest is not None:
        label = manifest.label
    else:
        label = TRAINING_FREE_LABEL if training_free else CUSTOM_LABEL
    return _Source(
        network=network,
        variant=preset if preset is not None else "custom",
        label=label,
        config=cfg.to_dict(),
        random_init=not has_real_weights or trained_on_random,
        weights_sha256=hashes,
        mean=tuple(manifest.mean) if manifest else parity.IMAGENET_MEAN,
        std=tuple(manifest.std) if manifest else parity.IMAGENET_STD,
    )


def _config_from_checkpoint(
    model: object, checkpoint: str | os.PathLike[str] | None
) -> tuple[object, object]:
    """Neither a preset nor a config file: only our own checkpoints say what network they hold.
    Returns the configuration and the checkpoint as read."""
    if checkpoint is None:
        raise ModelError("Say which network to export: --preset NAME or --config FILE.json.")
    if not Path(checkpoint).is_file():
        raise WeightsMissingError(f"Weight file {checkpoint} does not exist; check the path.")
    cfg, read = model.checkpoint_config(checkpoint)
    if cfg is None:
        raise ModelError(
            f"{Path(checkpoint).name} does not record its network (the authors' and DINOv2 "
            "files don't): add --preset NAME or --config FILE.json."
        )
    return cfg, read


def _config_arg(config: str | os.PathLike[str] | dict) -> str | dict:
    return config if isinstance(config, dict) else str(config)


def _missing_weights_message(name: str, training_free: bool) -> str:
    if training_free:
        return (
            f"{name} needs the official DINOv2 backbone: fetch it with `sciceapp model fetch` "
            "and add --backbone-weights FILE.pth (or add --random-init for a demo model that "
            "is not accurate)."
        )
    return (
        f"No trained weights for {name}: add --checkpoint CKPT (a SciceVPR checkpoint from "
        "`sciceapp train` or the authors' release), or --random-init for a demo model that "
        "is not accurate."
    )


@contextlib.contextmanager
def _mha_fastpath_disabled() -> Iterator[None]:
    """The fused TransformerEncoderLayer path of eval mode cannot be exported."""
    import torch

    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def _torch_export(network: object, path: Path, image_size: int, opset: int) -> None:
    """Export ``[B, 3, S, S] -> [B, D]`` with B dynamic, position embeddings baked in."""
    import torch

    prepare = getattr(network, "prepare_for_export", None)
    if prepare is not None:
        prepare()
    example = torch.zeros(TRACE_BATCH, 3, image_size, image_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    # Some exporter versions print to stdout (onnxscript 0.5's rewriter: "Applied N of general
    # pattern rewrite rules."), which is the CLI's --json stream: their output goes to the log.
    printed = io.StringIO()
    with _mha_fastpath_disabled(), torch.no_grad(), contextlib.redirect_stdout(printed):
        torch.onnx.export(
            network,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["descriptors"],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    if printed.getvalue().strip():
        log.debug("torch.onnx.export printed: %s", printed.getvalue().strip())


def _verify_against_torch(network: object, path: Path, images) -> tuple[parity.Agreement, object]:
    """ONNX Runtime (CPU) vs PyTorch on ``images``; ``ModelError`` beyond fp32 rounding."""
    import torch

    with _mha_fastpath_disabled(), torch.no_grad():
        expected = network(torch.from_numpy(images)).numpy()
    # Batches of 2 and 1: the batch axis must really be dynamic.
    actual = parity.run_onnx(path, images, batch_size=2)
    agreement = parity.compare(expected, actual)
    log.info(
        "ONNX vs PyTorch: max abs diff %.2e, min cosine %.7f",
        agreement.max_abs_diff,
        agreement.min_cosine,
    )
    if (
        agreement.max_abs_diff > parity.FP32_MAX_ABS_DIFF
        or agreement.min_cosine < parity.FP32_MIN_COSINE
    ):
        raise ModelError(
            f"The exported graph disagrees with PyTorch (max abs diff {agreement.max_abs_diff:.2e}"
            f", min cosine {agreement.min_cosine:.7f}); the file was not written. This is a bug "
            "in the export: please report it with the command you ran."
        )
    return agreement, actual
