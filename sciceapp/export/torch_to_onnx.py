"""The PyTorch network as an ONNX graph: ``torch.onnx.export`` with a dynamic batch axis, and
the check that ONNX Runtime (on the CPU) gives what PyTorch gives, to fp32 rounding."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

from sciceapp.errors import ModelError
from sciceapp.export import parity

log = logging.getLogger(__name__)

TRACE_BATCH = 2  # torch.export treats a size-1 axis as fixed; trace with 2 so B stays dynamic


@contextlib.contextmanager
def mha_fastpath_disabled() -> Iterator[None]:
    """The fused TransformerEncoderLayer path of eval mode cannot be exported."""
    import torch

    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def torch_export(network: object, path: Path, image_size: int, opset: int) -> None:
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
    with mha_fastpath_disabled(), torch.no_grad(), contextlib.redirect_stdout(printed):
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


def verify_against_torch(network: object, path: Path, images) -> tuple[parity.Agreement, object]:
    """ONNX Runtime (CPU) vs PyTorch on ``images``; ``ModelError`` beyond fp32 rounding."""
    import torch

    with mha_fastpath_disabled(), torch.no_grad():
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
