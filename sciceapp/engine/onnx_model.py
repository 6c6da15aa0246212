"""The embedding session for an exported model.

``Embedder`` runs the model with the best execution provider this machine has (see
``providers.py``), falling back to the CPU when a GPU session cannot start, or on a CPU the
path calibration found fastest and faithful (``tuning.py``), and says which it uses and why
the others were not. The model's metadata is read and checked by ``model_info.py`` (its names
are re-exported here).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from sciceapp.engine import calibration, providers, runtimes, tuning
from sciceapp.engine.images import model_input
from sciceapp.engine.model_info import (
    INPUT_NAME,
    OUTPUT_NAME,
    PRECISIONS,
    ModelInfo,
    info_from_props,
    model_fingerprint,
    read_model_info,
)
from sciceapp.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "PRECISIONS",
    "Embedder",
    "ModelInfo",
    "available_providers",
    "info_from_props",
    "model_fingerprint",
    "provider_report",
    "read_model_info",
]

log = logging.getLogger(__name__)

SPIN_DEFAULT = False
"""Whether ONNX Runtime's CPU threads busy-wait between operators (ONNX Runtime's own
default is yes). Off: busy-waiting burned a third more CPU per image for the same wall time
in benchmarks/bench_indexing.py, CPU that the decoding threads need."""


class ModelInput:
    """How a decoded photo becomes this model's input, without a session: what the cluster's
    decode tasks use (``sciceapp/cluster/``), and what :class:`Embedder` does in its decode
    threads (so both make the same pixels)."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info

    @property
    def decode_side(self) -> int:
        return self.info.image_size

    def prepare_input(self, image: Image.Image, original_size: tuple[int, int]) -> np.ndarray:
        """A decoded upright photo -> the network's input float32 ``[3, S, S]`` (decode threads)."""
        info = self.info
        return model_input(image, info.image_size, info.mean, info.std)


class Embedder(ModelInput):
    """An ONNX Runtime session for one model: ``embed(float32 [B,3,S,S]) -> float32 [B,D]``."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        provider: str = "auto",
        batch_size: int | None = None,
        threads: int | None = None,
        spin: bool = SPIN_DEFAULT,
        tuning_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``tuning_dir`` (the data folder): on a machine without a usable GPU, run the model
        the way calibration found fastest and faithful here (``tuning.py``), calibrating on
        the first batch embedded when it has not been yet. Without it: ONNX Runtime as is."""
        self.info = read_model_info(model_path)
        self.spin, self.threads = spin, threads
        self.tuning_dir = Path(tuning_dir) if tuning_dir is not None else None
        self.tuning: tuning.Tuning | None = None
        self.tuning_note = ""
        self._fixed_batch_size = batch_size
        self._tune_lock = threading.Lock()
        self._tune_pending = False
        candidates, reasons = providers.plan(provider)
        self._reasons = reasons
        preload_note = None
        if any(p != providers.CPU for p in candidates):
            preload_note = providers.preload_gpu_libraries()
        self._session: ort.InferenceSession | None = None
        self.runtime = ""  # the tuned candidate in use, when one is
        if self.tuning_dir is not None and candidates == [providers.CPU] and tuning.enabled():
            self._run = self._start_tuned()
        if not self.runtime:
            self._session, self.provider = self._start(candidates, reasons, threads)
            self._run = runtimes.ort_runner(self._session)
            self._check_interface()
        self.batch_size = batch_size or (
            self.tuning.batch_size
            if self.tuning and self.runtime
            else providers.batch_size_for(self.provider, self.info.image_size)
        )
        self._preload_note = preload_note
        log.info("%s", self.provider_report)

    def _start_tuned(self) -> runtimes.Runner | None:
        """The recorded choice's runner, or None (and calibration pending) without one."""
        assert self.tuning_dir is not None
        record, why = tuning.load(self.tuning_dir, self.info.sha256)
        if record is None:
            self.tuning_note = f"{why}: calibrating on the first photos embedded"
            self._tune_pending = True
            return None
        candidate = next(
            (c for c in runtimes.candidates_for(self.info.precision) if c.name == record.active),
            None,
        )
        try:
            if candidate is None:
                raise RuntimeError(f"{record.active} is not a candidate for this model")
            runner = calibration.open_candidate(
                candidate, self.info, self.tuning_dir, threads=self.threads, spin=self.spin
            )
        except Exception as exc:  # a runtime that worked at calibration and fails now
            log.warning("tuned path %s failed to start", record.active, exc_info=True)
            self.tuning_note = f"{record.active} failed to start ({exc}); using ONNX Runtime"
            return None
        self.tuning, self.runtime, self.provider = record, record.active, providers.CPU
        return runner

    def _tune(self, images: np.ndarray) -> None:
        """Calibrate on ``images`` (the first batch: real photos) and switch to the choice."""
        assert self.tuning_dir is not None
        try:
            record, runners = calibration.calibrate(
                self.info,
                images,
                self.tuning_dir,
                reference=self._run,
                threads=self.threads,
                spin=self.spin,
            )
        except Exception as exc:  # calibration must never stop the job it serves
            log.warning("calibration failed; running ONNX Runtime as is", exc_info=True)
            self.tuning_note = f"calibration failed ({exc}); using ONNX Runtime as is"
            return
        self.tuning, self.runtime, self.tuning_note = record, record.active, ""
        self._run = runners[record.active]
        if self._fixed_batch_size is None:
            self.batch_size = record.batch_size
        if record.active != runtimes.candidates_for(self.info.precision)[0].name:
            self._session = None  # the reference session is no longer needed

    def _start(
        self, candidates: list[str], reasons: dict[str, str], threads: int | None
    ) -> tuple[ort.InferenceSession, str]:
        options = runtimes.cpu_session_options(threads, self.spin)
        attempts = [candidates] if candidates == [providers.CPU] else [candidates, [providers.CPU]]
        last_error: Exception | None = None
        for attempt in attempts:
            try:
                session = ort.InferenceSession(
                    str(self.info.path), sess_options=options, providers=self._with_options(attempt)
                )
            except Exception as exc:  # ORT raises its own pybind types for every failure
                last_error = exc
                for name in attempt:
                    if name != providers.CPU:
                        reasons[name] = (
                            f"failed to start ({str(exc).strip() or type(exc).__name__})"
                        )
                log.warning("session with %s failed: %s", attempt, exc)
                continue
            active = session.get_providers()
            for name in attempt:
                if name not in active:
                    reasons[name] = (
                        "compiled in, but ONNX Runtime could not start it on this machine"
                    )
            return session, active[0]
        raise ModelError(
            f"ONNX Runtime cannot load {self.info.path}: {last_error}. The file may be damaged; "
            "export it again."
        )

    def _with_options(self, names: list[str]) -> list[Any]:
        chosen: list[Any] = []
        for name in names:
            if name == providers.TENSORRT:
                cache = self.info.path.parent / "trt-cache"
                chosen.append(
                    (
                        name,
                        {
                            "trt_engine_cache_enable": True,
                            "trt_engine_cache_path": str(cache),
                            "trt_fp16_enable": self.info.precision == "fp16",
                        },
                    )
                )
            else:
                chosen.append(name)
        return chosen

    @property
    def provider_report(self) -> str:
        """Which provider (and, on the CPU, which tuned path) runs the model, and why."""
        using = self.runtime or self.provider
        lines = [f"Using {using} (batch size {self.batch_size})."]
        if self.tuning_note:
            lines.append(f"Tuning: {self.tuning_note}")
        lines += [f"{name}: {why}" for name, why in self._reasons.items() if name != self.provider]
        if self._preload_note:
            lines.append(self._preload_note)
        return "\n".join(lines)

    def _check_interface(self) -> None:
        """The graph must match its metadata; a mismatch means the file was altered."""
        assert self._session is not None
        size, dim = self.info.image_size, self.info.descriptor_dim
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        in_shape = inputs[0].shape if inputs else []
        out_shape = outputs[0].shape if outputs else []
        problems = []
        if (
            len(inputs) != 1
            or inputs[0].name != INPUT_NAME
            or list(in_shape[1:]) != [3, size, size]
        ):
            problems.append(f"input should be {INPUT_NAME} [B,3,{size},{size}], found {in_shape}")
        out_last = out_shape[-1] if out_shape else None
        if (
            len(outputs) != 1
            or outputs[0].name != OUTPUT_NAME
            or (isinstance(out_last, int) and out_last != dim)
        ):
            problems.append(f"output should be {OUTPUT_NAME} [B,{dim}], found {out_shape}")
        session_props = self._session.get_modelmeta().custom_metadata_map
        if session_props.get("sciceapp.descriptor_dim") != str(dim):
            problems.append("ONNX Runtime reads different metadata than the file header")
        if problems:
            raise ModelError(
                f"{self.info.path} does not match its own metadata ({'; '.join(problems)}); "
                "it was altered after export. Export it again."
            )

    def embed_inputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        """What :meth:`prepare_input` made for a batch -> float32 ``[B, D]``."""
        return self.embed(np.stack(inputs))

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Descriptors of a batch: float32 ``[B, 3, S, S]`` -> float32 ``[B, D]`` (L2-normalised)."""
        size = self.info.image_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise ValueError(f"expected [B, 3, {size}, {size}], got {list(images.shape)}")
        batch = np.ascontiguousarray(images, dtype=np.float32)
        if self._tune_pending:
            with self._tune_lock:
                if self._tune_pending:
                    self._tune_pending = False
                    self._tune(batch)
        descriptors = self._run(batch)
        if descriptors.shape != (len(batch), self.info.descriptor_dim):
            raise ModelError(
                f"{self.info.path} returned descriptors of shape {list(descriptors.shape)} instead "
                f"of [{len(batch)}, {self.info.descriptor_dim}]; export the model again."
            )
        return np.asarray(descriptors, dtype=np.float32)


def available_providers() -> list[str]:
    """Execution providers compiled into the installed ONNX Runtime."""
    return providers.available_providers()


def provider_report() -> str:
    """Which providers this machine can use and why the others cannot (for `sciceapp doctor`)."""
    return providers.provider_report()
