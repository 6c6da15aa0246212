"""A model session that starts while the first photos are read and decoded.

Creating an ONNX Runtime (or OpenVINO) session takes seconds for a large model: reading the
file, optimising the graph, compiling. None of that is needed to read, hash and decode the
photos: how a photo becomes the model's input depends only on the model's metadata
(``onnx_model.ModelInput``). So an indexing run opens the session in a thread and the
pipeline decodes meanwhile; the first batch waits for the session, not for both one after
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sciceapp.engine.onnx_model import ModelInfo, ModelInput
from sciceapp.engine.pipeline import GlobalModel


class StartingModel(ModelInput):
    """A ``pipeline.GlobalModel`` whose session ``start()`` is creating in a thread.

    ``prepare_input`` and ``decode_side`` work at once (they need only ``info``); until the
    session is ready ``batch_size`` is ``provisional``; ``embed_inputs`` waits for it, and a
    failure to start is raised there, or by :meth:`ready`."""

    def __init__(self, info: ModelInfo, start: Callable[[], GlobalModel], provisional: int) -> None:
        super().__init__(info)
        self._provisional = max(1, provisional)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-start")
        self._future = pool.submit(start)
        pool.shutdown(wait=False)  # the thread ends with start()

    @property
    def started(self) -> bool:
        """Whether the session is ready (or failed to start)."""
        return self._future.done()

    @property
    def batch_size(self) -> int:
        return self.ready().batch_size if self._future.done() else self._provisional

    def ready(self) -> GlobalModel:
        """The session, once started (waits); raises what starting it raised."""
        return self._future.result()

    def embed_inputs(self, inputs: list[Any]) -> np.ndarray:
        return self.ready().embed_inputs(inputs)


def ready(model: GlobalModel) -> GlobalModel:
    """The model itself: a :class:`StartingModel` once its session is ready, else ``model``."""
    return model.ready() if isinstance(model, StartingModel) else model
