"""Models shared by the collections of one process.

The GUI opens a collection per job, and creating an ONNX Runtime session for the base model
takes seconds, so the last :data:`MAX_SESSIONS` opened models are kept, keyed by model file,
fingerprint, execution provider and batch size.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sciceapp.engine import model_kinds
from sciceapp.engine.pipeline import GlobalModel

MAX_SESSIONS = 2
_SESSIONS: dict[tuple, GlobalModel] = {}
_SESSIONS_LOCK = threading.Lock()


def shared_embedder(
    model_path: Path,
    model_sha256: str,
    provider: str,
    batch_size: int | None,
    tuning_dir: Path | None = None,
) -> GlobalModel:
    """The model for these settings: a kept one, or a new one (then kept). ``tuning_dir``: the
    data folder, where the CPU path chosen for the model is remembered (``tuning.py``)."""
    key = (str(model_path), model_sha256, provider, batch_size)
    with _SESSIONS_LOCK:
        embedder = _SESSIONS.pop(key, None)
        if embedder is None:
            embedder = model_kinds.open_model(
                model_path, provider, batch_size=batch_size, tuning_dir=tuning_dir
            )
        _SESSIONS[key] = embedder  # most recently used last
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.pop(next(iter(_SESSIONS)))
    return embedder
