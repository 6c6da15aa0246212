"""JPEG decoding on the worker's GPU with NVIDIA nvImageCodec (``nvidia-nvimgcodec-cu12``),
for ``cluster index --decode gpu``.

Why: on an H100 the model embeds 1700-3100 photos/s while the CPU decodes about 19 12-MP
JPEGs/s per core, so end-to-end indexing ran at 118 photos/s bound by decoding (issue 13).
nvImageCodec decodes batches of JPEGs with nvJPEG (and the hardware JPEG decoder where the GPU
has one) and applies the EXIF orientation; the decoded picture then goes through the same
resize and normalisation as on the CPU (``ModelInput.prepare_input``), so only the decoder
differs (its IDCT and chroma upsampling give pixels within a few levels of Pillow's, so
descriptors are close to but not bit-identical with a CPU run; docs/cluster.md).

Without nvImageCodec or a GPU, or for a photo it cannot decode (not a JPEG, damaged), the
photo is decoded on the CPU as ``collection add`` decodes it (same skip reasons); the reason
for the fallback is logged once per worker and counted in ``fallbacks``. A JPEG goes to the GPU
only when its header opens, its pixel count is within the desktop's decompression-bomb limit
(``engine.images.MAX_PIXELS``: the GPU would otherwise be asked for gigabytes) and it ends with
the end-of-image marker (nvJPEG may fill a truncated file's missing rows without an error, where
the desktop refuses it): the others take the CPU path, which gives the desktop's skip reason.

Not yet run on a GPU in this repository (no GPU machine was available when it was written):
``benchmarks/run_on_gpu.sh`` measures it.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np

from sciceapp.engine.images import MAX_PIXELS, load_upright
from sciceapp.engine.onnx_model import ModelInput
from sciceapp.errors import ImageError

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
TAIL_BYTES = 4096  # zero padding after the end marker beyond this: the CPU path decides


def gpu_can_take(data: bytes | None) -> bool:
    """Whether ``data`` is a whole JPEG of a size the desktop would decode (see above)."""
    from PIL import Image

    tail = data[-TAIL_BYTES:].rstrip(b"\x00") if data else b""  # not a copy of the whole file
    if not data or data[:3] != JPEG_MAGIC or not tail.endswith(JPEG_END):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - any header Pillow refuses: the CPU path says why
        return False
    return 0 < width * height <= MAX_PIXELS


def _open_decoder() -> tuple[Any, str | None]:
    """``(nvimgcodec.Decoder, None)``, or ``(None, why not)``."""
    try:
        from nvidia import nvimgcodec  # type: ignore[import-not-found]
    except ImportError:
        return None, "nvImageCodec is not installed (pip install nvidia-nvimgcodec-cu12)"
    from sciceapp.engine.providers import cuda_device_problem

    problem = cuda_device_problem()
    if problem:
        return None, problem
    try:
        return nvimgcodec.Decoder(), None
    except Exception as exc:  # noqa: BLE001 - any start-up failure: decode on the CPU
        return None, f"nvImageCodec could not start ({exc})"


class GpuDecoder:
    """Decodes a batch of files into the model's inputs, on the GPU where it can."""

    def __init__(self, model: ModelInput) -> None:
        self.model = model
        self.decoder, self.reason = _open_decoder()
        self.fallbacks = 0
        if self.reason:
            log.warning("GPU decoding is off, decoding on the CPU: %s", self.reason)

    def _cpu(self, data: bytes) -> np.ndarray:
        image, original = load_upright(data, self.model.decode_side)
        return self.model.prepare_input(image, original)

    def _gpu(self, datas: list[bytes]) -> list[np.ndarray | None]:
        from PIL import Image

        try:
            images = self.decoder.decode(datas)
        except Exception as exc:  # noqa: BLE001 - a failed batch falls back photo by photo
            log.info("GPU decoding of a batch failed: %s", exc)
            return [None] * len(datas)
        inputs: list[np.ndarray | None] = []
        for image in images:
            if image is None:
                inputs.append(None)
                continue
            pixels = np.asarray(image.cpu())  # [H, W, 3] uint8, upright (EXIF applied)
            picture = Image.fromarray(pixels, "RGB")
            inputs.append(self.model.prepare_input(picture, picture.size))
        return inputs

    def model_inputs(
        self, datas: list[bytes | None], reasons: list[str | None]
    ) -> tuple[list[np.ndarray | None], list[str | None]]:
        """Per file: the model's input float32 ``[3, S, S]`` (None when skipped), and the
        skip reasons (``reasons`` with decode failures added)."""
        reasons = list(reasons)
        inputs: list[np.ndarray | None] = [None] * len(datas)
        gpu = [
            i
            for i, data in enumerate(datas)
            if self.decoder is not None and reasons[i] is None and gpu_can_take(data)
        ]
        for i, made in zip(gpu, self._gpu([datas[i] for i in gpu]) if gpu else [], strict=True):
            inputs[i] = made
        for i, data in enumerate(datas):
            if reasons[i] is not None or inputs[i] is not None:
                continue
            self.fallbacks += self.decoder is not None
            try:
                inputs[i] = self._cpu(data)
            except ImageError as exc:
                reasons[i] = str(exc)
        return inputs, reasons
