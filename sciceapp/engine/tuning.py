"""Which way of running a model is fastest and faithful on this machine: the cached choice.

``calibration.py`` measures every candidate of ``runtimes.py`` on real photos; the result is a
``Tuning`` record in the data folder (``tuning/<model sha256>.json``). A record holds only for
the model file it measured (its SHA-256), the machine (CPU name, features, CPU count, OS) and
the runtime versions (ONNX Runtime, OpenVINO): when any of them changes, :func:`load` says
why the record no longer holds, and the model is calibrated again at its next use. A user can
override the choice (``sciceapp model tune MODEL --use NAME``); the override lives in the same
record and goes with it.

Beside the record a model may have an int8 copy (``<sha256>-int8.onnx``) and OpenVINO's compiled
models (``openvino-cache/<sha256>/``, a few hundred MB for the base model). The compiled
models are deleted when the model is calibrated again or its override changes (they belong to
the path in use), and :func:`prune` deletes every file of a model that is neither in the data
folder's models nor used by a collection.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine import runtimes

log = logging.getLogger(__name__)

FORMAT = 1
FOLDER = "tuning"
COMPILED_FOLDER = "openvino-cache"
MIN_COSINE = 0.999
"""A candidate whose descriptors fall below this cosine to the reference's, on any
calibration photo, is refused however fast it is."""
OK, REFUSED, FAILED, UNAVAILABLE = "ok", "refused", "failed", "unavailable"
OFF_ENV = "SCICEAPP_NO_TUNING"
"""Set (to anything but empty) to run every model with ONNX Runtime as is: no calibration,
no recorded choice (the test suite sets it, except in the tests of tuning itself)."""


def enabled() -> bool:
    return not os.environ.get(OFF_ENV)


@dataclass
class Measured:
    """One candidate as calibration found it."""

    name: str
    status: str  # OK, REFUSED, FAILED or UNAVAILABLE
    reason: str = ""
    min_cosine: float | None = None
    images_per_s: dict[int, float] = field(default_factory=dict)  # batch size -> images/s

    @property
    def best_images_per_s(self) -> float:
        return max(self.images_per_s.values(), default=0.0)


@dataclass
class Tuning:
    """The measured candidates of one model file on one machine, and the one in use."""

    model_sha256: str
    machine: dict[str, Any]
    runtimes: dict[str, str | None]
    calibrated: str  # ISO time, UTC
    photos: int  # calibration photos compared
    chosen: str
    batch_size: int
    candidates: list[Measured]
    override: str | None = None

    @property
    def active(self) -> str:
        """The candidate to run: the user's override, else the measured choice."""
        return self.override or self.chosen

    def candidate(self, name: str) -> Measured | None:
        return next((m for m in self.candidates if m.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tuning:
        fields = {k: v for k, v in data.items() if k != "format"}
        measured = [
            Measured(
                **{**m, "images_per_s": {int(b): float(s) for b, s in m["images_per_s"].items()}}
            )
            for m in fields.pop("candidates")
        ]
        return cls(**fields, candidates=measured)

    def lines(self) -> list[str]:
        """Human text: the path in use and every candidate's images/s or why it was left out."""
        using = f"using {self.active}" + (" (your choice)" if self.override else "")
        lines = [
            f"{using}, batch size {self.batch_size}; calibrated {self.calibrated} on "
            f"{self.photos} photos (cosine floor {MIN_COSINE})"
        ]
        for m in self.candidates:
            if m.status == OK:
                speeds = ", ".join(f"batch {b}: {s:.1f}" for b, s in sorted(m.images_per_s.items()))
                text = f"{speeds} images/s; min cosine {m.min_cosine:.5f}"
            else:
                text = f"{m.status}: {m.reason}"
            lines.append(f"  {m.name}: {text}")
        return lines


def record_path(data_dir: Path, model_sha256: str) -> Path:
    return Path(data_dir) / FOLDER / f"{model_sha256}.json"


def int8_copy_path(data_dir: Path, model_sha256: str) -> Path:
    """Where the int8 copy of an fp32 model lives (named by the fp32 file's hash)."""
    return Path(data_dir) / FOLDER / f"{model_sha256}-int8.onnx"


def compiled_dir(data_dir: Path, model_sha256: str) -> Path:
    """Where OpenVINO keeps the compiled models of one model file."""
    return Path(data_dir) / FOLDER / COMPILED_FOLDER / model_sha256


def forget_compiled(data_dir: Path, model_sha256: str) -> None:
    """Delete the compiled models of one model file (the next start compiles again)."""
    shutil.rmtree(compiled_dir(data_dir, model_sha256), ignore_errors=True)


def prune(data_dir: Path, keep: set[str]) -> list[Path]:
    """Delete the records, int8 copies and compiled models of every model file whose SHA-256
    is not in ``keep``; what was deleted."""
    folder = Path(data_dir) / FOLDER
    gone = []
    for path in [*folder.glob("*.json"), *folder.glob("*-int8.onnx")]:
        if path.name.split(".")[0].removesuffix("-int8") not in keep:
            gone.append(path)
            path.unlink(missing_ok=True)
    compiled = folder / COMPILED_FOLDER
    for path in compiled.iterdir() if compiled.is_dir() else []:
        if path.name not in keep:  # also the files of the older, shared layout
            gone.append(path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    for path in gone:
        log.info("removed %s: its model is no longer in the data folder", path)
    return gone


def machine() -> dict[str, Any]:
    """What a measurement depends on besides the model and the runtimes."""
    cpu = runtimes.cpu_description()
    return {k: cpu[k] for k in ("name", "machine", "system", "cpus", "flags")}


def save(data_dir: Path, tuning: Tuning) -> None:
    path = record_path(data_dir, tuning.model_sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps(tuning.to_json(), indent=2).encode())


def load(data_dir: Path, model_sha256: str) -> tuple[Tuning | None, str]:
    """The record for this model file if it still holds here, else None; and why not."""
    path = record_path(data_dir, model_sha256)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None, f"the calibration record has format {data.get('format')!r}"
        tuning = Tuning.from_json(data)
    except FileNotFoundError:
        return None, "not calibrated on this machine yet"
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return None, f"the calibration record {path} is unreadable ({exc})"
    if tuning.model_sha256 != model_sha256:
        return None, "the calibration record is of another model file"
    if tuning.machine != machine():
        return None, "calibrated on another machine (the CPU or its features differ)"
    now = runtimes.runtime_versions()
    if not runtimes.same_versions(tuning.runtimes, now):
        changed = ", ".join(
            f"{name} {tuning.runtimes.get(name)} -> {now.get(name)}"
            for name in sorted(set(now) | set(tuning.runtimes))
            if tuning.runtimes.get(name) != now.get(name)
        )
        return None, f"a runtime changed since calibration ({changed})"
    return tuning, ""


def set_override(data_dir: Path, model_sha256: str, name: str | None) -> Tuning:
    """Run ``name`` instead of the measured choice (None: back to the measured choice).

    Only a candidate that ran and kept the cosine floor can be chosen; raises ``ValueError``
    saying why otherwise, or when there is no valid record to change.
    """
    tuning, why = load(data_dir, model_sha256)
    if tuning is None:
        raise ValueError(f"Nothing to override: {why}.")
    if name is not None:
        measured = tuning.candidate(name)
        if measured is None or measured.status != OK:
            usable = ", ".join(m.name for m in tuning.candidates if m.status == OK)
            detail = f" ({measured.status}: {measured.reason})" if measured else ""
            raise ValueError(f"{name} cannot be used{detail}; choose one of: {usable}.")
    tuning.override = name
    save(data_dir, tuning)
    forget_compiled(data_dir, model_sha256)  # compiled for the path used until now
    return tuning
