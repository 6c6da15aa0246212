"""Export the SciceVPR student to an ONNX file that the engine runs (contract 1).

Steps: build the network, load the weights it is given, export a static S x S graph with a
dynamic batch axis, check it against PyTorch with ONNX Runtime on the CPU, optionally convert
it to fp16 or int8 (checked against the fp32 export), write the metadata, and move the file
into place. The file under the final name appears only when every step succeeded. The steps
are in ``source`` (network and weights), ``torch_to_onnx`` (the graph and its parity check),
``precision`` (the conversions) and ``job`` (steps, work folder, full disk).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sciceapp.atomic import replace_atomic
from sciceapp.export import metadata as meta
from sciceapp.export import parity, torch_to_onnx
from sciceapp.export.job import Steps, disk_full_is_a_clear_error, work_folder
from sciceapp.export.precision import convert_checked
from sciceapp.export.report import ModelFileReport, file_fields
from sciceapp.export.source import build_source
from sciceapp.progress import CancelToken, ProgressFn

# Opset 23 spells each ViT block's attention as one ONNX ``Attention`` node and GELU as one
# ``Gelu`` node, which ONNX Runtime runs as fused kernels (flash / memory-efficient attention
# on CUDA). On an H100 at batch 64 that made fp16 1.46x and fp32 1.21x faster than opset 18's
# MatMul-Softmax-MatMul spelling, and the CPU 7-10% faster (benchmarks/RESULTS.md). It needs
# onnxruntime >= 1.23 for the CPU kernel and a newer one for the CUDA kernel (pyproject.toml).
OPSET = 23
DEFAULT_SEED = 0
"""Seed of random weights when none is given: a demo export is the same every time."""
VERIFY_IMAGES = 3


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
    with disk_full_is_a_clear_error(output.parent):
        started = time.perf_counter()
        weight_steps = max(1, sum(p is not None for p in (checkpoint, backbone_weights)))
        total = 4 + weight_steps + (precision != "fp32")
        steps = Steps(total=total, progress=progress, cancel=cancel)

        steps.next("building the network")
        source = build_source(
            preset, config, checkpoint, backbone_weights, random_init, seed, steps
        )
        with work_folder(output.parent) as work:
            fp32_path = work / "fp32.onnx"
            steps.next("exporting to ONNX")
            image_size = int(source.config["image_size"])
            torch_to_onnx.torch_export(source.network, fp32_path, image_size, opset)

            steps.next("checking the ONNX graph against PyTorch")
            images = parity.random_images(VERIFY_IMAGES, image_size, source.mean, source.std)
            agreement, fp32_out = torch_to_onnx.verify_against_torch(
                source.network, fp32_path, images
            )

            final_path, precision_cosine = fp32_path, None
            if precision != "fp32":
                steps.next(f"converting to {precision}")
                final_path = work / f"{precision}.onnx"
                precision_cosine = convert_checked(
                    precision, fp32_path, final_path, images, fp32_out
                )

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
