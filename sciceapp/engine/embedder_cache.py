"""ONNX Runtime sessions shared by the collections of one process.

The GUI opens a collection per job, and creating a session for the base model takes
seconds, so the last :data:`MAX_SESSIONS` sessions are kept, keyed by model file,
fingerprint, execution provider and batch size.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sciceapp.engine.onnx_model import Embedder

MAX_SESSIONS = 2
_SESSIONS: dict[tuple, Embedder] = {}
_SESSIONS_LOCK = threading.Lock()


def shared_embedder(
    model_path: Path, model_sha256: str, provider: str, batch_size: int | None
) -> Embedder:
    """The session for this model and settings: a kept one, or a new one (then kept)."""
    key = (str(model_path), model_sha256, provider, batch_size)
    with _SESSIONS_LOCK:
        embedder = _SESSIONS.pop(key, None)
        if embedder is None:
            embedder = Embedder(model_path, provider, batch_size=batch_size)
        _SESSIONS[key] = embedder  # most recently used last
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.pop(next(iter(_SESSIONS)))
    return embedder
