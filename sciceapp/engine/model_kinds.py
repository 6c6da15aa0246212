"""The model kinds a collection can be bound to, behind one interface.

- ``onnx``: an exported network (SciceVPR, DINOv2), a ``.onnx`` file (``onnx_model.py``);
- ``classical``: RootSIFT-VLAD, training-free (``classical_model.py``), named ``classical``
  before its collection learned a vocabulary and a ``vocabulary-*.npz`` file after.

Everything else (the library, locate, the CLI, the window) reads a model's ``ModelInfo`` and
opens it through this module, and uses what it opened through ``pipeline.GlobalModel``
(``prepare_input`` in the decode threads, ``embed_inputs`` per batch), so no caller needs
to know which kind it has.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sciceapp.engine import classical_model
from sciceapp.engine.classical_model import CLASSICAL, ClassicalModel, is_classical
from sciceapp.engine.onnx_model import Embedder, ModelInfo
from sciceapp.engine.onnx_model import model_fingerprint as file_fingerprint
from sciceapp.engine.onnx_model import read_model_info as read_onnx_info
from sciceapp.errors import ModelError

__all__ = [
    "CLASSICAL",
    "exists",
    "fingerprint",
    "is_builtin",
    "is_onnx",
    "open_model",
    "read_info",
]


def is_builtin(path: str | os.PathLike[str]) -> bool:
    """A model that is a name, not a file (the classical kind before it has a vocabulary)."""
    return str(path) == CLASSICAL


def is_onnx(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an exported network (opened as an ONNX Runtime session)."""
    return not is_builtin(path) and not is_classical(path)


def exists(path: str | os.PathLike[str]) -> bool:
    return is_builtin(path) or Path(path).is_file()


def fingerprint(path: str | os.PathLike[str]) -> str:
    """What binds a collection to its model: SHA-256 of the file (or of the classical spec)."""
    if is_builtin(path):
        return classical_model.SPEC.sha256
    return file_fingerprint(path)


def _vocabulary(path: str | os.PathLike[str]) -> tuple[ModelInfo, np.ndarray]:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ModelError(f"Vocabulary file not found: {resolved}.")
    return classical_model.read_vocabulary(resolved, fingerprint(resolved))


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """A model's metadata without opening it; ``ModelError`` for anything unusable."""
    if is_builtin(path):
        return classical_model.spec_info()
    if is_classical(path):
        return _vocabulary(path)[0]
    return read_onnx_info(path)


def open_model(
    path: str | os.PathLike[str],
    provider: str = "auto",
    batch_size: int | None = None,
    tuning_dir: str | os.PathLike[str] | None = None,
) -> Embedder | ClassicalModel:
    """The model ready to describe photos (an ONNX Runtime session, or the classical model).

    ``tuning_dir``: an ONNX model runs the CPU path measured fastest here (``tuning.py``)."""
    if is_builtin(path):
        return ClassicalModel(classical_model.spec_info(), None)
    if is_classical(path):
        return ClassicalModel(*_vocabulary(path))
    return Embedder(path, provider, batch_size=batch_size, tuning_dir=tuning_dir)
