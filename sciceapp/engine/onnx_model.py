"""The exported model as the app sees it: its metadata (contract 1) and an embedding session.

``read_model_info`` is cheap (reads the metadata without building a session) and refuses any
file whose interface the engine does not understand. ``Embedder`` runs the model with the best
execution provider this machine has (see ``providers.py``), falling back to the CPU when a GPU
session cannot start, and says which provider it uses and why the others were not.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from sciceapp.engine import calibration, providers, runtimes, tuning
from sciceapp.engine.download import sha256_file
from sciceapp.engine.images import model_input
from sciceapp.engine.labels import model_text
from sciceapp.engine.onnx_proto import NotOnnxError, read_metadata_props
from sciceapp.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
INPUT_NAME = "images"
OUTPUT_NAME = "descriptors"
REQUIRED_KEYS = (
    "format",
    "variant",
    "label",
    "config",
    "descriptor_dim",
    "image_size",
    "mean",
    "std",
    "random_init",
    "precision",
    "weights_sha256",
    "exporter",
)
PRECISIONS = ("fp32", "fp16", "int8")
NORMALISATION_RANGES = {"mean": (-1.0, 2.0), "std": (1e-3, 10.0)}
"""Pixels are scaled to [0, 1] before ``(x - mean) / std``: values outside these ranges (or
NaN, or infinite) give the network inputs it never saw, and descriptors that match nothing."""
MAX_DESCRIPTOR_DIM = 1 << 20
MAX_IMAGE_SIZE = 4096
SPIN_DEFAULT = False
"""Whether ONNX Runtime's CPU threads busy-wait between operators (ONNX Runtime's own
default is yes). Off: busy-waiting burned a third more CPU per image for the same wall time
in benchmarks/bench_indexing.py, CPU that the decoding threads need."""

_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str  # fingerprint: SHA-256 of the .onnx file
    variant: str
    label: str
    config: dict[str, Any]
    descriptor_dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    random_init: bool
    precision: str
    weights_sha256: dict[str, str] = field(default_factory=dict)
    exporter: str = ""
    kind: str = "onnx"  # the model kind (``model_kinds.py``): "onnx" or "classical"
    trained: bool = True  # False: a classical model whose vocabulary is not learned yet

    @property
    def display_name(self) -> str:
        return model_text(self.label, self.random_init)


def model_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a model file, remembered per (path, size, mtime) within this process."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    digest = sha256_file(path)
    with _sha_lock:
        _sha_cache[key] = digest
    return digest


def _refuse(path: Path, why: str) -> ModelError:
    return ModelError(
        f"{path} is not a usable sciceapp model: {why}. Export it again with "
        "`sciceapp model export` (or pick another .onnx file)."
    )


def _triple(path: Path, key: str, text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in json.loads(text))
    except (ValueError, TypeError) as exc:
        raise _refuse(path, f"metadata sciceapp.{key} is not a JSON list of numbers") from exc
    if len(values) != 3:
        raise _refuse(path, f"metadata sciceapp.{key} has {len(values)} values instead of 3")
    low, high = NORMALISATION_RANGES[key]
    if not all(low <= v <= high for v in values):  # also false for NaN
        raise _refuse(path, f"sciceapp.{key} must be 3 numbers from {low} to {high}, got {text}")
    return values  # type: ignore[return-value]


def info_from_props(path: Path, props: dict[str, str], sha256: str) -> ModelInfo:
    """Validate contract-1 metadata (``sciceapp.*`` keys) and build the ``ModelInfo``."""
    meta = {
        key[len("sciceapp.") :]: value
        for key, value in props.items()
        if key.startswith("sciceapp.")
    }
    if not meta:
        raise _refuse(path, "it has no sciceapp metadata (was it exported by sciceapp?)")
    if meta.get("format") != FORMAT_VERSION:
        raise _refuse(
            path,
            f"its metadata format is {meta.get('format')!r} and this version understands only "
            f"{FORMAT_VERSION!r} (update sciceapp, or re-export the model)",
        )
    missing = [f"sciceapp.{key}" for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise _refuse(path, f"metadata keys missing: {', '.join(missing)}")
    try:
        config = json.loads(meta["config"])
        weights = json.loads(meta["weights_sha256"])
        descriptor_dim = int(meta["descriptor_dim"])
        image_size = int(meta["image_size"])
    except ValueError as exc:
        raise _refuse(path, f"a metadata value does not parse ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(weights, dict):
        raise _refuse(path, "sciceapp.config and sciceapp.weights_sha256 must be JSON objects")
    std = _triple(path, "std", meta["std"])
    if not 0 < descriptor_dim <= MAX_DESCRIPTOR_DIM or not 0 < image_size <= MAX_IMAGE_SIZE:
        raise _refuse(
            path,
            f"descriptor_dim must be 1 to {MAX_DESCRIPTOR_DIM} and image_size 1 to "
            f"{MAX_IMAGE_SIZE}, got {descriptor_dim} and {image_size}",
        )
    if meta["random_init"] not in ("true", "false"):
        raise _refuse(path, "sciceapp.random_init must be 'true' or 'false'")
    if meta["precision"] not in PRECISIONS:
        raise _refuse(path, f"sciceapp.precision must be one of {', '.join(PRECISIONS)}")
    return ModelInfo(
        path=path,
        sha256=sha256,
        variant=meta["variant"],
        label=meta["label"],
        config=config,
        descriptor_dim=descriptor_dim,
        image_size=image_size,
        mean=_triple(path, "mean", meta["mean"]),
        std=std,
        random_init=meta["random_init"] == "true",
        precision=meta["precision"],
        weights_sha256={str(k): str(v) for k, v in weights.items()},
        exporter=meta["exporter"],
    )


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The metadata of an exported model, without building a session.

    Raises ``ModelError`` saying why for a missing, unreadable, non-ONNX, truncated or foreign
    file (one without sciceapp's contract-1 metadata, or of a newer format).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}. Check the path or export the model again.")
    try:
        props = read_metadata_props(path)
    except NotOnnxError as exc:
        raise _refuse(path, f"not an ONNX file or damaged ({exc})") from exc
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror or exc}") from exc
    return info_from_props(path, props, model_fingerprint(path))


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
